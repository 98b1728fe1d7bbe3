// The brief's codec API (blob.ts, blobmsg.ts, message.ts) against every capture:
// streaming reassembly, request builders reproducing each c2s frame byte for byte,
// and a deterministic fuzz of FrameReader/decodeMessage/decodeTableBody.
import { describe, expect, it } from 'vitest';
import { BlobWriter, pad4, parseAttrs } from '../../src/ubus/blob.ts';
import { decodeTableBody, decodeTableEntries, formatJson } from '../../src/ubus/blobmsg.ts';
import {
  buildAddObject, buildDataReply, buildEventRegister, buildEventSend, buildInvoke, buildLookup, buildNotify,
  buildRemoveObject, buildStatusReply, buildSubscribe, buildUnsubscribe, decodeMessage, FrameReader, MsgType,
  statusName, strerror, type UbusMessage,
} from '../../src/ubus/message.ts';
import { captureFiles, loadCaptureFile, type Chunk } from './support-shared.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { capturesDir } from './support-shared.ts';

function rebuild(m: UbusMessage): Buffer | undefined {
  const a = m.attrs;
  switch (m.type) {
    case MsgType.LOOKUP:
      return buildLookup(m.seq, a.objpath);
    case MsgType.INVOKE:
      return buildInvoke(m.seq, a.objid!, a.method!, a.data, a.noReply);
    case MsgType.NOTIFY:
      return buildNotify(m.seq, a.objid!, a.method!, a.data, a.noReply);
    case MsgType.STATUS:
      return buildStatusReply(m.seq, m.peer, a.objid!, a.status!);
    case MsgType.DATA:
      return buildDataReply(m.seq, m.peer, a.objid!, a.data!);
    case MsgType.ADD_OBJECT:
      if (a.objpath === undefined) return buildAddObject(m.seq, { anonymous: true });
      if (a.objtype !== undefined) return buildAddObject(m.seq, { path: a.objpath, objtype: a.objtype });
      return buildAddObject(m.seq, { path: a.objpath, signature: a.signature ?? {} });
    case MsgType.REMOVE_OBJECT:
      return buildRemoveObject(m.seq, a.objid!);
    case MsgType.SUBSCRIBE:
      return buildSubscribe(m.seq, a.objid!, a.target!);
    case MsgType.UNSUBSCRIBE:
      return buildUnsubscribe(m.seq, a.objid!, a.target!);
    default:
      return undefined;
  }
}

const files = captureFiles();

describe('every capture through FrameReader and the builders', () => {
  it('finds captures', () => expect(files.length).toBeGreaterThan(20));
  for (const f of files) {
    it(f, () => {
      const chunks = JSON.parse(readFileSync(join(capturesDir(), f), 'utf8')) as Chunk[];
      const cap = loadCaptureFile(f);
      const readers = { c2s: new FrameReader(), s2c: new FrameReader() };
      const got: { dir: 'c2s' | 's2c'; msg: UbusMessage; bytes: Buffer }[] = [];
      for (const ch of chunks) {
        for (const ev of readers[ch.direction].push(Buffer.from(ch.hex, 'hex'))) {
          if (ev.kind === 'error') throw new Error(`${ch.direction}: ${ev.err.error} ${ev.err.detail}`);
          got.push({ dir: ch.direction, msg: ev.msg, bytes: ev.bytes });
        }
      }
      expect(readers.c2s.pending).toBe(0);
      expect(readers.s2c.pending).toBe(0);
      expect(got.length).toBe(cap.frames.length);
      for (const g of got.filter((x) => x.dir === 'c2s')) {
        if (g.msg.type === MsgType.HELLO) continue;
        const again = rebuild(g.msg);
        expect(again, `type ${g.msg.type}`).toBeDefined();
        expect(again!.toString('hex'), `type ${g.msg.type} seq ${g.msg.seq}`).toBe(g.bytes.toString('hex'));
      }
    });
  }
});

function c2s(file: string): UbusMessage[] {
  const r = new FrameReader();
  return r.push(loadCaptureFile(file).streams.c2s).flatMap((e) => (e.kind === 'message' ? [e.msg] : []));
}

describe('event builders', () => {
  it('register matches ubus listen', () => {
    const inv = c2s('e_listen.json').find((m) => m.type === MsgType.INVOKE && m.attrs.method === 'register')!;
    const t = decodeTableBody(inv.attrs.data!);
    const bytes = buildEventRegister(inv.seq, t['object'] as number, t['pattern'] as string);
    const want = loadCaptureFile('e_listen.json').frames.find((x) => x.dir === 'c2s' && x.bytes[1] === MsgType.INVOKE)!;
    expect(bytes.toString('hex')).toBe(want.bytes.toString('hex'));
  });
  it('send matches ubus send', () => {
    const inv = c2s('e_send.json').find((m) => m.type === MsgType.INVOKE && m.attrs.method === 'send')!;
    const t = decodeTableBody(inv.attrs.data!);
    expect(t).toEqual({ id: 'foo', data: { a: 1 } });
    const want = loadCaptureFile('e_send.json').frames.find((x) => x.dir === 'c2s' && x.bytes[1] === MsgType.INVOKE)!;
    expect(buildEventSend(inv.seq, 'foo', { a: 1 }).toString('hex')).toBe(want.bytes.toString('hex'));
  });
});

describe('status texts', () => {
  it('names and CLI texts', () => {
    expect(statusName(3)).toBe('METHOD_NOT_FOUND');
    expect(strerror(3)).toBe('Method not found');
    expect(strerror(4)).toBe('Not found');
    expect(strerror(7)).toBe('Request timed out');
    expect(strerror(8)).toBe('Operation not supported');
  });
});

describe('blob primitives', () => {
  it('container length includes every child padding', () => {
    const w = new BlobWriter().open(2).put(1, Buffer.from([1])).put(3, Buffer.from([1, 2, 3, 4, 5])).close();
    const b = w.finish();
    expect(b.readUInt32BE(0) & 0xffffff).toBe(4 + 8 + 12);
    expect(b.length).toBe(24);
    const outer = parseAttrs(b);
    expect(outer.error).toBeUndefined();
    const inner = parseAttrs(outer.attrs[0]!.payload);
    expect(inner.attrs.map((a) => [a.id, a.payload.length])).toEqual([[1, 1], [3, 5]]);
    expect(pad4(5)).toBe(8);
  });
  it('walk rule stops on bad lengths without throwing', () => {
    expect(parseAttrs(Buffer.from('00000003', 'hex')).error?.reason).toBe('bad-length');
    expect(parseAttrs(Buffer.from('0000000900', 'hex')).error?.reason).toBe('bad-length');
    expect(parseAttrs(Buffer.from('0100000400', 'hex'))).toEqual({ attrs: [expect.objectContaining({ id: 1 })], error: { offset: 4, reason: 'trailing' } });
  });
});

describe('FrameReader framing', () => {
  it('outer length < 4 or > 1 MiB is fatal', () => {
    const r = new FrameReader();
    const bad = Buffer.from('000400000000000000000003', 'hex');
    expect(r.push(bad)).toEqual([{ kind: 'error', err: { error: 'bad-length', detail: 'outer length 3' } }]);
    expect(r.failed).toBeDefined();
    const r2 = new FrameReader();
    expect(r2.push(Buffer.from('000400000000000000100004', 'hex'))[0]?.kind).toBe('error');
  });
  it('byte-at-a-time reassembly', () => {
    const s = loadCaptureFile('c_call_status.json').streams.s2c;
    const r = new FrameReader();
    let n = 0;
    for (let i = 0; i < s.length; i++) n += r.push(s.subarray(i, i + 1)).length;
    expect(n).toBe(new FrameReader().push(s).length);
  });
});

// xorshift32: deterministic
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

describe('fuzz: FrameReader / decodeMessage / decodeTableBody', () => {
  it('12,000 random and mutated frames: no exception, typed results', () => {
    const next = rng(0x5eed1234);
    const seeds = files.flatMap((f) => loadCaptureFile(f).frames.map((x) => x.bytes));
    let messages = 0;
    let errors = 0;
    for (let i = 0; i < 12000; i++) {
      let b: Buffer;
      const mode = next() % 6;
      if (mode === 0) {
        b = Buffer.alloc(next() % 200);
        for (let j = 0; j < b.length; j++) b[j] = next() & 0xff;
      } else {
        b = Buffer.from(seeds[next() % seeds.length]!);
        if (mode === 1) for (let k = 0; k <= next() % 8; k++) { const p = next() % b.length; b[p]! ^= 1 << (next() % 8); }
        if (mode === 2) b = b.subarray(0, next() % (b.length + 1));
        if (mode === 3 && b.length >= 12) b.writeUInt32BE(next() % 2 ? next() : next() % (b.length + 8), 8);
        if (mode === 4 && b.length >= 16) b.writeUInt32BE(next(), 12 + 4 * (next() % Math.max(1, (b.length - 12) >> 2)) - (b.length % 4 === 0 ? 0 : 4));
        if (mode === 5 && b.length >= 12) b.writeUInt32BE(0xffffff, 8);
      }
      const d = decodeMessage(b);
      if (d.ok) {
        messages++;
        if (d.msg.attrs.data) {
          const t = decodeTableBody(d.msg.attrs.data);
          expect(typeof t).toBe('object');
          formatJson(t, { indent: next() % 2 === 0 });
          decodeTableEntries(d.msg.attrs.data);
        }
      } else {
        errors++;
        expect(['short', 'bad-length', 'bad-version', 'exception']).toContain(d.err.error);
        expect(d.err.error).not.toBe('exception');
      }
      const r = new FrameReader();
      for (let off = 0; off < b.length; ) {
        const n = 1 + (next() % 64);
        for (const ev of r.push(b.subarray(off, off + n))) expect(['message', 'error']).toContain(ev.kind);
        off += n;
      }
    }
    expect(messages + errors).toBe(12000);
    expect(messages).toBeGreaterThan(1000);
  });
});
