// The ubus codec the library runs on: message header + typed ubus attributes
// (spec §1-§4) and blobmsg table bodies with the JSON mapping (§6). One narrow
// module so connection/client/object code does not depend on anything else.
// It is self-contained because the planned src/ubus/{blob,blobmsg,message}.ts
// had not landed; if they do, keep these exports (BlobmsgType, int8/int32/
// int64/double/bool/string, encode/decode helpers) as an adapter over them,
// since json.ts, the daemon and the tests import from here.
// INT64 decodes to a number when it is a safe integer, else to a bigint.

export const MsgType = {
  HELLO: 0, STATUS: 1, DATA: 2, PING: 3, LOOKUP: 4, INVOKE: 5, ADD_OBJECT: 6, REMOVE_OBJECT: 7,
  SUBSCRIBE: 8, UNSUBSCRIBE: 9, NOTIFY: 10, MONITOR: 11,
} as const;
export type MsgType = (typeof MsgType)[keyof typeof MsgType];

export const BlobmsgType = {
  UNSPEC: 0, ARRAY: 1, TABLE: 2, STRING: 3, INT64: 4, INT32: 5, INT16: 6, INT8: 7, BOOL: 7, DOUBLE: 8,
} as const;
export type BlobmsgType = (typeof BlobmsgType)[keyof typeof BlobmsgType];

export interface WireAttrs {
  status?: number;
  objpath?: string;
  objid?: number;
  method?: string;
  objtype?: number;
  /** method → {arg: blobmsg type} */
  signature?: Record<string, Record<string, number>>;
  /** the DATA attribute's payload: a blobmsg table body */
  data?: Buffer;
  target?: number;
  active?: boolean;
  noReply?: boolean;
  subscribers?: number[];
  user?: string;
  group?: string;
}

export interface WireMessage {
  type: number;
  seq: number;
  peer: number;
  attrs: WireAttrs;
}

// ---- blob helpers ----------------------------------------------------------

const pad4 = (n: number): number => (n + 3) & ~3;

function blobAttr(id: number, payload: Buffer, ext: boolean): Buffer {
  const len = 4 + payload.length;
  if (len > 0xffffff) throw new RangeError('blob attribute too long');
  const b = Buffer.alloc(pad4(len));
  b.writeUInt32BE(((ext ? 0x80000000 : 0) | ((id & 0x7f) << 24) | len) >>> 0, 0);
  payload.copy(b, 4);
  return b;
}

interface Raw {
  id: number;
  ext: boolean;
  payload: Buffer;
}

function* walk(body: Buffer): Generator<Raw> {
  let off = 0;
  while (body.length - off >= 4) {
    const w = body.readUInt32BE(off);
    const len = w & 0xffffff;
    if (len < 4 || pad4(len) > body.length - off) return;
    yield { id: (w >>> 24) & 0x7f, ext: w >>> 31 === 1, payload: body.subarray(off + 4, off + len) };
    off += pad4(len);
  }
}

const u32b = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};
const i32b = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v | 0);
  return b;
};
const cstr = (s: string): Buffer => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.alloc(1)]);
const isCstr = (p: Buffer): boolean => p.length >= 1 && p[p.length - 1] === 0;
const readCstr = (p: Buffer): string => p.subarray(0, p.length - 1).toString('utf8');

// ---- blobmsg -------------------------------------------------------------------

/** A value with a forced blobmsg type (strict servers need exact types). */
export class Typed {
  constructor(
    readonly type: BlobmsgType,
    readonly value: number | bigint | boolean | string,
  ) {}
}
export const int8 = (v: number | boolean): Typed => new Typed(BlobmsgType.INT8, typeof v === 'boolean' ? (v ? 1 : 0) : v);
export const bool = (v: boolean): Typed => new Typed(BlobmsgType.BOOL, v ? 1 : 0);
export const int16 = (v: number): Typed => new Typed(BlobmsgType.INT16, v);
export const int32 = (v: number): Typed => new Typed(BlobmsgType.INT32, v);
export const int64 = (v: number | bigint): Typed => new Typed(BlobmsgType.INT64, v);
export const double = (v: number): Typed => new Typed(BlobmsgType.DOUBLE, v);
export const string = (v: string): Typed => new Typed(BlobmsgType.STRING, v);

export type BlobValue = null | boolean | number | bigint | string | Typed | BlobValue[] | { [k: string]: BlobValue | undefined };
export type TableInput = { [k: string]: BlobValue | undefined };
export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [k: string]: JsonValue };
export type Table = { [k: string]: JsonValue };

function encodeValue(name: string, v: BlobValue): Buffer {
  const n = Buffer.from(name, 'utf8');
  const hdr = Buffer.alloc(pad4(2 + n.length + 1));
  hdr.writeUInt16BE(n.length, 0);
  n.copy(hdr, 2);
  const [type, payload] = valuePayload(v);
  return blobAttr(type, Buffer.concat([hdr, payload]), true);
}

function valuePayload(v: BlobValue): [number, Buffer] {
  if (v instanceof Typed) {
    const b = Buffer.alloc(8);
    switch (v.type) {
      case BlobmsgType.INT8:
        return [7, Buffer.from([Number(v.value) ? 1 : 0])];
      case BlobmsgType.INT16:
        b.writeInt16BE(Number(v.value) << 16 >> 16);
        return [6, b.subarray(0, 2)];
      case BlobmsgType.INT32:
        return [5, i32b(Number(v.value))];
      case BlobmsgType.INT64:
        b.writeBigInt64BE(BigInt.asIntN(64, BigInt(v.value)));
        return [4, b];
      case BlobmsgType.DOUBLE:
        b.writeDoubleBE(Number(v.value));
        return [8, b];
      default:
        return [3, cstr(String(v.value))];
    }
  }
  if (v === null) return [0, Buffer.alloc(0)];
  if (typeof v === 'boolean') return [7, Buffer.from([v ? 1 : 0])];
  if (typeof v === 'string') return [3, cstr(v)];
  if (typeof v === 'bigint') return valuePayload(int64(v));
  if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff) return [5, i32b(v)];
    if (Number.isInteger(v)) return valuePayload(int64(BigInt(v)));
    return valuePayload(double(v));
  }
  if (Array.isArray(v)) return [1, Buffer.concat(v.map((x) => encodeValue('', x)))];
  return [2, encodeTableBody(v)];
}

/** The children of a table (what a DATA attribute holds). */
export function encodeTableBody(obj: TableInput): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(obj)) if (v !== undefined) parts.push(encodeValue(k, v));
  return Buffer.concat(parts);
}

export interface TableEntry {
  name: string;
  type: number;
  value: JsonValue;
}

function decodeValue(type: number, p: Buffer): JsonValue | undefined {
  switch (type) {
    case 0:
      return null;
    case 1:
      return decodeTableEntries(p).map((e) => e.value);
    case 2:
      return decodeTableBody(p);
    case 3:
      return isCstr(p) ? readCstr(p) : undefined;
    case 4: {
      if (p.length !== 8) return undefined;
      const v = p.readBigInt64BE(0);
      return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    }
    case 5:
      return p.length === 4 ? p.readInt32BE(0) : undefined;
    case 6:
      return p.length === 2 ? p.readInt16BE(0) : undefined;
    case 7:
      return p.length === 1 ? p[0] !== 0 : undefined;
    case 8:
      return p.length === 8 ? p.readDoubleBE(0) : undefined;
    default:
      return undefined;
  }
}

/** Typed entries of a table body, in order (malformed ones skipped). */
export function decodeTableEntries(body: Buffer): TableEntry[] {
  const out: TableEntry[] = [];
  for (const a of walk(body)) {
    if (!a.ext || a.payload.length < 3) continue;
    const nl = a.payload.readUInt16BE(0);
    const voff = pad4(2 + nl + 1);
    if (voff > a.payload.length || a.payload[2 + nl] !== 0) continue;
    const value = decodeValue(a.id, a.payload.subarray(voff));
    if (value === undefined) continue;
    out.push({ name: a.payload.subarray(2, 2 + nl).toString('utf8'), type: a.id, value });
  }
  return out;
}

export function decodeTableBody(body: Buffer): Table {
  const t: Table = {};
  for (const e of decodeTableEntries(body)) t[e.name] = e.value;
  return t;
}

// ---- messages -----------------------------------------------------------------

export function encodeMessage(m: WireMessage): Buffer {
  const a = m.attrs;
  const parts: Buffer[] = [];
  // attribute order as libubus/ubusd put them
  if (a.noReply !== undefined) parts.push(blobAttr(10, Buffer.from([a.noReply ? 1 : 0]), false));
  if (a.status !== undefined && m.type === MsgType.STATUS && a.subscribers === undefined) parts.push(blobAttr(1, i32b(a.status), false));
  if (a.objpath !== undefined) parts.push(blobAttr(2, cstr(a.objpath), false));
  if (a.objid !== undefined) parts.push(blobAttr(3, u32b(a.objid), false));
  if (a.method !== undefined) parts.push(blobAttr(4, cstr(a.method), false));
  if (a.objtype !== undefined) parts.push(blobAttr(5, u32b(a.objtype), false));
  if (a.signature !== undefined) {
    const methods = Object.entries(a.signature).map(([name, args]) =>
      encodeValue(name, Object.fromEntries(Object.entries(args).map(([k, t]) => [k, int32(t)]))),
    );
    parts.push(blobAttr(6, Buffer.concat(methods), false));
  }
  if (a.target !== undefined) parts.push(blobAttr(8, u32b(a.target), false));
  if (a.active !== undefined) parts.push(blobAttr(9, Buffer.from([a.active ? 1 : 0]), false));
  if (a.subscribers !== undefined) parts.push(blobAttr(11, Buffer.concat(a.subscribers.map((s) => blobAttr(0, u32b(s), false))), false));
  if (a.status !== undefined && (m.type !== MsgType.STATUS || a.subscribers !== undefined)) parts.push(blobAttr(1, i32b(a.status), false));
  if (a.user !== undefined) parts.push(blobAttr(12, cstr(a.user), false));
  if (a.group !== undefined) parts.push(blobAttr(13, cstr(a.group), false));
  if (a.data !== undefined) parts.push(blobAttr(7, a.data, false));
  const body = Buffer.concat(parts);
  const h = Buffer.alloc(12);
  h.writeUInt8(m.type, 1);
  h.writeUInt16BE(m.seq & 0xffff, 2);
  h.writeUInt32BE(m.peer >>> 0, 4);
  if (4 + body.length > 0xffffff) throw new RangeError('message too long');
  h.writeUInt32BE(4 + body.length, 8);
  return Buffer.concat([h, body]);
}

function decodeSig(p: Buffer): Record<string, Record<string, number>> {
  const sig: Record<string, Record<string, number>> = {};
  for (const e of decodeTableEntries(p)) {
    if (e.type !== BlobmsgType.TABLE || typeof e.value !== 'object' || e.value === null || Array.isArray(e.value)) continue;
    const args: Record<string, number> = {};
    for (const [k, v] of Object.entries(e.value)) if (typeof v === 'number') args[k] = v;
    sig[e.name] = args;
  }
  return sig;
}

/** Decodes one whole message (header + outer blob); bad attributes are ignored. */
export function decodeMessage(buf: Buffer): WireMessage {
  if (buf.length < 12) throw new RangeError('short message');
  const len = buf.readUInt32BE(8) & 0xffffff;
  const body = buf.subarray(12, 8 + len);
  const a: WireAttrs = {};
  for (const r of walk(body)) {
    if (r.ext) continue;
    const p = r.payload;
    switch (r.id) {
      case 1:
        if (p.length === 4) a.status = p.readInt32BE(0);
        break;
      case 2:
        if (isCstr(p)) a.objpath = readCstr(p);
        break;
      case 3:
        if (p.length === 4) a.objid = p.readUInt32BE(0);
        break;
      case 4:
        if (isCstr(p)) a.method = readCstr(p);
        break;
      case 5:
        if (p.length === 4) a.objtype = p.readUInt32BE(0);
        break;
      case 6:
        a.signature = decodeSig(p);
        break;
      case 7:
        a.data = Buffer.from(p);
        break;
      case 8:
        if (p.length === 4) a.target = p.readUInt32BE(0);
        break;
      case 9:
        if (p.length === 1) a.active = p[0] !== 0;
        break;
      case 10:
        if (p.length === 1) a.noReply = p[0] !== 0;
        break;
      case 11: {
        const subs: number[] = [];
        for (const s of walk(p)) if (s.payload.length === 4) subs.push(s.payload.readUInt32BE(0));
        a.subscribers = subs;
        break;
      }
      case 12:
        if (isCstr(p)) a.user = readCstr(p);
        break;
      case 13:
        if (isCstr(p)) a.group = readCstr(p);
        break;
      default:
        break;
    }
  }
  return { type: buf[1]!, seq: buf.readUInt16BE(2), peer: buf.readUInt32BE(4), attrs: a };
}
