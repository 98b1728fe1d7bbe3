// blobmsg <-> JSON text exactly as the C tools do it.
//
// formatJson(): libubox blobmsg_format_json() byte for byte: the `ubus call`
// form (indent ≥ 0: tabs, `"name": value`) and the compact `ubus listen` form
// (`{"a":1,"b":[true,"s"]}`). It works on the raw table body (the DATA
// attribute's payload) so every value prints with its wire type: INT8 →
// true/false, INT16/INT32/INT64 signed (INT64 exact), DOUBLE like C "%lf"
// (3.500000), UNSPEC → null. libubox quirks kept on purpose: an entry that
// fails blobmsg_check_attr prints nothing but its "," separator still does;
// table entries with an empty name print only their value; names and strings
// stop at the first NUL; escaping is libubox's (\b \n \t \r \" \\, other
// control bytes \u00XX, everything else raw, also invalid UTF-8); indentation
// is capped at 15 tabs.
//
// parseJsonArgs(): blobmsg_add_json_from_string() (json-c + libubox): the top
// level must be an object; integers in int32 range → INT32, other integers →
// INT64 (parsed from the text, lossless; above INT64_MAX up to UINT64_MAX
// json-c saturates to INT64_MAX, beyond the 64-bit range it makes a double),
// other numbers → DOUBLE, booleans → INT8, null → UNSPEC, strings cut at a NUL.
// Errors are JsonArgsError (status PARSE_ERROR, what `ubus call` reports).
import { BlobmsgType, double, encodeTableBody, int16, int32, int64, type BlobValue, type JsonValue, type Table, type TableEntry, type TableInput } from './wire.ts';
import { Status } from './errors.ts';

// ---- formatting --------------------------------------------------------------

export interface FormatOptions {
  /**
   * Indentation level like libubox's `indent` argument: a number ≥ 0 gives the
   * multi-line tab form (`ubus call` uses 0); undefined, false or < 0 the
   * compact form (`ubus listen`, `ubus -S call`).
   */
  indent?: number | false;
  /**
   * libubox custom_format callback: called for every element (not the
   * outermost list); a string replaces the element's value text.
   */
  custom?: (type: number, value: Buffer) => string | undefined;
}

const pad4 = (n: number): number => (n + 3) & ~3;
const TABS = '\n' + '\t'.repeat(15);

/** Output as a "binary" string (one char per byte, latin1), turned into bytes once at the end. */
class Out {
  private text = '';
  level: number;
  readonly indent: boolean;
  readonly custom: FormatOptions['custom'];

  constructor(opts: FormatOptions) {
    const ind = opts.indent;
    this.indent = typeof ind === 'number' && ind >= 0;
    this.level = this.indent ? (ind as number) : 0;
    this.custom = opts.custom;
  }

  /** ASCII text (or text already in latin1 byte form) */
  str(s: string): void {
    this.text += s;
  }

  bytes(b: Buffer): void {
    this.text += b.toString('latin1');
  }

  sep(): void {
    if (!this.indent) return;
    this.text += TABS.slice(0, Math.min(this.level + 1, TABS.length));
  }

  done(): Buffer {
    return Buffer.from(this.text, 'latin1');
  }
}

/** libubox blobmsg_format_string on raw bytes buf[start, end) (stops at the first NUL). */
function putString(out: Out, buf: Buffer, start: number, end: number): void {
  let stop = buf.indexOf(0, start);
  if (stop < 0 || stop > end) stop = end;
  out.str('"');
  let last = start;
  for (let i = start; i < stop; i++) {
    const c = buf[i]!;
    if (c >= 0x20 && c !== 0x22 && c !== 0x5c) continue;
    let esc: string;
    if (c === 0x08) esc = '\\b';
    else if (c === 0x0a) esc = '\\n';
    else if (c === 0x09) esc = '\\t';
    else if (c === 0x0d) esc = '\\r';
    else if (c === 0x22) esc = '\\"';
    else if (c === 0x5c) esc = '\\\\';
    else esc = '\\u00' + (c < 0x10 ? '0' : '') + c.toString(16);
    if (i > last) out.str(buf.toString('latin1', last, i));
    last = i + 1;
    out.str(esc);
  }
  if (stop > last) out.str(buf.toString('latin1', last, stop));
  out.str('"');
}

/** C printf("%lf") of a double: exact binary value, 6 decimals, round half to even. */
export function formatDoubleC(x: number, negativeNaN = false): string {
  if (Number.isNaN(x)) return negativeNaN ? '-nan' : 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  const neg = x < 0 || Object.is(x, -0);
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, Math.abs(x));
  const bits = dv.getBigUint64(0);
  const bexp = Number((bits >> 52n) & 0x7ffn);
  let mant = bits & 0xfffffffffffffn;
  let e: number;
  if (bexp === 0) e = -1074;
  else {
    mant |= 1n << 52n;
    e = bexp - 1075;
  }
  let q: bigint;
  if (e >= 0) q = (mant << BigInt(e)) * 1_000_000n;
  else {
    const num = mant * 1_000_000n;
    const den = 1n << BigInt(-e);
    q = num / den;
    const twice = 2n * (num - q * den);
    if (twice > den || (twice === den && (q & 1n) === 1n)) q++;
  }
  const s = q.toString().padStart(7, '0');
  return `${neg ? '-' : ''}${s.slice(0, -6)}.${s.slice(-6)}`;
}

/** One entry that passed blobmsg_check_attr(attr, false): offsets into the buffer. */
interface Checked {
  type: number;
  nameStart: number;
  nameEnd: number;
  dataStart: number;
  dataEnd: number;
}

/** blobmsg_check_attr(attr, false) on the attribute at buf[off, off + rawLen); undefined = invalid. */
function check(buf: Buffer, off: number, rawLen: number, ext: boolean, type: number): Checked | undefined {
  if (rawLen < 4 || type > BlobmsgType.DOUBLE) return undefined;
  const pStart = off + 4;
  const pEnd = off + rawLen;
  let nameStart: number;
  let nameEnd: number;
  let dataStart: number;
  if (ext) {
    if (pEnd - pStart < 2) return undefined;
    const nl = buf.readUInt16BE(pStart);
    const hl = pad4(2 + nl + 1);
    if (pEnd - pStart < hl || buf[pStart + 2 + nl] !== 0) return undefined;
    nameStart = pStart + 2;
    nameEnd = nameStart + nl;
    dataStart = pStart + hl;
  } else {
    // a non-extended entry passes libubox's name check; its "name" is read
    // from payload[2..] up to a NUL (C may read past the attribute: we stop at its end)
    nameStart = Math.min(pStart + 2, pEnd);
    const nul = buf.indexOf(0, nameStart);
    nameEnd = nul < 0 || nul > pEnd ? pEnd : nul;
    dataStart = pStart;
  }
  const len = pEnd - dataStart;
  switch (type) {
    case BlobmsgType.STRING:
      if (len < 1 || buf[pEnd - 1] !== 0) return undefined;
      break;
    case BlobmsgType.INT8:
      if (len !== 1) return undefined;
      break;
    case BlobmsgType.INT16:
      if (len !== 2) return undefined;
      break;
    case BlobmsgType.INT32:
      if (len !== 4) return undefined;
      break;
    case BlobmsgType.INT64:
      if (len !== 8) return undefined;
      break;
    case BlobmsgType.DOUBLE:
      if (len < 8) return undefined;
      break;
    default:
      break;
  }
  return { type, nameStart, nameEnd, dataStart, dataEnd: pEnd };
}

const MAX_DEPTH = 1000;

function putList(out: Out, buf: Buffer, start: number, end: number, array: boolean, depth: number): void {
  if (depth > MAX_DEPTH) throw new JsonFormatError('blobmsg nesting too deep to format');
  out.str(array ? '[' : '{');
  out.level++;
  out.sep();
  let first = true;
  let off = start;
  while (end - off >= 4) {
    const w = buf.readUInt32BE(off);
    const rawLen = w & 0xffffff;
    const padded = pad4(rawLen);
    if (padded > end - off || padded < 4) break;
    if (!first) {
      out.str(',');
      out.sep();
    }
    const c = check(buf, off, rawLen, w >>> 31 === 1, (w >>> 24) & 0x7f);
    if (c) putElement(out, buf, c, array, depth);
    first = false;
    off += padded;
  }
  out.level--;
  out.sep();
  out.str(array ? ']' : '}');
}

function putElement(out: Out, buf: Buffer, c: Checked, array: boolean, depth: number): void {
  if (!array && c.nameEnd > c.nameStart) {
    putString(out, buf, c.nameStart, c.nameEnd);
    out.str(out.indent ? ': ' : ':');
  }
  const at = c.dataStart;
  if (out.custom) {
    const s = out.custom(c.type, buf.subarray(at, c.dataEnd));
    if (s !== undefined) return out.bytes(Buffer.from(s, 'utf8'));
  }
  switch (c.type) {
    case BlobmsgType.UNSPEC:
      return out.str('null');
    case BlobmsgType.INT8:
      return out.str(buf[at] ? 'true' : 'false');
    case BlobmsgType.INT16:
      return out.str(String(buf.readInt16BE(at)));
    case BlobmsgType.INT32:
      return out.str(String(buf.readInt32BE(at)));
    case BlobmsgType.INT64:
      return out.str(buf.readBigInt64BE(at).toString());
    case BlobmsgType.DOUBLE:
      return out.str(formatDoubleC(buf.readDoubleBE(at), (buf[at]! & 0x80) !== 0));
    case BlobmsgType.STRING:
      return putString(out, buf, at, c.dataEnd);
    case BlobmsgType.ARRAY:
      return putList(out, buf, at, c.dataEnd, true, depth + 1);
    case BlobmsgType.TABLE:
      return putList(out, buf, at, c.dataEnd, false, depth + 1);
    default:
      return;
  }
}

/** The only error formatJson throws: nesting deeper than 1000 levels (the recursion would overflow the JS stack). */
export class JsonFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JsonFormatError';
  }
}

/** A table from decodeTableEntries(): re-encoded so nested values keep their types as far as JS types tell. */
function entriesToBody(entries: readonly TableEntry[]): Buffer {
  return Buffer.concat(entries.map((e) => encodeTableBody({ [e.name]: typedOf(e.type, e.value) })));
}

function typedOf(type: number, v: JsonValue): BlobValue {
  switch (type) {
    case BlobmsgType.INT32:
      return int32(Number(v));
    case BlobmsgType.INT16:
      return int16(Number(v));
    case BlobmsgType.INT64:
      return int64(typeof v === 'bigint' ? v : BigInt(Number(v)));
    case BlobmsgType.DOUBLE:
      return double(Number(v));
    default:
      return v;
  }
}

/**
 * Formats a blobmsg table like blobmsg_format_json(msg, true): `input` is a
 * table body (a DATA attribute's payload; exact), or typed entries from
 * wire.ts decodeTableEntries() (top-level types exact; nested numbers are
 * printed by their JS type since decodeTableEntries drops nested types).
 * Returns the bytes (strings are raw bytes in C, not necessarily UTF-8).
 */
export function formatJsonBytes(input: Buffer | readonly TableEntry[], opts: FormatOptions = {}): Buffer {
  const body = Buffer.isBuffer(input) ? input : entriesToBody(input);
  const out = new Out(opts);
  putList(out, body, 0, body.length, false, 0);
  return out.done();
}

/** formatJsonBytes() as a string (UTF-8 decoded). */
export function formatJson(input: Buffer | readonly TableEntry[], opts: FormatOptions = {}): string {
  return formatJsonBytes(input, opts).toString('utf8');
}

/** Formats one whole blobmsg attribute like blobmsg_format_json_with_cb(attr, false, …). */
export function formatJsonElementBytes(attr: Buffer, opts: FormatOptions = {}): Buffer {
  const out = new Out(opts);
  if (attr.length >= 4) {
    const w = attr.readUInt32BE(0);
    const rawLen = w & 0xffffff;
    if (rawLen <= attr.length) {
      const c = check(attr, 0, rawLen, w >>> 31 === 1, (w >>> 24) & 0x7f);
      if (c) putElement(out, attr, c, false, 0);
    }
  }
  return out.done();
}

/** Escapes a name or string value as blobmsg_format_string does (bytes out). */
export function formatJsonString(s: string | Buffer): Buffer {
  const out = new Out({});
  const b = Buffer.isBuffer(s) ? s : Buffer.from(s, 'utf8');
  putString(out, b, 0, b.length);
  return out.done();
}

/** A JS value (decodeTableBody output) formatted with the same rules; numbers: integers as ints, others as %lf. */
export function formatJsonValue(t: Table, opts: FormatOptions = {}): string {
  return formatJson(decodeEntriesLike(t), opts);
}

function decodeEntriesLike(t: Table): TableEntry[] {
  return Object.entries(t).map(([name, value]) => ({ name, type: typeOfValue(value), value }));
}

function typeOfValue(v: JsonValue): number {
  if (v === null) return BlobmsgType.UNSPEC;
  if (typeof v === 'boolean') return BlobmsgType.INT8;
  if (typeof v === 'bigint') return BlobmsgType.INT64;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) return BlobmsgType.DOUBLE;
    return v >= -0x80000000 && v <= 0x7fffffff ? BlobmsgType.INT32 : BlobmsgType.INT64;
  }
  if (typeof v === 'string') return BlobmsgType.STRING;
  return Array.isArray(v) ? BlobmsgType.ARRAY : BlobmsgType.TABLE;
}

// ---- parsing ---------------------------------------------------------------

/** Bad JSON for a ubus message (the CLI reports it as PARSE_ERROR). */
export class JsonArgsError extends Error {
  readonly status = Status.PARSE_ERROR;
  /** character offset of the problem in the text */
  readonly offset: number;

  constructor(message: string, offset: number) {
    super(message);
    this.name = 'JsonArgsError';
    this.offset = offset;
  }
}

/** Parsed JSON with the blobmsg type every leaf gets; objects keep key order (json-c: a repeated key keeps its first position, last value). */
export type JsonNode =
  | { kind: 'object'; entries: [string, JsonNode][] }
  | { kind: 'array'; items: JsonNode[] }
  | { kind: 'leaf'; value: BlobValue };

const INT32_MIN = -(2n ** 31n);
const INT32_MAX = 2n ** 31n - 1n;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const MAX_PARSE_DEPTH = 1000;

class Parser {
  private i = 0;
  constructor(private readonly s: string) {}

  fail(msg: string, at = this.i): never {
    throw new JsonArgsError(`${msg} at offset ${at}`, at);
  }

  peek(): string | undefined {
    return this.s[this.i];
  }

  ws(): void {
    while (this.i < this.s.length) {
      const c = this.s.charCodeAt(this.i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.i++;
      else break;
    }
  }

  end(): void {
    this.ws();
    if (this.i < this.s.length) this.fail('unexpected text after the JSON value');
  }

  value(depth: number): JsonNode {
    if (depth > MAX_PARSE_DEPTH) this.fail('nesting too deep');
    this.ws();
    const c = this.s[this.i];
    if (c === '{') return this.object(depth);
    if (c === '[') return this.array(depth);
    if (c === '"') return { kind: 'leaf', value: this.string() };
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return { kind: 'leaf', value: this.number() };
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (this.s.startsWith(word, this.i)) {
        this.i += word.length;
        return { kind: 'leaf', value: v };
      }
    }
    return this.fail(c === undefined ? 'unexpected end of input' : `unexpected character ${JSON.stringify(c)}`);
  }

  object(depth: number): JsonNode {
    this.i++;
    const entries: [string, JsonNode][] = [];
    const index = new Map<string, number>();
    this.ws();
    if (this.s[this.i] === '}') {
      this.i++;
      return { kind: 'object', entries };
    }
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') this.fail('expected a string key');
      const k = this.string();
      this.ws();
      if (this.s[this.i] !== ':') this.fail("expected ':'");
      this.i++;
      const v = this.value(depth + 1);
      const at = index.get(k);
      if (at === undefined) {
        index.set(k, entries.length);
        entries.push([k, v]);
      } else entries[at] = [k, v];
      this.ws();
      const c = this.s[this.i];
      this.i++;
      if (c === '}') return { kind: 'object', entries };
      if (c !== ',') this.fail("expected ',' or '}'", this.i - 1);
    }
  }

  array(depth: number): JsonNode {
    this.i++;
    const items: JsonNode[] = [];
    this.ws();
    if (this.s[this.i] === ']') {
      this.i++;
      return { kind: 'array', items };
    }
    for (;;) {
      items.push(this.value(depth + 1));
      this.ws();
      const c = this.s[this.i];
      this.i++;
      if (c === ']') return { kind: 'array', items };
      if (c !== ',') this.fail("expected ',' or ']'", this.i - 1);
    }
  }

  string(): string {
    const start = this.i;
    this.i++;
    let out = '';
    for (;;) {
      if (this.i >= this.s.length) this.fail('unterminated string', start);
      const c = this.s.charCodeAt(this.i);
      if (c === 0x22) {
        this.i++;
        break;
      }
      if (c < 0x20) this.fail('control character in string');
      if (c !== 0x5c) {
        out += this.s[this.i];
        this.i++;
        continue;
      }
      const e = this.s[this.i + 1];
      this.i += 2;
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          const h = this.s.slice(this.i, this.i + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(h)) this.fail('bad \\u escape');
          out += String.fromCharCode(parseInt(h, 16));
          this.i += 4;
          break;
        }
        default:
          this.fail('bad escape', this.i - 2);
      }
    }
    // blobmsg_add_string copies up to the first NUL
    const nul = out.indexOf('\0');
    return nul < 0 ? out : out.slice(0, nul);
  }

  number(): BlobValue {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(this.s.slice(this.i, this.i + 400));
    if (!m || m[0] === '-') this.fail('bad number');
    const text = m[0];
    this.i += text.length;
    if (m[2] === undefined && m[3] === undefined) {
      const n = BigInt(text);
      if (n >= INT32_MIN && n <= INT32_MAX) return int32(Number(n));
      if (n >= INT64_MIN && n <= INT64_MAX) return int64(n);
      if (n > INT64_MAX && n <= UINT64_MAX) return int64(INT64_MAX); // json-c: uint64, read back saturated
      return double(Number(text));
    }
    return double(Number(text));
  }
}

/** Parses JSON text into nodes; the top level must be an object. */
export function parseJsonTree(text: string): JsonNode & { kind: 'object' } {
  const p = new Parser(text);
  p.ws();
  if (p.peek() !== '{') {
    // parse whatever it is first, so syntax errors win over the "not an object" error
    p.value(0);
    p.end();
    throw new JsonArgsError('the message must be a JSON object', 0);
  }
  const v = p.value(0);
  p.end();
  return v as JsonNode & { kind: 'object' };
}

function toInput(n: JsonNode): BlobValue {
  if (n.kind === 'leaf') return n.value;
  if (n.kind === 'array') return n.items.map(toInput);
  const o: Record<string, BlobValue> = Object.create(null) as Record<string, BlobValue>;
  for (const [k, v] of n.entries) o[k] = toInput(v);
  return o;
}

/**
 * Like blobmsg_add_json_from_string(): JSON text → a wire.ts TableInput with
 * forced types (int32/int64/double; booleans and null as plain values, which
 * wire.ts encodes as INT8 and UNSPEC). Throws JsonArgsError.
 * Note: a JS object lists integer-like keys first; encodeJsonArgs() keeps the text's order.
 */
export function parseJsonArgs(text: string): TableInput {
  return toInput(parseJsonTree(text)) as TableInput;
}

function container(type: number, name: string, children: Buffer): Buffer {
  const n = Buffer.from(name, 'utf8');
  const hl = pad4(2 + n.length + 1);
  const len = 4 + hl + children.length;
  if (len > 0xffffff) throw new JsonArgsError('message too large', 0);
  const b = Buffer.alloc(4 + hl);
  b.writeUInt32BE((0x80000000 | (type << 24) | len) >>> 0, 0);
  b.writeUInt16BE(n.length, 4);
  n.copy(b, 6);
  return Buffer.concat([b, children]);
}

/** A named blobmsg TABLE attribute around an already encoded table body. */
export function blobmsgTable(name: string, body: Buffer): Buffer {
  return container(BlobmsgType.TABLE, name, body);
}

function encodeNode(name: string, n: JsonNode): Buffer {
  if (n.kind === 'leaf') return encodeTableBody({ [name]: n.value });
  if (n.kind === 'array') return container(BlobmsgType.ARRAY, name, Buffer.concat(n.items.map((x) => encodeNode('', x))));
  return container(BlobmsgType.TABLE, name, Buffer.concat(n.entries.map(([k, v]) => encodeNode(k, v))));
}

/** JSON text → the blobmsg table body `ubus call` sends, in the text's key order. Throws JsonArgsError. */
export function encodeJsonArgs(text: string): Buffer {
  const t = parseJsonTree(text);
  return Buffer.concat(t.entries.map(([k, v]) => encodeNode(k, v)));
}
