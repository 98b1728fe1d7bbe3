// Objects we publish on the bus: methods with argument policies, INVOKE
// dispatch with libubus semantics, replies now or later, ACTIVE tracking and
// notifications to our subscribers.
import { EventEmitter } from 'node:events';
import type { WireMessage } from './wire.ts';
import { BlobmsgType, decodeTableBody, decodeTableEntries, encodeTableBody, MsgType, type Table, type TableInput } from './wire.ts';
import { Status, UbusError, statusOfError } from './errors.ts';
import type { UbusConnection } from './connection.ts';
import type { Logger } from '../log.ts';

/** A decoded blobmsg table (JSON mapping of the codec). */
export type UbusTable = Table;
/** What handlers may return / send: plain JSON plus the codec's forced types. */
export type UbusTableInput = TableInput;

/** Argument name → exact blobmsg type (BlobmsgType.STRING, INT32, BOOL …). */
export type Policy = Record<string, BlobmsgType>;

export interface UbusRequest {
  readonly object: UbusObject;
  readonly method: string;
  /** arguments that match the policy by name and exact type (others dropped) */
  readonly args: UbusTable;
  /** the whole DATA table */
  readonly data: UbusTable;
  /** the caller's user and group names (absent for events) */
  readonly user: string | undefined;
  readonly group: string | undefined;
  /** caller's client id */
  readonly peer: number;
  /** true when the caller asked for no reply (a NO_REPLY notification) */
  readonly noReply: boolean;
  /** sends one DATA record now; the handler's return value becomes the last one */
  reply(data: UbusTableInput): void;
}

/**
 * A handler returns a table (sent as DATA, then STATUS 0), nothing (STATUS 0),
 * a number (that status, no DATA, like a libubus handler's return value), or
 * throws UbusError(status). An async handler is a deferred reply: the STATUS
 * goes out when its promise settles. The return type is `unknown` so handler
 * tables need no casts; what cannot be encoded is answered UNKNOWN_ERROR.
 */
export type MethodHandler = (req: UbusRequest) => unknown;

export interface MethodDef {
  policy?: Policy;
  handler: MethodHandler;
}

export type Methods = Record<string, MethodDef | MethodHandler>;

/**
 * Strict policy parsing like blobmsg_parse: a field counts only when its name
 * and its exact type match; a wrongly typed one is treated as absent.
 */
export function parsePolicy(body: Buffer, policy: Policy): UbusTable {
  const out: Record<string, unknown> = {};
  for (const e of decodeTableEntries(body)) {
    if (!Object.hasOwn(policy, e.name)) continue;
    const want = policy[e.name];
    if (want === undefined || e.type !== want) continue;
    // an own "__proto__" key must not set the prototype
    Object.defineProperty(out, e.name, { value: e.value, enumerable: true, writable: true, configurable: true });
  }
  return out as UbusTable;
}

/** Sends the replies of one INVOKE with libubus rules. */
export function replyTo(conn: UbusConnection, inv: WireMessage, objid: number, status: number, data: Buffer[] = []): void {
  if (inv.attrs.noReply) return;
  try {
    for (const d of data) conn.send({ type: MsgType.DATA, seq: inv.seq, peer: inv.peer, attrs: { objid, data: d } });
    conn.send({ type: MsgType.STATUS, seq: inv.seq, peer: inv.peer, attrs: { status, objid } });
  } catch {
    // a reply over 1 MiB: tell the caller instead of leaving it hanging
    conn.send({ type: MsgType.STATUS, seq: inv.seq, peer: inv.peer, attrs: { status: Status.INVALID_ARGUMENT, objid } });
  }
}

export interface ObjectEvents {
  /** ubusd's ACTIVE notification: first subscriber arrived / last one left */
  subscribers: [boolean];
  /** (re-)registered with a new id */
  added: [number];
}

export interface NotifyOptions {
  /** wait for each subscriber's status, at most this long (ms) */
  timeoutMs?: number;
  /** NO_REPLY: send and return at once */
  noReply?: boolean;
}

/** Host interface an object needs from the client (kept narrow for tests). */
export interface ObjectHost {
  connection(): UbusConnection | undefined;
  removeObject(obj: UbusObject): Promise<void>;
  readonly log: Logger;
}

export class UbusObject extends EventEmitter<ObjectEvents> {
  readonly path: string;
  readonly methods: ReadonlyMap<string, MethodDef>;
  /** current object id; undefined while not registered (disconnected) */
  id: number | undefined;
  typeId: number | undefined;
  /** whether anyone is subscribed (from ubusd's ACTIVE notifications) */
  hasSubscribers = false;
  private readonly host: ObjectHost;

  constructor(host: ObjectHost, path: string, methods: Methods) {
    super();
    this.host = host;
    this.path = path;
    const m = new Map<string, MethodDef>();
    for (const [name, def] of Object.entries(methods)) m.set(name, typeof def === 'function' ? { handler: def } : def);
    this.methods = m;
  }

  /** SIGNATURE contents: method → {arg: blobmsg type}. */
  signature(): Record<string, Record<string, number>> {
    const sig: Record<string, Record<string, number>> = {};
    for (const [name, def] of this.methods) sig[name] = { ...(def.policy ?? {}) };
    return sig;
  }

  /** Removes the object from the bus and forgets it (no re-registration). */
  remove(): Promise<void> {
    return this.host.removeObject(this);
  }

  /**
   * Notifies our subscribers. With a reply: resolves with subscriber id →
   * status for those that answered before the timeout. With noReply: resolves
   * once sent, with an empty map.
   */
  async notify(type: string, data: UbusTableInput = {}, opts: NotifyOptions = {}): Promise<Map<number, number>> {
    const conn = this.host.connection();
    if (!conn || this.id === undefined) throw new UbusError(Status.CONNECTION_FAILED, 'not connected');
    const body = encodeTableBody(data);
    if (opts.noReply) {
      conn.send({ type: MsgType.NOTIFY, seq: 0, peer: this.id, attrs: { objid: this.id, method: type, data: body, noReply: true } });
      return new Map();
    }
    const r = await conn.request(MsgType.NOTIFY, this.id, { objid: this.id, method: type, data: body }, { timeoutMs: opts.timeoutMs, notify: true });
    return r.subscribers ?? new Map();
  }

  /** Serves one INVOKE addressed to this object (libubus semantics). */
  handleInvoke(conn: UbusConnection, inv: WireMessage): void {
    const objid = inv.attrs.objid ?? 0;
    const method = inv.attrs.method;
    const body = inv.attrs.data;
    if (method === undefined || body === undefined) return replyTo(conn, inv, objid, Status.INVALID_ARGUMENT);
    const def = this.methods.get(method);
    if (!def) return replyTo(conn, inv, objid, Status.METHOD_NOT_FOUND);
    let data: UbusTable;
    let args: UbusTable;
    try {
      data = decodeTableBody(body);
      args = def.policy ? parsePolicy(body, def.policy) : data;
    } catch {
      return replyTo(conn, inv, objid, Status.INVALID_ARGUMENT);
    }
    const early: Buffer[] = [];
    let done = false;
    let sync = true;
    const req: UbusRequest = {
      object: this,
      method,
      args,
      data,
      user: inv.attrs.user,
      group: inv.attrs.group,
      peer: inv.peer,
      noReply: Boolean(inv.attrs.noReply),
      reply: (d) => {
        if (done) return;
        const b = encodeTableBody(d);
        // before the first await we batch; later we stream
        if (sync) early.push(b);
        else if (!inv.attrs.noReply) conn.send({ type: MsgType.DATA, seq: inv.seq, peer: inv.peer, attrs: { objid, data: b } });
      },
    };
    const finish = (status: number, last?: unknown): void => {
      if (done) return;
      done = true;
      const out = [...early];
      try {
        if (typeof last === 'number') status = last | 0;
        else if (typeof last === 'object' && last !== null && !Array.isArray(last)) out.push(encodeTableBody(last as UbusTableInput));
        else if (last !== undefined && last !== null) throw new TypeError(`cannot reply with a ${typeof last}`);
      } catch (e) {
        this.host.log.warn({ err: e, path: this.path, method }, 'ubus handler returned an unencodable reply');
        status = Status.UNKNOWN_ERROR;
        out.length = 0;
      }
      // the connection may have been replaced while we waited: reply only on the one that asked
      if (conn.isOpen) replyTo(conn, inv, objid, status, out);
    };
    const fail = (e: unknown): void => {
      if (!(e instanceof UbusError)) this.host.log.warn({ err: e, path: this.path, method }, 'ubus handler failed');
      finish(statusOfError(e));
    };
    try {
      const r = def.handler(req);
      if (r instanceof Promise) {
        sync = false;
        // stream what was produced before the first await, keep the order
        if (!inv.attrs.noReply) for (const b of early.splice(0)) conn.send({ type: MsgType.DATA, seq: inv.seq, peer: inv.peer, attrs: { objid, data: b } });
        r.then((v) => finish(Status.OK, v), fail);
      } else finish(Status.OK, r);
    } catch (e) {
      fail(e);
    }
    sync = false;
  }
}
