// The brief's message-level API (spec §1-§4) as a thin layer over wire.ts, the
// codec the connection already runs on: one codec, no second implementation.
// Adds what wire.ts leaves to its callers: a never-throwing decode, a streaming
// FrameReader with the fatal framing rules, and one builder per client request.

import { decodeMessage as decodeWire, encodeMessage as encodeWire, MsgType, type WireAttrs, type WireMessage } from './wire.ts';
import { encodeTableBody, int32, type TableInput } from './wire.ts';
import { blobmsgTable } from './json.ts';
import { ubusStatusName, ubusStrerror } from './errors.ts';

export { MsgType } from './wire.ts';
export { Status as UbusStatus } from './errors.ts';
export type UbusMessage = WireMessage;
export type UbusAttrs = WireAttrs;

/** Ids of the outer ubus attributes (UBUS_ATTR_*). */
export const UbusAttr = {
  UNSPEC: 0, STATUS: 1, OBJPATH: 2, OBJID: 3, METHOD: 4, OBJTYPE: 5, SIGNATURE: 6, DATA: 7,
  TARGET: 8, ACTIVE: 9, NO_REPLY: 10, SUBSCRIBERS: 11, USER: 12, GROUP: 13,
} as const;

/** UBUSD's limit on the outer blob (header excluded). */
export const UBUS_MAX_MSGLEN = 1048576;
export const HEADER_LEN = 8;

export const statusName = ubusStatusName;
/** The sentence the C CLI prints for a status (libubus ubus_strerror). */
export const strerror = ubusStrerror;

export const encodeMessage = encodeWire;

export type DecodeError = { error: 'short' | 'bad-length' | 'bad-version' | 'exception'; detail: string };
export type DecodeResult = { ok: true; msg: UbusMessage } | { ok: false; err: DecodeError };

/** One whole frame → message or a typed error; never throws. */
export function decodeMessage(buf: Buffer): DecodeResult {
  if (buf.length < HEADER_LEN + 4) return { ok: false, err: { error: 'short', detail: `${buf.length} bytes` } };
  if (buf[0] !== 0) return { ok: false, err: { error: 'bad-version', detail: `version ${buf[0]}` } };
  const len = buf.readUInt32BE(8) & 0xffffff;
  if (len < 4 || len > UBUS_MAX_MSGLEN || HEADER_LEN + len > buf.length) {
    return { ok: false, err: { error: 'bad-length', detail: `outer length ${len} in ${buf.length} bytes` } };
  }
  try {
    return { ok: true, msg: decodeWire(buf.subarray(0, HEADER_LEN + len)) };
  } catch (e) {
    // wire.ts skips malformed attributes; this only guards against a future throw
    return { ok: false, err: { error: 'exception', detail: e instanceof Error ? e.message : String(e) } };
  }
}

export type FrameEvent = { kind: 'message'; msg: UbusMessage; bytes: Buffer } | { kind: 'error'; err: DecodeError };

/**
 * Reassembles a byte stream into messages. A bad outer length (< 4 or > 1 MiB)
 * is fatal: the stream cannot be resynchronised, so the reader stops for good.
 */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  private dead: DecodeError | undefined;

  get failed(): DecodeError | undefined {
    return this.dead;
  }

  /** Bytes held for an incomplete frame. */
  get pending(): number {
    return this.buf.length;
  }

  push(chunk: Buffer): FrameEvent[] {
    if (this.dead) return [];
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: FrameEvent[] = [];
    let off = 0;
    while (this.buf.length - off >= HEADER_LEN + 4) {
      const len = this.buf.readUInt32BE(off + 8) & 0xffffff;
      if (len < 4 || len > UBUS_MAX_MSGLEN) {
        this.dead = { error: 'bad-length', detail: `outer length ${len}` };
        out.push({ kind: 'error', err: this.dead });
        this.buf = Buffer.alloc(0);
        return out;
      }
      const total = HEADER_LEN + ((len + 3) & ~3);
      // the last frame of a stream may lack its padding
      if (this.buf.length - off < HEADER_LEN + len) break;
      const bytes = this.buf.subarray(off, off + HEADER_LEN + len);
      const r = decodeMessage(bytes);
      out.push(r.ok ? { kind: 'message', msg: r.msg, bytes } : { kind: 'error', err: r.err });
      off = Math.min(off + total, this.buf.length);
    }
    this.buf = off === this.buf.length ? Buffer.alloc(0) : Buffer.from(this.buf.subarray(off));
    return out;
  }
}

const msg = (type: MsgType, seq: number, peer: number, attrs: WireAttrs): Buffer => encodeWire({ type, seq, peer, attrs });
const body = (data: Buffer | TableInput | undefined): Buffer | undefined =>
  data === undefined || Buffer.isBuffer(data) ? data : encodeTableBody(data);

/** LOOKUP; without a path, ubusd lists every object. */
export const buildLookup = (seq: number, path?: string): Buffer => msg(MsgType.LOOKUP, seq, 0, path === undefined ? {} : { objpath: path });

/** INVOKE: peer is the object id, as libubus sends it. */
export function buildInvoke(seq: number, objid: number, method: string, data?: Buffer | TableInput, noReply?: boolean): Buffer {
  return msg(MsgType.INVOKE, seq, objid, { objid, method, data: body(data) ?? Buffer.alloc(0), ...(noReply ? { noReply } : {}) });
}

export type AddObjectSpec = { path: string; signature: Record<string, Record<string, number>> } | { path: string; objtype: number } | { anonymous: true };

export function buildAddObject(seq: number, spec: AddObjectSpec): Buffer {
  if ('anonymous' in spec) return msg(MsgType.ADD_OBJECT, seq, 0, {});
  if ('objtype' in spec) return msg(MsgType.ADD_OBJECT, seq, 0, { objpath: spec.path, objtype: spec.objtype });
  return msg(MsgType.ADD_OBJECT, seq, 0, { objpath: spec.path, signature: spec.signature });
}

export const buildRemoveObject = (seq: number, objid: number): Buffer => msg(MsgType.REMOVE_OBJECT, seq, 0, { objid });
export const buildSubscribe = (seq: number, subscriberId: number, target: number): Buffer =>
  msg(MsgType.SUBSCRIBE, seq, 0, { objid: subscriberId, target });
export const buildUnsubscribe = (seq: number, subscriberId: number, target: number): Buffer =>
  msg(MsgType.UNSUBSCRIBE, seq, 0, { objid: subscriberId, target });

/** NOTIFY from an object to its subscribers; noReply as ubus_notify with timeout < 0. */
export function buildNotify(seq: number, objid: number, type: string, data?: Buffer | TableInput, noReply?: boolean): Buffer {
  return msg(MsgType.NOTIFY, seq, objid, { objid, method: type, data: body(data) ?? Buffer.alloc(0), ...(noReply ? { noReply } : {}) });
}

/** Reply to a request: peer = the requester, objid = the invoked object. */
export const buildStatusReply = (seq: number, peer: number, objid: number, status: number): Buffer =>
  msg(MsgType.STATUS, seq, peer, { status, objid });
export const buildDataReply = (seq: number, peer: number, objid: number, data: Buffer | TableInput): Buffer =>
  msg(MsgType.DATA, seq, peer, { objid, data: body(data) ?? Buffer.alloc(0) });

/** Event registration: INVOKE "register" on the event object (id 1). */
export function buildEventRegister(seq: number, listenerObjid: number, pattern: string): Buffer {
  return buildInvoke(seq, 1, 'register', { object: int32raw(listenerObjid), pattern });
}

/** Event send: INVOKE "send" on the event object with {id, data}. */
export function buildEventSend(seq: number, type: string, data: Buffer | TableInput = {}): Buffer {
  const inner = Buffer.isBuffer(data) ? data : encodeTableBody(data);
  return buildInvoke(seq, 1, 'send', Buffer.concat([encodeTableBody({ id: type }), blobmsgTable('data', inner)]));
}

// libubus puts u32 ids into INT32 attributes: same bits, signed view.
const int32raw = (v: number): ReturnType<typeof int32> => int32(v | 0);


