// Decoder fuzzing with a fixed seed: ≥ 10,000 random and mutated frames (bit
// flips, truncation, corrupted and huge length fields, deep nesting, splices
// of real capture frames) through wire.ts decodeMessage, decodeTableEntries,
// decodeTableBody and json.ts formatJson. The only exceptions allowed are the
// documented ones: RangeError('short message') from decodeMessage for a frame
// under 12 bytes, and JsonFormatError from formatJson for nesting > 1000.
import { describe, expect, it } from 'vitest';
import { decodeMessage, decodeTableBody, decodeTableEntries } from '../../src/ubus/wire.ts';
import { formatJsonBytes, JsonFormatError } from '../../src/ubus/json.ts';
import { captureFiles, loadCaptureFile } from './support-shared.ts';
import { rng, blobmsg, nested } from '../support/fuzz.ts';

const SEED = 0x5eed_0b05;
const FRAMES = 12_000;


const pad4 = (n: number): number => (n + 3) & ~3;

function hdr(type: number, ext: boolean, len: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(((ext ? 0x80000000 : 0) | ((type & 0x7f) << 24) | (len & 0xffffff)) >>> 0);
  return b;
}



function message(type: number, body: Buffer): Buffer {
  const h = Buffer.alloc(12);
  h[1] = type;
  h.writeUInt16BE(1, 2);
  h.writeUInt32BE(4 + body.length, 8);
  return Buffer.concat([h, body]);
}

/** Offsets of every blob header reachable by walking (outer attrs and nested containers). */
function headerOffsets(frame: Buffer): number[] {
  const out: number[] = [8];
  const walk = (start: number, end: number, depth: number): void => {
    let off = start;
    while (end - off >= 4 && depth < 64) {
      const w = frame.readUInt32BE(off);
      const len = w & 0xffffff;
      if (len < 4 || pad4(len) > end - off) return;
      out.push(off);
      const ext = w >>> 31 === 1;
      const id = (w >>> 24) & 0x7f;
      if (!ext && (id === 6 || id === 7 || id === 11)) walk(off + 4, off + len, depth + 1);
      if (ext && (id === 1 || id === 2) && len >= 6) {
        const nl = frame.readUInt16BE(off + 4);
        walk(off + 4 + pad4(2 + nl + 1), off + len, depth + 1);
      }
      off += pad4(len);
    }
  };
  if (frame.length >= 12) walk(12, Math.min(frame.length, 8 + (frame.readUInt32BE(8) & 0xffffff)), 0);
  return out;
}

class Unexpected extends Error {}

/** Runs every decoder on one frame; throws Unexpected for any undocumented exception. */
function exercise(frame: Buffer): void {
  let m;
  try {
    m = decodeMessage(frame);
  } catch (e) {
    if (e instanceof RangeError && e.message === 'short message' && frame.length < 12) return;
    throw new Unexpected(`decodeMessage threw ${String(e)} on ${frame.toString('hex').slice(0, 200)}`);
  }
  const bodies = [m.attrs.data, frame.subarray(12)].filter((b): b is Buffer => b !== undefined);
  for (const body of bodies) {
    try {
      decodeTableEntries(body);
      decodeTableBody(body);
    } catch (e) {
      throw new Unexpected(`table decoder threw ${String(e)} on ${body.toString('hex').slice(0, 200)}`);
    }
    for (const indent of [undefined, 0]) {
      try {
        formatJsonBytes(body, { indent });
      } catch (e) {
        if (e instanceof JsonFormatError) continue;
        throw new Unexpected(`formatJson threw ${String(e)} on ${body.toString('hex').slice(0, 200)}`);
      }
    }
  }
}

const seeds = captureFiles().flatMap((f) => loadCaptureFile(f).frames.map((x) => x.bytes));

function mutate(r: () => number): Buffer {
  const int = (n: number): number => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const kind = int(10);
  if (kind === 0) {
    // pure random bytes, sometimes with a consistent outer length
    const b = Buffer.alloc(int(160));
    for (let i = 0; i < b.length; i++) b[i] = int(256);
    if (b.length >= 12 && r() < 0.5) b.writeUInt32BE(((r() < 0.5 ? 0 : 0x80000000) | (b.length - 8)) >>> 0, 8);
    return b;
  }
  if (kind === 1) {
    // random blobmsg values of every type (also bad lengths) in a DATA attribute
    const parts: Buffer[] = [];
    for (let i = int(6); i >= 0; i--) {
      const v = Buffer.alloc(int(12));
      for (let j = 0; j < v.length; j++) v[j] = int(256);
      parts.push(blobmsg(int(12), r() < 0.2 ? '' : 'n' + int(100), v));
    }
    const data = Buffer.concat(parts);
    return message(pick([2, 5, 10]), Buffer.concat([hdr(7, false, 4 + data.length), data]));
  }
  if (kind === 2) {
    // deep nesting (within what the JS stack handles; deeper is checked below)
    const n = nested(int(r() < 0.1 ? 1500 : 60), r() < 0.5);
    return message(5, Buffer.concat([hdr(7, false, 4 + n.length), n]));
  }
  const f = Buffer.from(pick(seeds));
  switch (kind) {
    case 3: {
      // bit flips
      for (let i = 1 + int(8); i > 0; i--) {
        const at = int(f.length);
        f[at]! ^= 1 << int(8);
      }
      return f;
    }
    case 4:
      // truncation (the outer length now lies)
      return f.subarray(0, int(f.length + 1));
    case 5:
    case 6: {
      // corrupt a length field somewhere in the attribute tree
      const offs = headerOffsets(f);
      const at = pick(offs);
      const w = f.readUInt32BE(at);
      const len = pick([0, 1, 3, 4, 5, 0xffffff, 0x7fffff, (w & 0xffffff) + 1, (w & 0xffffff) - 1, (w & 0xffffff) + 4, int(0x1000000)]);
      f.writeUInt32BE(((w & 0xff000000) | (len & 0xffffff)) >>> 0, at);
      if (r() < 0.3) f.writeUInt32BE((f.readUInt32BE(at) ^ 0x80000000) >>> 0, at); // flip the extended bit too
      return f;
    }
    case 7: {
      // huge outer length with a short body, or a longer frame with trailing garbage
      if (f.length >= 12) f.writeUInt32BE(r() < 0.5 ? 0xffffff : 0x100000 + int(1000), 8);
      return r() < 0.5 ? f : Buffer.concat([f, Buffer.alloc(int(64), int(256))]);
    }
    case 8: {
      // splice two frames together at random points
      const g = pick(seeds);
      return Buffer.concat([f.subarray(0, int(f.length)), g.subarray(int(g.length))]);
    }
    default: {
      // change a type id (blobmsg types ≥ 9, nested ↔ scalar)
      const offs = headerOffsets(f);
      const at = pick(offs);
      const w = f.readUInt32BE(at);
      f.writeUInt32BE(((w & 0x80ffffff) | (int(128) << 24)) >>> 0, at);
      return f;
    }
  }
}

describe('decoder fuzzing', () => {
  it(`${FRAMES} random and mutated frames: only documented errors (seed ${SEED.toString(16)})`, () => {
    expect(seeds.length).toBeGreaterThan(100);
    const r = rng(SEED);
    let n = 0;
    for (const s of seeds) {
      exercise(s);
      n++;
    }
    for (let i = 0; i < FRAMES; i++) {
      exercise(mutate(r));
      n++;
    }
    expect(n).toBeGreaterThanOrEqual(10_000);
  });

  it('formatJson gives up on pathological nesting with JsonFormatError only', () => {
    const n = nested(20_000, true);
    expect(() => formatJsonBytes(n)).toThrow(JsonFormatError);
    expect(() => formatJsonBytes(nested(999, false))).not.toThrow();
  });

  // decodeTableEntries used to recurse per level and overflow the JS stack at
  // ~5,000 levels; it now stops at MAX_BLOBMSG_DEPTH and drops what is deeper.
  it('wire.ts decodes 20,000 levels of nesting (fits in 1 MiB) without a stack overflow', () => {
    const n = nested(20_000, false);
    expect(n.length).toBeLessThan(1 << 20);
    expect(() => decodeTableEntries(n)).not.toThrow();
  });
});
