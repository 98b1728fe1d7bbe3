// One ubusd socket lifetime: framing, HELLO, the request table and the
// unsolicited message stream. Reconnecting is the client's job (client.ts):
// when this socket dies every pending request fails with CONNECTION_FAILED and
// the connection is never reused.
import { EventEmitter } from 'node:events';
import { UnixStream, type StreamHandlers } from './transport.ts';
import { blobmsgWithinDepth, decodeMessage, encodeMessage, MAX_BLOBMSG_DEPTH, MsgType, type WireMessage } from './wire.ts';
import { Status, UbusError } from './errors.ts';

export const DEFAULT_SOCKET = '/var/run/ubus/ubus.sock';
/** ubusd's UBUS_MAX_MSGLEN: the outer blob length (header not counted), padded. */
export const MAX_MSGLEN = 1048576;
const HDR = 8;

export interface RequestOptions {
  /** ms; 0 = wait forever */
  timeoutMs?: number;
}

export interface ConnectionRequestOptions extends RequestOptions {
  /** NOTIFY with reply: also wait for every subscriber's STATUS */
  notify?: boolean;
  /**
   * Resolve (instead of rejecting with UbusError) when the final STATUS is not
   * OK, so the DATA that came before it stays reachable: the C `ubus call`
   * prints every DATA it got and then the error (spec §7.3). Check
   * `result.status`. Timeouts and connection loss still reject.
   */
  allowStatus?: boolean;
  /**
   * Called for each DATA reply as it arrives (libubus data_cb), so a caller can
   * use what came before a timeout too. The DATA is still collected in `data`.
   * An exception it throws is swallowed.
   */
  onData?: (msg: WireMessage) => void;
}

/** Replies collected for one request: every DATA (in order) and the final STATUS. */
export interface RequestResult {
  /** OK unless the request was made with allowStatus */
  status: number;
  data: WireMessage[];
  statusMsg: WireMessage | undefined;
  /** NOTIFY: subscriber id → its status (missing = no answer before the timeout) */
  subscribers?: Map<number, number>;
}

interface Pending {
  seq: number;
  keys: number[];
  data: WireMessage[];
  timer: NodeJS.Timeout | undefined;
  resolve: (r: RequestResult) => void;
  reject: (e: Error) => void;
  /** NOTIFY with reply: after ubusd's STATUS we wait for each listed subscriber */
  notify: boolean;
  allowStatus: boolean;
  onData?: (msg: WireMessage) => void;
  first?: WireMessage;
  subscribers?: Map<number, number>;
  waiting?: Set<number>;
}

const key = (seq: number, peer: number): number => seq * 0x1_0000_0000 + (peer >>> 0);

export interface ConnectionEvents {
  /** unsolicited INVOKE / NOTIFY / UNSUBSCRIBE from ubusd */
  message: [WireMessage];
  close: [Error | undefined];
}

export class UbusConnection extends EventEmitter<ConnectionEvents> {
  readonly clientId: number;
  private readonly sock: UnixStream;
  private readonly pending = new Map<number, Pending>();
  private readonly inFlight = new Set<number>();
  private seq = 0;
  private closed = false;
  private closeError: Error | undefined;
  private buf: Buffer = Buffer.alloc(0);
  readonly defaultTimeoutMs: number;

  private constructor(sock: UnixStream, route: StreamHandlers, clientId: number, rest: Buffer, timeoutMs: number) {
    super();
    this.sock = sock;
    this.clientId = clientId;
    this.defaultTimeoutMs = timeoutMs;
    route.data = (chunk) => this.onData(chunk);
    route.close = (e) => this.shutdown(new UbusError(Status.CONNECTION_FAILED, e?.message ?? 'connection to ubusd lost', e ? { cause: e } : {}));
    // after the opener has attached its listeners
    if (rest.length > 0) setImmediate(() => this.onData(rest));
  }

  /** Connects and waits for ubusd's HELLO (whose peer is our client id). */
  static open(socketPath: string, opts: { timeoutMs?: number; helloTimeoutMs?: number } = {}): Promise<UbusConnection> {
    const timeoutMs = opts.timeoutMs ?? 30_000;
    return new Promise((resolve, reject) => {
      let acc: Buffer = Buffer.alloc(0);
      let done = false;
      let sock: UnixStream | undefined;
      const timer = setTimeout(() => fail(new UbusError(Status.CONNECTION_FAILED, 'no HELLO from ubusd')), opts.helloTimeoutMs ?? 5000);
      const fail = (e: Error): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        sock?.destroy();
        reject(e instanceof UbusError ? e : new UbusError(Status.CONNECTION_FAILED, e.message, { cause: e }));
      };
      // the stream's callbacks go here until HELLO, then to the connection
      const route: StreamHandlers = {
        data: (chunk) => {
          acc = acc.length ? Buffer.concat([acc, chunk]) : chunk;
          if (acc.length < HDR + 4) return;
          const len = acc.readUInt32BE(8) & 0xffffff;
          if (len < 4 || len > MAX_MSGLEN) return fail(new UbusError(Status.CONNECTION_FAILED, 'bad HELLO framing'));
          if (acc.length < HDR + len) return;
          if (acc[1] !== MsgType.HELLO) return fail(new UbusError(Status.CONNECTION_FAILED, 'first message is not HELLO'));
          done = true;
          clearTimeout(timer);
          resolve(new UbusConnection(sock!, route, acc.readUInt32BE(4), acc.subarray(HDR + len), timeoutMs));
        },
        close: (e) => fail(e ?? new UbusError(Status.CONNECTION_FAILED, 'closed before HELLO')),
      };
      try {
        sock = new UnixStream(socketPath, { data: (c) => route.data(c), close: (e) => route.close(e) });
      } catch (e) {
        fail(e as Error);
      }
    });
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  close(): void {
    this.shutdown(new UbusError(Status.CONNECTION_FAILED, 'connection closed'));
  }

  /** Next u16 seq that is not in flight (libubus starts at 1 and wraps). */
  private nextSeq(): number {
    for (let i = 0; i < 0x10000; i++) {
      this.seq = (this.seq + 1) & 0xffff;
      if (!this.inFlight.has(this.seq)) return this.seq;
    }
    throw new UbusError(Status.NO_MEMORY, 'all 65536 sequence numbers in flight');
  }

  private encodeChecked(msg: WireMessage): Buffer {
    const bytes = encodeMessage(msg);
    const len = bytes.length - HDR;
    if (((len + 3) & ~3) > MAX_MSGLEN) throw new UbusError(Status.INVALID_ARGUMENT, `message of ${bytes.length} bytes exceeds the 1 MiB limit`);
    return bytes;
  }

  /** Fire and forget (replies to INVOKEs, NO_REPLY notifications). Returns false when not sent. */
  send(msg: WireMessage): boolean {
    if (this.closed) return false;
    this.write(this.encodeChecked(msg));
    return true;
  }

  private write(bytes: Buffer): void {
    this.sock.write(bytes);
  }

  /**
   * Sends a request with a fresh seq and resolves with the replies matched on
   * (seq, peer). Non-OK status rejects with UbusError unless `allowStatus`.
   */
  request(
    type: MsgType,
    peer: number,
    attrs: WireMessage['attrs'],
    opts: ConnectionRequestOptions = {},
  ): Promise<RequestResult> {
    if (this.closed) return Promise.reject(this.closeError ?? new UbusError(Status.CONNECTION_FAILED, 'not connected'));
    let seq: number;
    let bytes: Buffer;
    try {
      seq = this.nextSeq();
      bytes = this.encodeChecked({ type, seq, peer: peer >>> 0, attrs });
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<RequestResult>((resolve, reject) => {
      const p: Pending = { seq, keys: [key(seq, peer)], data: [], timer: undefined, resolve, reject, notify: opts.notify ?? false, allowStatus: opts.allowStatus ?? false, onData: opts.onData };
      const timeoutMs = opts.timeoutMs ?? this.defaultTimeoutMs;
      if (timeoutMs > 0) {
        p.timer = setTimeout(() => {
          // A notify that got ubusd's STATUS resolves with whoever answered.
          if (p.first && p.subscribers) return this.finish(p, null);
          this.finish(p, new UbusError(Status.TIMEOUT, `request timed out after ${timeoutMs} ms`));
        }, timeoutMs);
        p.timer.unref?.();
      }
      this.pending.set(p.keys[0]!, p);
      this.inFlight.add(seq);
      this.write(bytes);
    });
  }

  private finish(p: Pending, err: Error | null): void {
    if (p.timer) clearTimeout(p.timer);
    for (const k of p.keys) this.pending.delete(k);
    this.inFlight.delete(p.seq);
    if (err) return p.reject(err);
    const st = p.first?.attrs.status ?? Status.NO_DATA;
    if (st !== Status.OK && !p.allowStatus) return p.reject(new UbusError(st));
    p.resolve({ status: st, data: p.data, statusMsg: p.first, subscribers: p.subscribers });
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    let off = 0;
    while (this.buf.length - off >= HDR + 4) {
      const len = this.buf.readUInt32BE(off + HDR) & 0xffffff;
      // Framing errors: nothing after this point can be trusted.
      if (len < 4 || ((len + 3) & ~3) > MAX_MSGLEN) {
        this.shutdown(new UbusError(Status.CONNECTION_FAILED, `bad frame length ${len}`));
        return;
      }
      if (this.buf.length - off < HDR + len) break;
      const frame = this.buf.subarray(off, off + HDR + len);
      off += HDR + len;
      this.onFrame(frame);
      if (this.closed) return;
    }
    this.buf = off === this.buf.length ? Buffer.alloc(0) : Buffer.from(this.buf.subarray(off));
  }

  private onFrame(frame: Buffer): void {
    if (frame[0] !== 0) return; // libubus drops messages whose version is not 0
    let msg: WireMessage;
    try {
      msg = decodeMessage(frame);
    } catch {
      return; // malformed body: drop it like libubus does
    }
    // DATA nested deeper than the decoders go (wire.ts MAX_BLOBMSG_DEPTH) is
    // never handed on as a silently truncated table: a reply fails its request,
    // an INVOKE is refused, anything else is dropped.
    if (msg.attrs.data !== undefined && !blobmsgWithinDepth(msg.attrs.data)) return this.onTooDeep(msg);
    switch (msg.type) {
      case MsgType.STATUS:
      case MsgType.DATA:
        return this.onReply(msg);
      case MsgType.INVOKE:
      case MsgType.NOTIFY:
      case MsgType.UNSUBSCRIBE:
        try {
          this.emit('message', msg);
        } catch {
          // a listener bug must not kill the connection
        }
        return;
      default:
        return;
    }
  }

  private onTooDeep(msg: WireMessage): void {
    const detail = `message data nested deeper than ${MAX_BLOBMSG_DEPTH} levels`;
    if (msg.type === MsgType.DATA || msg.type === MsgType.STATUS) {
      const p = this.pending.get(key(msg.seq, msg.peer));
      if (p && !p.first) this.finish(p, new UbusError(Status.PARSE_ERROR, detail));
      return;
    }
    if (msg.type === MsgType.INVOKE && !msg.attrs.noReply && msg.attrs.objid !== undefined) {
      this.send({ type: MsgType.STATUS, seq: msg.seq, peer: msg.peer, attrs: { status: Status.INVALID_ARGUMENT, objid: msg.attrs.objid } });
    }
  }

  private onReply(msg: WireMessage): void {
    const p = this.pending.get(key(msg.seq, msg.peer));
    if (!p) return; // late reply after a timeout, or not ours
    if (msg.type === MsgType.DATA) {
      if (p.first) return;
      p.data.push(msg);
      try {
        p.onData?.(msg);
      } catch {
        // a callback bug must not kill the connection
      }
      return;
    }
    if (!p.first) {
      p.first = msg;
      const subs = msg.attrs.subscribers;
      if (p.notify && msg.attrs.status === Status.OK && subs && subs.length > 0) {
        p.subscribers = new Map();
        p.waiting = new Set(subs.map((s) => s >>> 0));
        for (const s of p.waiting) {
          const k = key(p.seq, s);
          if (!this.pending.has(k)) {
            p.keys.push(k);
            this.pending.set(k, p);
          }
        }
        return;
      }
      return this.finish(p, null);
    }
    // a subscriber's answer to our notification
    if (p.waiting && p.subscribers) {
      const s = msg.peer >>> 0;
      if (!p.waiting.delete(s)) return;
      p.subscribers.set(s, msg.attrs.status ?? Status.NO_DATA);
      if (p.waiting.size === 0) this.finish(p, null);
    }
  }

  private shutdown(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.closeError = err;
    this.sock.destroy();
    const all = new Set(this.pending.values());
    this.pending.clear();
    this.inFlight.clear();
    for (const p of all) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(new UbusError(Status.CONNECTION_FAILED, err.message));
    }
    this.emit('close', err);
  }
}
