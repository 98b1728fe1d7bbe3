// Every capture file (found by listing the folder): both byte streams split
// into messages that wire.ts decodes without leftovers, every DATA and
// SIGNATURE blobmsg body decodes completely (and formats), and every message
// the C client sent re-encodes from its decoded fields to the same bytes.
import { describe, expect, it } from 'vitest';
import { decodeMessage, decodeTableEntries, encodeMessage } from '../../src/ubus/wire.ts';
import { formatJsonBytes } from '../../src/ubus/json.ts';
import { captureFiles, loadCaptureFile } from './support-shared.ts';
import { walkAttrs, type RawAttr } from '../support/broker.ts';

const pad4 = (n: number): number => (n + 3) & ~3;

/** Children of a blob container by the libubox rule (the broker's walker), plus whether they cover it exactly. */
function children(body: Buffer): RawAttr[] & { exact: boolean } {
  const kids = walkAttrs(body);
  const used = kids.reduce((n, k) => n + pad4(4 + k.payload.length), 0);
  return Object.assign(kids, { exact: used === body.length });
}

/** Checks a blobmsg table/array body recursively: every entry well-formed, nothing left over. Returns the entry count. */
function checkBlobmsg(body: Buffer, where: string): number {
  const kids = children(body);
  expect(kids.exact, `${where}: trailing bytes`).toBe(true);
  let n = 0;
  for (const k of kids) {
    expect(k.ext, `${where}: non-extended entry`).toBe(true);
    const nl = k.payload.readUInt16BE(0);
    const hl = pad4(2 + nl + 1);
    expect(k.payload[2 + nl], `${where}: name not NUL-terminated`).toBe(0);
    const v = k.payload.subarray(hl);
    if (k.id === 1 || k.id === 2) checkBlobmsg(v, `${where}.${k.payload.subarray(2, 2 + nl).toString()}`);
    n++;
  }
  return n;
}

const files = captureFiles();

/**
 * libubus appends NO_REPLY *after* DATA in a client's NOTIFY (OBJID, METHOD,
 * DATA, NO_REPLY), unlike ubusd's forwarded INVOKE, where it comes first.
 */
function noReplyOrderMismatches(): string[] {
  const out: string[] = [];
  for (const file of files) {
    for (const [i, f] of loadCaptureFile(file).frames.entries()) {
      if (f.dir !== 'c2s' || f.bytes[1] !== 10) continue;
      const again = encodeMessage(decodeMessage(f.bytes));
      if (!again.equals(f.bytes)) out.push(`${file} #${i}`);
    }
  }
  return out;
}

describe('capture replay', () => {
  it('finds the captures', () => {
    expect(files.length).toBeGreaterThanOrEqual(30);
  });

  it.each(files)('%s', (file) => {
    const cap = loadCaptureFile(file);
    expect(cap.leftover.c2s.length, 'c2s leftover').toBe(0);
    expect(cap.leftover.s2c.length, 's2c leftover').toBe(0);
    expect(Buffer.concat(cap.frames.filter((f) => f.dir === 'c2s').map((f) => f.bytes))).toEqual(cap.streams.c2s);
    expect(Buffer.concat(cap.frames.filter((f) => f.dir === 's2c').map((f) => f.bytes))).toEqual(cap.streams.s2c);
    expect(cap.frames.length).toBeGreaterThan(0);
    for (const [i, f] of cap.frames.entries()) {
      const where = `${file} #${i} ${f.dir}`;
      const m = decodeMessage(f.bytes);
      expect(m.type, where).toBe(f.bytes[1]);
      const outer = children(f.bytes.subarray(12));
      expect(outer.exact, `${where}: outer blob not fully parsed`).toBe(true);
      for (const a of outer) {
        if (a.id === 7) {
          const n = checkBlobmsg(a.payload, `${where} DATA`);
          expect(decodeTableEntries(a.payload).length, `${where}: entries dropped by decodeTableEntries`).toBe(n);
          expect(m.attrs.data, where).toEqual(a.payload);
          formatJsonBytes(a.payload, { indent: 0 });
        }
        if (a.id === 6) {
          const n = checkBlobmsg(a.payload, `${where} SIGNATURE`);
          expect(Object.keys(m.attrs.signature ?? {}).length, `${where}: signature methods`).toBe(n);
          for (const e of decodeTableEntries(a.payload)) expect(e.type, `${where}: method ${e.name}`).toBe(2);
        }
      }
      if (f.dir !== 'c2s') continue;
      const again = encodeMessage(m);
      expect(again.toString('hex'), `${where}: re-encoded`).toBe(f.bytes.toString('hex'));
    }
  });

  it('a client NOTIFY with NO_REPLY re-encodes in libubus order (wire.ts issue)', () => {
    expect(noReplyOrderMismatches()).toEqual([]);
  });
});
