// libubox blob_attr primitives (spec §2): 4-byte header = ext bit, 7-bit id,
// 24-bit length (header included); attributes start on 4-byte boundaries.

export const pad4 = (n: number): number => (n + 3) & ~3;
export const BLOB_MAX_LEN = 0xffffff;

export interface BlobAttr {
  id: number;
  ext: boolean;
  /** payload without header or trailing padding */
  payload: Buffer;
  offset: number;
}

export type BlobParseResult = { attrs: BlobAttr[]; error?: { offset: number; reason: 'bad-length' | 'trailing' } };

/**
 * The walk rule: continue while `remaining >= 4 && 4 <= pad4(len) <= remaining`.
 * Never throws; stops at the first attribute that breaks the rule and says why.
 */
export function parseAttrs(buf: Buffer): BlobParseResult {
  const attrs: BlobAttr[] = [];
  let off = 0;
  while (buf.length - off >= 4) {
    const w = buf.readUInt32BE(off);
    const len = w & BLOB_MAX_LEN;
    if (len < 4 || pad4(len) > buf.length - off) return { attrs, error: { offset: off, reason: 'bad-length' } };
    attrs.push({ id: (w >>> 24) & 0x7f, ext: w >>> 31 === 1, payload: buf.subarray(off + 4, off + len), offset: off });
    off += pad4(len);
  }
  return off === buf.length ? { attrs } : { attrs, error: { offset: off, reason: 'trailing' } };
}

/** Builds nested attributes; a container's length counts every child's padding, the last one's too. */
export class BlobWriter {
  private parts: Buffer[] = [];
  private stack: { id: number; ext: boolean; start: number; head: Buffer }[] = [];
  private size = 0;

  private add(b: Buffer): void {
    this.parts.push(b);
    this.size += b.length;
  }

  /** A leaf attribute; the payload is padded to 4. */
  put(id: number, payload: Buffer, ext = false): this {
    const len = 4 + payload.length;
    if (len > BLOB_MAX_LEN) throw new RangeError('blob attribute too long');
    const b = Buffer.alloc(pad4(len));
    b.writeUInt32BE(((ext ? 0x80000000 : 0) | ((id & 0x7f) << 24) | len) >>> 0, 0);
    payload.copy(b, 4);
    this.add(b);
    return this;
  }

  /** Opens a container; `prefix` is extra header bytes (a blobmsg name header), already padded. */
  open(id: number, ext = false, prefix: Buffer = Buffer.alloc(0)): this {
    const head = Buffer.alloc(4 + prefix.length);
    prefix.copy(head, 4);
    this.stack.push({ id, ext, start: this.size, head });
    this.add(head);
    return this;
  }

  close(): this {
    const c = this.stack.pop();
    if (!c) throw new Error('BlobWriter.close without open');
    const len = this.size - c.start;
    if (len > BLOB_MAX_LEN) throw new RangeError('blob container too long');
    c.head.writeUInt32BE(((c.ext ? 0x80000000 : 0) | ((c.id & 0x7f) << 24) | len) >>> 0, 0);
    return this;
  }

  finish(): Buffer {
    if (this.stack.length) throw new Error('BlobWriter.finish with open containers');
    return Buffer.concat(this.parts, this.size);
  }
}
