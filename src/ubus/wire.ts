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

/**
 * A table is a plain object or a Map. JS objects enumerate integer-like keys
 * ("1", "42") first in ascending order whatever the insertion order, so a
 * plain object cannot carry e.g. {"b":…,"1":…} in that order; pass a Map when
 * the wire order of such keys matters (Map keeps insertion order).
 */
export type BlobValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Typed
  | BlobValue[]
  | { [k: string]: BlobValue | undefined }
  | ReadonlyMap<string, BlobValue | undefined>;
export type TableInput = { [k: string]: BlobValue | undefined } | ReadonlyMap<string, BlobValue | undefined>;
export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [k: string]: JsonValue };
export type Table = { [k: string]: JsonValue };

/**
 * One-pass blobmsg writer: values go straight into a growing scratch buffer and
 * each container's length is patched in once its children are written (no
 * per-value Buffers, no concat). The result is copied out of the scratch.
 */
class Writer {
  buf: Buffer;
  off = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  ensure(n: number): void {
    if (this.off + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.off + n) size *= 2;
    const b = Buffer.allocUnsafe(size);
    this.buf.copy(b, 0, 0, this.off);
    this.buf = b;
  }

  zero(n: number): void {
    this.ensure(n);
    this.buf.fill(0, this.off, this.off + n);
    this.off += n;
  }

  /** Starts an extended attribute: header placeholder and the padded name. Returns its offset. */
  open(name: string): number {
    const at = this.off;
    this.ensure(4 + 2 + name.length * 3 + 4);
    const nl = this.buf.write(name, at + 6, 'utf8');
    if (nl > 0xffff) throw new RangeError('blobmsg name too long');
    this.buf.writeUInt16BE(nl, at + 4);
    const end = at + 4 + pad4(2 + nl + 1);
    this.buf.fill(0, at + 6 + nl, end);
    this.off = end;
    return at;
  }

  /** Ends the attribute opened at `at`: writes its header and pads it. */
  close(at: number, type: number): void {
    const len = this.off - at;
    if (len > 0xffffff) throw new RangeError('blob attribute too long');
    this.buf.writeUInt32BE((0x80000000 | ((type & 0x7f) << 24) | len) >>> 0, at);
    const pad = pad4(len) - len;
    if (pad) this.zero(pad);
  }

  cstr(v: string): void {
    this.ensure(v.length * 3 + 1);
    this.off += this.buf.write(v, this.off, 'utf8');
    this.buf[this.off++] = 0;
  }

  value(name: string, v: BlobValue): void {
    const at = this.open(name);
    this.close(at, this.payload(v));
  }

  /** Writes the value's payload; returns its blobmsg type. */
  payload(v: BlobValue): number {
    if (v instanceof Typed) return this.typed(v);
    if (v === null) return BlobmsgType.UNSPEC;
    switch (typeof v) {
      case 'boolean':
        this.ensure(1);
        this.buf[this.off++] = v ? 1 : 0;
        return BlobmsgType.INT8;
      case 'string':
        this.cstr(v);
        return BlobmsgType.STRING;
      case 'bigint':
        return this.typed(int64(v));
      case 'number':
        if (Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff) {
          this.ensure(4);
          this.off = this.buf.writeInt32BE(v, this.off);
          return BlobmsgType.INT32;
        }
        if (Number.isInteger(v)) return this.typed(int64(BigInt(v)));
        return this.typed(double(v));
      default:
        break;
    }
    if (Array.isArray(v)) {
      for (const x of v as BlobValue[]) this.value('', x);
      return BlobmsgType.ARRAY;
    }
    this.table(v as TableInput);
    return BlobmsgType.TABLE;
  }

  typed(v: Typed): number {
    this.ensure(8);
    const b = this.buf;
    switch (v.type) {
      case BlobmsgType.INT8:
        b[this.off++] = Number(v.value) ? 1 : 0;
        return BlobmsgType.INT8;
      case BlobmsgType.INT16:
        this.off = b.writeInt16BE((Number(v.value) << 16) >> 16, this.off);
        return BlobmsgType.INT16;
      case BlobmsgType.INT32:
        this.off = b.writeInt32BE(Number(v.value) | 0, this.off);
        return BlobmsgType.INT32;
      case BlobmsgType.INT64:
        this.off = b.writeBigInt64BE(BigInt.asIntN(64, BigInt(v.value)), this.off);
        return BlobmsgType.INT64;
      case BlobmsgType.DOUBLE:
        this.off = b.writeDoubleBE(Number(v.value), this.off);
        return BlobmsgType.DOUBLE;
      default:
        this.cstr(String(v.value));
        return BlobmsgType.STRING;
    }
  }

  table(obj: TableInput): void {
    if (obj instanceof Map) {
      for (const [k, x] of obj) if (x !== undefined) this.value(k, x);
      return;
    }
    if (obj === undefined || obj === null) throw new TypeError('cannot encode undefined as a blobmsg value');
    const o = obj as { [k: string]: BlobValue | undefined };
    for (const k in o) {
      if (!Object.hasOwn(o, k)) continue;
      const x = o[k];
      if (x !== undefined) this.value(k, x);
    }
  }

  take(): Buffer {
    const out = Buffer.allocUnsafe(this.off);
    this.buf.copy(out, 0, 0, this.off);
    return out;
  }
}

// one scratch writer reused while not busy (a throwing encode leaves it usable)
let scratch: Writer | undefined = new Writer(4096);

function withWriter(fn: (w: Writer) => void): Buffer {
  const w = scratch ?? new Writer(4096);
  scratch = undefined;
  w.off = 0;
  try {
    fn(w);
    return w.take();
  } finally {
    if (w.buf.length <= 1 << 20) scratch = w; // do not pin a huge buffer
  }
}

function encodeValue(name: string, v: BlobValue): Buffer {
  return withWriter((w) => w.value(name, v));
}

/**
 * The children of a table (what a DATA attribute holds), in the object's
 * enumeration order (a Map: insertion order, also for integer-like keys).
 */
export function encodeTableBody(obj: TableInput): Buffer {
  return withWriter((w) => w.table(obj));
}

export interface TableEntry {
  name: string;
  type: number;
  value: JsonValue;
}

/**
 * Deepest blobmsg container nesting the decoders accept (the top-level table
 * body of a DATA attribute is level 0; each TABLE/ARRAY inside adds one).
 *
 * Why 128: the decoders recurse once per level, and a legal 1 MiB message can
 * nest ~87,000 levels (12 bytes each), far past the JS stack (~5,000 levels
 * overflowed). Real traffic is shallow: `ubus call`, jshn and
 * blobmsg_add_json_from_string parse JSON with json-c's default tokener depth
 * of 32, so nothing produced from JSON on OpenWrt nests deeper than 32; 128
 * leaves 4x headroom for hand-built C messages while keeping the recursion
 * (a few frames per level) a small fraction of the stack.
 *
 * decodeTableEntries/decodeTableBody drop a container that is nested deeper
 * (like any malformed entry: ignored, as if absent); blobmsgWithinDepth() tells
 * beforehand, and UbusConnection fails the request (PARSE_ERROR) / drops the
 * message instead of delivering such a truncated table.
 */
export const MAX_BLOBMSG_DEPTH = 128;

/** The value of one blobmsg entry (bytes b[s, e)); undefined when malformed. */
function decodeValue(type: number, b: Buffer, s: number, e: number, depth: number): JsonValue | undefined {
  const n = e - s;
  switch (type) {
    case 0:
      return null;
    case 1:
      if (depth >= MAX_BLOBMSG_DEPTH) return undefined;
      return decodeEntries(b, s, e, depth + 1).map((x) => x.value);
    case 2:
      if (depth >= MAX_BLOBMSG_DEPTH) return undefined;
      return tableOf(decodeEntries(b, s, e, depth + 1));
    case 3:
      return n >= 1 && b[e - 1] === 0 ? b.toString('utf8', s, e - 1) : undefined;
    case 4: {
      if (n !== 8) return undefined;
      const v = b.readBigInt64BE(s);
      return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    }
    case 5:
      return n === 4 ? b.readInt32BE(s) : undefined;
    case 6:
      return n === 2 ? b.readInt16BE(s) : undefined;
    case 7:
      return n === 1 ? b[s] !== 0 : undefined;
    case 8:
      // libubox blobmsg_check_attr only wants ≥ 8 bytes and blobmsg_get_double reads the first 8
      return n >= 8 ? b.readDoubleBE(s) : undefined;
    default:
      return undefined;
  }
}

/** Name and value offset of one blobmsg entry, or undefined when malformed. */
function entryHead(a: Raw): { name: Buffer; voff: number } | undefined {
  if (!a.ext || a.payload.length < 3) return undefined;
  const nl = a.payload.readUInt16BE(0);
  const voff = pad4(2 + nl + 1);
  if (voff > a.payload.length || a.payload[2 + nl] !== 0) return undefined;
  return { name: a.payload.subarray(2, 2 + nl), voff };
}

/** The entries of the blobmsg list in b[start, end) (walk() rules, inlined: this is the hot path). */
function decodeEntries(b: Buffer, start: number, end: number, depth: number): TableEntry[] {
  const out: TableEntry[] = [];
  let off = start;
  while (end - off >= 4) {
    const w = b.readUInt32BE(off);
    const len = w & 0xffffff;
    if (len < 4 || pad4(len) > end - off) break;
    // extended, with room for the name length and its NUL
    if (w >>> 31 === 1 && len >= 7) {
      const ps = off + 4;
      const pe = off + len;
      const nl = b.readUInt16BE(ps);
      const vs = ps + pad4(2 + nl + 1);
      if (vs <= pe && b[ps + 2 + nl] === 0) {
        const type = (w >>> 24) & 0x7f;
        const value = decodeValue(type, b, vs, pe, depth);
        if (value !== undefined) out.push({ name: b.toString('utf8', ps + 2, ps + 2 + nl), type, value });
      }
    }
    off += pad4(len);
  }
  return out;
}

/**
 * A plain object from entries (last duplicate wins). A key "__proto__" becomes
 * an own property: plain assignment would call the Object.prototype setter and
 * replace the table's prototype with attacker-chosen data.
 */
function tableOf(entries: TableEntry[]): Table {
  const t: Table = {};
  for (const e of entries) {
    if (e.name === '__proto__') Object.defineProperty(t, e.name, { value: e.value, enumerable: true, writable: true, configurable: true });
    else t[e.name] = e.value;
  }
  return t;
}

/**
 * Typed entries of a table body, in order (malformed ones skipped, and
 * containers nested deeper than MAX_BLOBMSG_DEPTH too). Never throws.
 */
export function decodeTableEntries(body: Buffer): TableEntry[] {
  return decodeEntries(body, 0, body.length, 0);
}

/**
 * A table body as an object. Keys keep wire order except that JS puts
 * integer-like keys first (use decodeTableEntries for the exact order).
 * Never throws.
 */
export function decodeTableBody(body: Buffer): Table {
  return tableOf(decodeEntries(body, 0, body.length, 0));
}

/**
 * True when no container in a table body nests deeper than `max` levels
 * (see MAX_BLOBMSG_DEPTH). Iterative, so any depth is safe to check.
 */
export function blobmsgWithinDepth(body: Buffer, max: number = MAX_BLOBMSG_DEPTH): boolean {
  // a stack of [buffer, offset] frames; the walk rules are walk()'s
  const bufs: Buffer[] = [body];
  const offs: number[] = [0];
  while (bufs.length > 0) {
    const top = bufs.length - 1;
    const b = bufs[top]!;
    const off = offs[top]!;
    if (b.length - off < 4) {
      bufs.pop();
      offs.pop();
      continue;
    }
    const w = b.readUInt32BE(off);
    const len = w & 0xffffff;
    if (len < 4 || pad4(len) > b.length - off) {
      bufs.pop();
      offs.pop();
      continue;
    }
    offs[top] = off + pad4(len);
    const id = (w >>> 24) & 0x7f;
    if (w >>> 31 !== 1 || (id !== 1 && id !== 2)) continue;
    const payload = b.subarray(off + 4, off + len);
    const h = entryHead({ id, ext: true, payload });
    if (!h) continue;
    // this container is at level bufs.length (the body itself is level 0)
    if (bufs.length > max) return false;
    bufs.push(payload.subarray(h.voff));
    offs.push(0);
  }
  return true;
}

// ---- messages -----------------------------------------------------------------

export function encodeMessage(m: WireMessage): Buffer {
  const a = m.attrs;
  const parts: Buffer[] = [];
  // attribute order as libubus/ubusd put them: ubusd's forwarded notification
  // (an INVOKE) starts with NO_REPLY; a client's NOTIFY (libubus
  // ubus_notify_async) has it last, after DATA (captures h_netifd_session, x_…)
  const noReplyLast = m.type === MsgType.NOTIFY;
  if (a.noReply !== undefined && !noReplyLast) parts.push(blobAttr(10, Buffer.from([a.noReply ? 1 : 0]), false));
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
  if (a.noReply !== undefined && noReplyLast) parts.push(blobAttr(10, Buffer.from([a.noReply ? 1 : 0]), false));
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
  // method tables of scalar arg types: two levels, never deeper
  const sig: Record<string, Record<string, number>> = {};
  for (const m of walk(p)) {
    const mh = entryHead(m);
    if (!mh || m.id !== BlobmsgType.TABLE) continue;
    const args: Record<string, number> = {};
    for (const a of walk(m.payload.subarray(mh.voff))) {
      const ah = entryHead(a);
      if (!ah || a.id === BlobmsgType.ARRAY || a.id === BlobmsgType.TABLE) continue;
      const v = decodeValue(a.id, a.payload, ah.voff, a.payload.length, MAX_BLOBMSG_DEPTH);
      if (typeof v === 'number') defineKey(args, ah.name.toString('utf8'), v);
    }
    defineKey(sig, mh.name.toString('utf8'), args);
  }
  return sig;
}

function defineKey<T>(o: Record<string, T>, k: string, v: T): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
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
