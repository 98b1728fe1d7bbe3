// One netlink socket: requests matched to replies by sequence number, ACKs with
// extended-ack text, a timeout on every request, dumps serialized (the kernel runs
// one dump per socket at a time), other requests pipelined: queued requests are
// sent together in one datagram (the kernel processes every message of a datagram
// and acks each), at most `window` awaiting their ACK so the ACKs cannot overflow
// our receive queue.
//
// A socket with multicast groups is an event socket: every message goes to
// 'message', a receive-queue overflow (ENOBUFS) to 'overflow' — events were lost,
// the caller must resync with dumps. Request and event sockets are kept apart
// because notifications carry the requester's port id and sequence number.
import { EventEmitter } from 'node:events';
import { Attrs, MessageBuilder, splitMessages, type NlMessage } from './attrs.ts';
import { NetlinkError } from './errors.ts';
import { r16, r32, ri32, w16 } from './host.ts';
import { loadNative, OPEN_CAP_ACK, OPEN_EXT_ACK, OPEN_STRICT_CHK, type NativeHandle, type NativeNetlink } from './native.ts';

export const NETLINK_ROUTE = 0;
export const NETLINK_XFRM = 6;
export const NETLINK_GENERIC = 16;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_DUMP = 0x300;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
const NLM_F_CAPPED = 0x100;
const NLM_F_ACK_TLVS = 0x200;

export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
const NLMSGERR_ATTR_MSG = 1;

const ENOBUFS = 105;
const ETIMEDOUT = 110;
/** timeout resolution */
const SWEEP_MS = 25;

/** A monotonic clock in ms. Not performance.now(): the global `performance` loads perf_hooks
 *  and ten modules behind it (0.5 MB of the daemon's memory) for one subtraction. */
function nowMs(): number {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
}
const EBADF = 9;
const EINTR = 4;

export interface SocketOptions {
  /** open the socket inside /run/netns/NAME */
  netns?: string;
  /** receive buffer in bytes (SO_RCVBUFFORCE, falls back to SO_RCVBUF) */
  rcvbuf?: number;
  /** multicast groups: makes this an event socket */
  groups?: number[];
  /** per-request timeout, default 5000 ms (a dump's timer restarts on every part) */
  timeoutMs?: number;
  /** max requests awaiting their ACK, default 128 */
  window?: number;
}

export interface RequestOptions {
  timeoutMs?: number;
  /** ask for an ACK (default true); without one only a reply or an error ends the request */
  ack?: boolean;
}

/** what a request does, for error messages; a function when building the text costs more than the request */
export type OpText = string | (() => string);
const opText = (op: OpText): string => (typeof op === 'string' ? op : op());

interface Pending {
  seq: number;
  op: OpText;
  dump: boolean;
  ack: boolean;
  replies: NlMessage[];
  interrupted: boolean;
  timeoutMs: number;
  deadline: number;
  resolve: (m: NlMessage[]) => void;
  reject: (e: Error) => void;
}

interface Queued {
  buf: Buffer;
  p: Pending;
}

/** Reads errno and extack from an NLMSG_ERROR payload (or the int + TLVs of NLMSG_DONE). */
export function parseError(m: NlMessage): { errno: number; extack: string | undefined } {
  const errno = m.data.length >= 4 ? -ri32(m.data, 0) : 0;
  let extack: string | undefined;
  if (m.flags & NLM_F_ACK_TLVS) {
    let off = 4;
    if (m.type === NLMSG_ERROR) {
      const origLen = m.data.length >= 8 ? r32(m.data, 4) : 16;
      off += m.flags & NLM_F_CAPPED ? 16 : (origLen + 3) & ~3;
    }
    if (off < m.data.length) extack = Attrs.parse(m.data, off).str(NLMSGERR_ATTR_MSG);
  }
  return { errno, extack };
}

export class NlSocket extends EventEmitter {
  readonly protocol: number;
  readonly netns: string | undefined;
  readonly portid: number;
  private readonly native: NativeNetlink;
  private handle: NativeHandle | undefined;
  private seq: number;
  private readonly pending = new Map<number, Pending>();
  private readonly queue: Queued[] = [];
  private readonly dumpQueue: Queued[] = [];
  private dumpRunning = false;
  private inflight = 0;
  private flushScheduled = false;
  private sweeper: NodeJS.Timeout | undefined;
  private refed = true; // uv_poll_start refs the handle
  private readonly timeoutMs: number;
  private readonly window: number;
  readonly isEventSocket: boolean;

  constructor(protocol: number, opts: SocketOptions = {}) {
    super();
    this.protocol = protocol;
    this.netns = opts.netns;
    this.native = loadNative();
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.window = opts.window ?? 128;
    this.isEventSocket = (opts.groups?.length ?? 0) > 0;
    const flags = OPEN_EXT_ACK | OPEN_STRICT_CHK | OPEN_CAP_ACK;
    // Request sockets get a roomy buffer so a full window of ACKs and dump parts fit.
    const rcvbuf = opts.rcvbuf ?? (this.isEventSocket ? 1 << 20 : 1 << 21);
    try {
      this.handle = this.native.open(protocol, opts.netns ?? null, rcvbuf, flags);
    } catch (e) {
      throw toNetlinkError(e, `socket(${protocol})${opts.netns ? ` in netns ${opts.netns}` : ''}`);
    }
    this.portid = this.native.portid(this.handle);
    this.seq = (Date.now() & 0x3fffffff) + 1;
    try {
      for (const g of opts.groups ?? []) this.native.addMembership(this.handle, g);
    } catch (e) {
      this.close();
      throw toNetlinkError(e, 'NETLINK_ADD_MEMBERSHIP');
    }
    this.native.start(this.handle, (errno, batch) => this.onBatch(errno, batch));
    this.setRef(this.isEventSocket);
  }

  get closed(): boolean {
    return this.handle === undefined;
  }

  private setRef(on: boolean): void {
    if (this.handle && on !== this.refed) {
      this.native.ref(this.handle, on);
      this.refed = on;
    }
  }

  private nextSeq(): number {
    this.seq = this.seq >= 0x7fffffff ? 1 : this.seq + 1;
    return this.seq;
  }

  /** A non-dump request. Resolves to the reply messages (none for a plain ACK). */
  request(msg: MessageBuilder, op: OpText, opts: RequestOptions = {}): Promise<NlMessage[]> {
    const flags = NLM_F_REQUEST | (opts.ack === false ? 0 : NLM_F_ACK);
    return this.enqueue(msg, flags, op, false, opts.timeoutMs);
  }

  /** A dump request (NLM_F_DUMP), serialized with other dumps on this socket. */
  async dump(msg: MessageBuilder, op: OpText, opts: RequestOptions = {}): Promise<NlMessage[]> {
    // An interrupted dump (NLM_F_DUMP_INTR: the set changed meanwhile) is retried.
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.enqueue(msg, NLM_F_REQUEST | NLM_F_DUMP, op, true, opts.timeoutMs);
      } catch (e) {
        if (!(e instanceof NetlinkError && e.errno === EINTR && attempt < 3)) throw e;
      }
    }
  }

  private enqueue(msg: MessageBuilder, extraFlags: number, op: OpText, dump: boolean, timeoutMs?: number): Promise<NlMessage[]> {
    if (!this.handle) return Promise.reject(new NetlinkError(EBADF, opText(op), undefined, 'socket closed'));
    const seq = this.nextSeq();
    const buf = msg.finish(seq);
    w16(buf, msg.flags | extraFlags, 6);
    return new Promise<NlMessage[]>((resolve, reject) => {
      const p: Pending = {
        seq,
        op,
        dump,
        ack: dump || (extraFlags & NLM_F_ACK) !== 0,
        replies: [],
        interrupted: false,
        timeoutMs: timeoutMs ?? this.timeoutMs,
        deadline: 0,
        resolve,
        reject,
      };
      (dump ? this.dumpQueue : this.queue).push({ buf, p });
      this.scheduleFlush();
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Requests issued in the same tick go out in one datagram.
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  // One sweeping timer per socket instead of one timer per request: thousands of
  // pipelined requests would otherwise spend more time in timers than in the kernel.
  private armTimer(p: Pending): void {
    p.deadline = nowMs() + p.timeoutMs;
    if (!this.sweeper) {
      this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
      this.sweeper.unref();
    }
  }

  private sweep(): void {
    const now = nowMs();
    for (const p of [...this.pending.values()]) {
      if (p.deadline <= now) this.finish(p, new NetlinkError(ETIMEDOUT, opText(p.op), undefined, `no reply within ${p.timeoutMs} ms`));
    }
    if (this.pending.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  private flush(): void {
    if (!this.handle) return;
    if (!this.dumpRunning && this.dumpQueue.length > 0) {
      const q = this.dumpQueue.shift() as Queued;
      this.dumpRunning = true;
      this.sendBatch([q]);
    }
    while (this.queue.length > 0 && this.inflight < this.window) {
      const batch: Queued[] = [];
      let bytes = 0;
      while (this.queue.length > 0 && this.inflight + batch.length < this.window && bytes < 32768) {
        const q = this.queue.shift() as Queued;
        batch.push(q);
        bytes += q.buf.length;
      }
      this.inflight += batch.length;
      this.sendBatch(batch);
    }
    this.setRef(this.isEventSocket || this.pending.size > 0);
  }

  private sendBatch(batch: Queued[]): void {
    for (const q of batch) {
      this.pending.set(q.p.seq, q.p);
      this.armTimer(q.p);
    }
    try {
      this.native.send(this.handle as NativeHandle, batch.length === 1 ? (batch[0] as Queued).buf : Buffer.concat(batch.map((q) => q.buf)));
    } catch (e) {
      for (const q of batch) this.finish(q.p, toNetlinkError(e, opText(q.p.op)));
    }
  }

  private finish(p: Pending, err: Error | undefined): void {
    if (this.pending.get(p.seq) !== p) return;
    this.pending.delete(p.seq);
    if (p.dump) this.dumpRunning = false;
    else this.inflight--;
    if (err) p.reject(err);
    else p.resolve(p.replies);
    if (this.queue.length > 0 || this.dumpQueue.length > 0) this.scheduleFlush();
    else this.setRef(this.isEventSocket || this.pending.size > 0);
  }

  private onBatch(errno: number, batch: Buffer): void {
    for (let o = 0; o + 4 <= batch.length; ) {
      const len = r32(batch, o);
      const start = o + 4;
      o = start + ((len + 3) & ~3);
      // Fast path for a datagram of plain ACKs (bulk changes): no per-message objects.
      if (!this.isEventSocket && this.onAcks(batch, start, start + len)) continue;
      for (const m of splitMessages(batch.subarray(start, start + len))) this.onMessage(m);
    }
    if (errno === ENOBUFS) {
      if (this.isEventSocket) this.emit('overflow');
      // A request socket lost replies: nothing pending can be trusted to complete.
      for (const p of [...this.pending.values()]) this.finish(p, new NetlinkError(ENOBUFS, opText(p.op), undefined, 'receive queue overflow'));
    } else if (errno !== 0) {
      // never thrown from the receive callback: an unhandled 'error' would end the daemon
      if (this.listenerCount('error') > 0) this.emit('error', new NetlinkError(errno, 'recv'));
    }
  }

  /** true if every message of d was a successful ACK for a pending request (and has been handled) */
  private onAcks(d: Buffer, start: number, end: number): boolean {
    if (end - start < 20) return false;
    for (let p = start; p + 20 <= end; ) {
      const len = r32(d, p);
      if (len < 20 || p + len > end || r16(d, p + 4) !== NLMSG_ERROR || ri32(d, p + 16) !== 0 || r32(d, p + 12) !== this.portid) return false;
      const q = this.pending.get(r32(d, p + 8));
      if (!q || q.dump) return false;
      p += (len + 3) & ~3;
    }
    for (let p = start; p + 20 <= end; p += (r32(d, p) + 3) & ~3) {
      const q = this.pending.get(r32(d, p + 8));
      if (q) this.finish(q, undefined);
    }
    return true;
  }

  private onMessage(m: NlMessage): void {
    const p = m.pid === this.portid ? this.pending.get(m.seq) : undefined;
    if (!p) {
      if (m.type !== NLMSG_NOOP) this.emit('message', m);
      return;
    }
    if (m.flags & NLM_F_DUMP_INTR) p.interrupted = true;
    if (m.type === NLMSG_ERROR) {
      const { errno, extack } = parseError(m);
      this.finish(p, errno === 0 ? undefined : new NetlinkError(errno, opText(p.op), extack));
    } else if (m.type === NLMSG_DONE) {
      const { errno, extack } = parseError(m);
      if (errno !== 0) this.finish(p, new NetlinkError(errno, opText(p.op), extack));
      else this.finish(p, p.interrupted ? new NetlinkError(EINTR, opText(p.op), undefined, 'dump interrupted') : undefined);
    } else {
      p.replies.push(m);
      if (p.dump) this.armTimer(p);
      // A non-dump GET without ACK ends with its single reply.
      else if (!(m.flags & NLM_F_MULTI) && p.replies.length === 1 && !p.ack) this.finish(p, undefined);
    }
  }

  close(): void {
    if (!this.handle) return;
    const h = this.handle;
    this.handle = undefined;
    this.native.close(h);
    for (const p of [...this.pending.values()]) this.finish(p, new NetlinkError(EBADF, opText(p.op), undefined, 'socket closed'));
    for (const q of [...this.queue, ...this.dumpQueue]) q.p.reject(new NetlinkError(EBADF, opText(q.p.op), undefined, 'socket closed'));
    this.queue.length = 0;
    this.dumpQueue.length = 0;
    this.removeAllListeners('message');
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}

export function toNetlinkError(e: unknown, op: string): NetlinkError {
  if (e instanceof NetlinkError) return e;
  const errno = typeof (e as { errno?: unknown })?.errno === 'number' ? (e as { errno: number }).errno : 5;
  return new NetlinkError(errno, op, undefined, e instanceof Error ? e.message : String(e));
}
