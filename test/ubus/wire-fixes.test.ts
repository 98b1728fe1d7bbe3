// wire.ts / connection.ts behaviour pinned by reported issues: NO_REPLY
// placement, nesting limit (decoders and the connection), "__proto__" keys,
// key order with Map tables, DOUBLE length, request({ allowStatus }).
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  blobmsgWithinDepth,
  decodeMessage,
  decodeTableBody,
  decodeTableEntries,
  encodeMessage,
  encodeTableBody,
  int32,
  MAX_BLOBMSG_DEPTH,
  MsgType,
  type WireMessage,
} from '../../src/ubus/wire.ts';
import { UbusConnection } from '../../src/ubus/connection.ts';
import { Status, UbusError } from '../../src/ubus/errors.ts';
import { blobmsg, nested } from '../support/fuzz.ts';

const pad4 = (n: number): number => (n + 3) & ~3;



function depthOf(v: unknown): number {
  let d = 0;
  while (typeof v === 'object' && v !== null) {
    d++;
    v = Array.isArray(v) ? v[0] : (v as Record<string, unknown>)['k'];
  }
  return d;
}

/** Outer attribute ids of an encoded message, in order. */
function attrIds(frame: Buffer): number[] {
  const ids: number[] = [];
  let off = 12;
  while (off + 4 <= frame.length) {
    const w = frame.readUInt32BE(off);
    ids.push((w >>> 24) & 0x7f);
    off += pad4(w & 0xffffff);
  }
  return ids;
}

describe('encodeMessage attribute order', () => {
  it('NO_REPLY goes last in a client NOTIFY and first in a forwarded INVOKE', () => {
    const data = encodeTableBody({ a: 1 });
    const notify = encodeMessage({ type: MsgType.NOTIFY, seq: 1, peer: 5, attrs: { objid: 5, method: 'up', data, noReply: true } });
    expect(attrIds(notify)).toEqual([3, 4, 7, 10]);
    const invoke = encodeMessage({ type: MsgType.INVOKE, seq: 1, peer: 5, attrs: { objid: 5, method: 'up', user: 'root', group: 'root', data, noReply: true } });
    expect(attrIds(invoke)).toEqual([10, 3, 4, 12, 13, 7]);
    expect(decodeMessage(notify).attrs).toEqual({ objid: 5, method: 'up', data, noReply: true });
  });
});

describe('nesting limit', () => {
  it(`decodes ${MAX_BLOBMSG_DEPTH} levels, drops what is deeper, never throws`, () => {
    const ok = decodeTableBody(nested(MAX_BLOBMSG_DEPTH));
    expect(depthOf(ok)).toBe(1 + MAX_BLOBMSG_DEPTH); // the body's own table + every level, all kept
    expect(blobmsgWithinDepth(nested(MAX_BLOBMSG_DEPTH))).toBe(true);
    expect(blobmsgWithinDepth(nested(MAX_BLOBMSG_DEPTH, true))).toBe(true);
    expect(blobmsgWithinDepth(nested(MAX_BLOBMSG_DEPTH + 1))).toBe(false);
    expect(blobmsgWithinDepth(nested(MAX_BLOBMSG_DEPTH + 1, true))).toBe(false);
    const deep = nested(10_000, true);
    expect(blobmsgWithinDepth(deep)).toBe(false);
    const entries = decodeTableEntries(deep);
    expect(depthOf(entries[0]?.value)).toBeLessThanOrEqual(MAX_BLOBMSG_DEPTH);
    expect(() => decodeMessage(Buffer.concat([Buffer.from('000500010000000000000000', 'hex'), (() => {
      const h = Buffer.alloc(4);
      h.writeUInt32BE(0x06000000 | (4 + deep.length));
      return Buffer.concat([h, deep]);
    })()]))).not.toThrow();
  });

  it('a signature only decodes method → scalar arg types', () => {
    const sig = Buffer.concat([blobmsg(2, 'm', Buffer.concat([blobmsg(5, 'a', Buffer.from([0, 0, 0, 3])), nested(10_000)])), blobmsg(5, 'x', Buffer.alloc(4))]);
    const frame = encodeMessage({ type: MsgType.DATA, seq: 1, peer: 0, attrs: {} });
    const h = Buffer.alloc(4);
    h.writeUInt32BE(0x06000000 | (4 + sig.length));
    const body = Buffer.concat([h, sig]);
    frame.writeUInt32BE(4 + body.length, 8);
    expect(decodeMessage(Buffer.concat([frame, body])).attrs.signature).toEqual({ m: { a: 3 } });
  });
});

describe('__proto__ keys', () => {
  it('stay own data properties and never replace the prototype', () => {
    const inner = blobmsg(2, '__proto__', blobmsg(7, 'polluted', Buffer.from([1])));
    const body = Buffer.concat([blobmsg(3, 'a', Buffer.from('x\0')), inner, blobmsg(2, 't', inner)]);
    const t = decodeTableBody(body);
    expect(Object.getPrototypeOf(t)).toBe(Object.prototype);
    expect(Object.keys(t)).toEqual(['a', '__proto__', 't']);
    expect(Object.getOwnPropertyDescriptor(t, '__proto__')?.value).toEqual({ polluted: true });
    expect((t as Record<string, unknown>)['polluted']).toBeUndefined();
    const nestedT = t['t'] as Record<string, unknown>;
    expect(Object.getPrototypeOf(nestedT)).toBe(Object.prototype);
    expect(Object.hasOwn(nestedT, '__proto__')).toBe(true);
    expect(nestedT['polluted']).toBeUndefined();
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(JSON.stringify(t)).toBe('{"a":"x","__proto__":{"polluted":true},"t":{"__proto__":{"polluted":true}}}');
  });

  it('in a signature too', () => {
    const sig = blobmsg(2, '__proto__', blobmsg(5, '__proto__', Buffer.from([0, 0, 0, 3])));
    const h = Buffer.alloc(4);
    h.writeUInt32BE(0x06000000 | (4 + sig.length));
    const hdr = Buffer.alloc(12);
    hdr[1] = MsgType.DATA;
    hdr.writeUInt32BE(8 + sig.length, 8);
    const s = decodeMessage(Buffer.concat([hdr, h, sig])).attrs.signature!;
    expect(Object.getPrototypeOf(s)).toBe(Object.prototype);
    expect(Object.hasOwn(s, '__proto__')).toBe(true);
    expect(Object.hasOwn(s['__proto__']!, '__proto__')).toBe(true);
  });
});

describe('key order', () => {
  it('a Map table keeps insertion order, integer-like keys included', () => {
    const m = new Map<string, unknown>([['b', 1], ['10', 2], ['a', new Map([['2', true], ['1', false]])]]);
    const names = (b: Buffer): string[] => decodeTableEntries(b).map((e) => e.name);
    const body = encodeTableBody(m as Map<string, never>);
    expect(names(body)).toEqual(['b', '10', 'a']);
    expect(names(encodeTableBody({ x: new Map([['2', int32(1)], ['1', int32(2)]]) }).subarray(8))).toEqual(['2', '1']);
    // a plain object cannot: JS enumerates integer-like keys first
    expect(names(encodeTableBody({ b: 1, 10: 2 }))).toEqual(['10', 'b']);
  });
});

describe('DOUBLE', () => {
  it('accepts ≥ 8 bytes and reads the first 8 (libubox)', () => {
    const v = Buffer.alloc(12);
    v.writeDoubleBE(2.5);
    expect(decodeTableBody(blobmsg(8, 'd', v))).toEqual({ d: 2.5 });
    expect(decodeTableBody(blobmsg(8, 'd', Buffer.alloc(7)))).toEqual({});
  });
});

// ---- connection against a scripted fake ubusd -----------------------------------------

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

/** A socket that sends HELLO and answers each request with `respond`. */
async function fakeUbusd(respond: (req: WireMessage, send: (m: WireMessage | Buffer) => void) => void): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), 'ubus-wire-'));
  const sockPath = path.join(dir, 'ubus.sock');
  const socks: net.Socket[] = [];
  const srv = net.createServer((s) => {
    socks.push(s);
    const send = (m: WireMessage | Buffer): void => void s.write(Buffer.isBuffer(m) ? m : encodeMessage(m));
    send({ type: MsgType.HELLO, seq: 0, peer: 0x1234, attrs: {} });
    let buf = Buffer.alloc(0);
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 12) {
        const len = 8 + (buf.readUInt32BE(8) & 0xffffff);
        if (buf.length < len) break;
        respond(decodeMessage(buf.subarray(0, len)), send);
        buf = buf.subarray(len);
      }
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => srv.listen(sockPath, r));
  cleanup.push(() => {
    for (const s of socks) s.destroy();
    srv.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return sockPath;
}

const dataMsg = (req: WireMessage, data: Buffer): WireMessage => ({ type: MsgType.DATA, seq: req.seq, peer: req.peer, attrs: { objid: req.peer, data } });
const statusMsg = (req: WireMessage, status: number): WireMessage => ({ type: MsgType.STATUS, seq: req.seq, peer: req.peer, attrs: { status, objid: req.peer } });

describe('UbusConnection', () => {
  it('allowStatus keeps the DATA that came before a failing STATUS; without it the request rejects', async () => {
    const sock = await fakeUbusd((req, send) => {
      send(dataMsg(req, encodeTableBody({ partial: 1 })));
      send(statusMsg(req, Status.NOT_SUPPORTED));
    });
    const conn = await UbusConnection.open(sock);
    cleanup.push(() => conn.close());
    const seen: WireMessage[] = [];
    const r = await conn.request(MsgType.INVOKE, 7, { objid: 7, method: 'm', data: Buffer.alloc(0) }, { allowStatus: true, onData: (m) => seen.push(m) });
    expect(r.status).toBe(Status.NOT_SUPPORTED);
    expect(seen).toEqual(r.data);
    expect(r.data.map((d) => decodeTableBody(d.attrs.data!))).toEqual([{ partial: 1 }]);
    await expect(conn.request(MsgType.INVOKE, 7, { objid: 7, method: 'm', data: Buffer.alloc(0) })).rejects.toMatchObject({ status: Status.NOT_SUPPORTED });
  });

  it('a reply nested too deep fails that request with PARSE_ERROR; the connection keeps working', async () => {
    const sock = await fakeUbusd((req, send) => {
      if (req.attrs.method === 'deep') send(dataMsg(req, nested(5000)));
      else send(dataMsg(req, nested(MAX_BLOBMSG_DEPTH)));
      send(statusMsg(req, Status.OK));
    });
    const conn = await UbusConnection.open(sock);
    cleanup.push(() => conn.close());
    const deep = conn.request(MsgType.INVOKE, 7, { objid: 7, method: 'deep', data: Buffer.alloc(0) });
    await expect(deep).rejects.toBeInstanceOf(UbusError);
    await expect(deep).rejects.toMatchObject({ status: Status.PARSE_ERROR });
    const ok = await conn.request(MsgType.INVOKE, 7, { objid: 7, method: 'fine', data: Buffer.alloc(0) });
    expect(ok.data).toHaveLength(1);
    expect(conn.isOpen).toBe(true);
  });

  it('an INVOKE nested too deep is refused with INVALID_ARGUMENT, not delivered', async () => {
    let got: WireMessage | undefined;
    let sendToClient: ((m: WireMessage) => void) | undefined;
    const sock = await fakeUbusd((req, send) => {
      if (req.type === MsgType.STATUS) got = req;
      else if (req.type === MsgType.PING) {
        sendToClient = send;
        send({ type: MsgType.STATUS, seq: req.seq, peer: 0, attrs: { status: 0 } });
      }
    });
    const conn = await UbusConnection.open(sock);
    cleanup.push(() => conn.close());
    const delivered: WireMessage[] = [];
    conn.on('message', (m) => delivered.push(m));
    await conn.request(MsgType.PING, 0, {});
    sendToClient!({ type: MsgType.INVOKE, seq: 9, peer: 0x4242, attrs: { objid: 77, method: 'x', data: nested(3000, true) } });
    const end = Date.now() + 2000;
    while (!got && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    expect(got?.attrs).toEqual({ status: Status.INVALID_ARGUMENT, objid: 77 });
    expect(got?.seq).toBe(9);
    expect(got?.peer).toBe(0x4242);
    expect(delivered).toEqual([]);
  });
});
