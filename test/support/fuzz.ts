// Shared by the fuzz and robustness tests: a seeded PRNG (so a failure can be
// replayed) and hostile blobmsg shapes.
import { bmsg } from './broker.ts';

/** mulberry32: small, deterministic, uniform in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A named blobmsg attribute (extended bit set, padded). */
export const blobmsg = bmsg;

/** `depth` nested tables (or arrays) around an INT32 leaf. */
export function nested(depth: number, array = false): Buffer {
  let b = blobmsg(5, array ? '' : 'leaf', Buffer.from([0, 0, 0, 1]));
  for (let i = 0; i < depth; i++) b = blobmsg(array ? 1 : 2, array ? '' : 'k', b);
  return b;
}
