// Netlink message framing and attribute (TLV) codec: the one codec for rtnetlink
// (links, addresses, routes, rules), XFRM and ethtool genetlink.
import { r16, r32, w16, w32 } from './host.ts';

export const NLMSG_HDRLEN = 16;
export const NLA_HDRLEN = 4;
export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;
const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;

export const align4 = (n: number): number => (n + 3) & ~3;

/** Builds one netlink message: fixed header struct, then attributes. */
export class MessageBuilder {
  private buf: Buffer;
  private len: number;
  private nests: number[] = [];

  constructor(
    readonly type: number,
    readonly flags: number,
    fixed: Buffer | number = 0,
  ) {
    this.buf = Buffer.allocUnsafe(128); // reserve() zeroes what it hands out
    this.len = NLMSG_HDRLEN;
    if (typeof fixed === 'number') this.reserve(fixed);
    else this.bytesRaw(fixed);
  }

  private grow(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const b = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n + 64));
    this.buf.copy(b, 0, 0, this.len);
    this.buf = b;
  }

  /** reserves `n` zeroed bytes (4-aligned), returns their offset */
  reserve(n: number): number {
    const at = this.len;
    this.grow(align4(n));
    this.buf.fill(0, at, at + align4(n));
    this.len += align4(n);
    return at;
  }

  private bytesRaw(b: Buffer): void {
    const at = this.reserve(b.length);
    b.copy(this.buf, at);
  }

  /** the fixed header struct, for writing fields after construction */
  get fixed(): Buffer {
    return this.buf.subarray(NLMSG_HDRLEN);
  }

  attr(type: number, data: Buffer): this {
    const at = this.reserve(NLA_HDRLEN + data.length);
    w16(this.buf, NLA_HDRLEN + data.length, at);
    w16(this.buf, type, at + 2);
    data.copy(this.buf, at + NLA_HDRLEN);
    return this;
  }
  u8(type: number, v: number): this {
    return this.attr(type, Buffer.from([v & 0xff]));
  }
  u16(type: number, v: number): this {
    const b = Buffer.alloc(2);
    w16(b, v, 0);
    return this.attr(type, b);
  }
  u32(type: number, v: number): this {
    const b = Buffer.alloc(4);
    w32(b, v, 0);
    return this.attr(type, b);
  }
  flag(type: number): this {
    return this.attr(type, Buffer.alloc(0));
  }
  str(type: number, s: string): this {
    return this.attr(type, Buffer.from(s + '\0'));
  }
  /** nested attribute, flagged NLA_F_NESTED (genetlink requires it); `flagged` false for the
   *  rtnetlink nests iproute2 sends without it (IFLA_LINKINFO, RTA_METRICS, VETH_INFO_PEER) */
  nest(type: number, fill: (b: this) => void, flagged = true): this {
    const at = this.reserve(NLA_HDRLEN);
    this.nests.push(at);
    fill(this);
    this.nests.pop();
    w16(this.buf, this.len - at, at);
    w16(this.buf, flagged ? type | NLA_F_NESTED : type, at + 2);
    return this;
  }

  /** finished message with the given sequence number (port id 0 = kernel fills in) */
  finish(seq: number): Buffer {
    const out = this.buf.subarray(0, this.len); // no copy: a builder is sent, not kept
    w32(out, this.len, 0);
    w16(out, this.type, 4);
    w16(out, this.flags, 6);
    w32(out, seq >>> 0, 8);
    w32(out, 0, 12);
    return out;
  }
}

/** Decoded attributes: by type (last wins), and in order for repeated types. */
export class Attrs {
  readonly map = new Map<number, Buffer>();
  readonly list: Array<[number, Buffer]> = [];

  static parse(buf: Buffer, offset = 0, end = buf.length): Attrs {
    const a = new Attrs();
    let p = offset;
    while (p + NLA_HDRLEN <= end) {
      const len = r16(buf, p);
      if (len < NLA_HDRLEN || p + len > end) break;
      const type = r16(buf, p + 2) & NLA_TYPE_MASK;
      const data = buf.subarray(p + NLA_HDRLEN, p + len);
      a.map.set(type, data);
      a.list.push([type, data]);
      p += align4(len);
    }
    return a;
  }

  has(t: number): boolean {
    return this.map.has(t);
  }
  get(t: number): Buffer | undefined {
    return this.map.get(t);
  }
  u8(t: number): number | undefined {
    const b = this.map.get(t);
    return b && b.length >= 1 ? b.readUInt8(0) : undefined;
  }
  u16(t: number): number | undefined {
    const b = this.map.get(t);
    return b && b.length >= 2 ? r16(b, 0) : undefined;
  }
  u32(t: number): number | undefined {
    const b = this.map.get(t);
    return b && b.length >= 4 ? r32(b, 0) : undefined;
  }
  str(t: number): string | undefined {
    const b = this.map.get(t);
    if (!b) return undefined;
    const z = b.indexOf(0);
    return b.toString('utf8', 0, z < 0 ? b.length : z);
  }
  nested(t: number): Attrs | undefined {
    const b = this.map.get(t);
    return b ? Attrs.parse(b) : undefined;
  }
}

/**
 * Calls `f(type, start, end)` for each attribute of buf[offset, end), without allocating: the
 * decoders of routes and links run for every kernel event, where a Map per message shows.
 */
export function eachAttr(buf: Buffer, offset: number, end: number, f: (type: number, start: number, end: number) => void): void {
  let p = offset;
  while (p + NLA_HDRLEN <= end) {
    const len = r16(buf, p);
    if (len < NLA_HDRLEN || p + len > end) break;
    f(r16(buf, p + 2) & NLA_TYPE_MASK, p + NLA_HDRLEN, p + len);
    p += align4(len);
  }
}

export interface NlMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  /** payload after the 16-byte header */
  data: Buffer;
}

/** Splits a datagram into messages. */
export function splitMessages(buf: Buffer): NlMessage[] {
  const out: NlMessage[] = [];
  let p = 0;
  while (p + NLMSG_HDRLEN <= buf.length) {
    const len = r32(buf, p);
    if (len < NLMSG_HDRLEN || p + len > buf.length) break;
    out.push({
      type: r16(buf, p + 4),
      flags: r16(buf, p + 6),
      seq: r32(buf, p + 8),
      pid: r32(buf, p + 12),
      data: buf.subarray(p + NLMSG_HDRLEN, p + len),
    });
    p += align4(len);
  }
  return out;
}
