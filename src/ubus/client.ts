/**
 * UbusClient: the ubus binding the daemon and the CLI use.
 *
 *   const ubus = new UbusClient({ socketPath, reconnect: true, logger });
 *   await ubus.connect();                                  // resolves once connected
 *   ubus.state / ubus.connected / ubus.clientId            // 'connecting' | 'connected' | 'disconnected' | 'closed'
 *   ubus.on('disconnect' | 'reconnect' | 'connect' | 'state', …)
 *   await ubus.lookup('network.interface*')               // [{path, id, typeId, signature}]
 *   await ubus.waitForObject('network.interface', { timeoutMs })                // like `ubus wait_for`
 *   await ubus.call('network.interface.lan', 'status', {}, { timeoutMs })   // DATA tables, in order
 *   const obj = await ubus.addObject('xfrm', { up: { policy: { name: BlobmsgType.STRING }, handler: async (req) => ({…}) } });
 *   await obj.notify('update', {…}, { noReply: true }); obj.hasSubscribers; obj.on('subscribers', …)
 *   const l = await ubus.listen('network.interface*', (event, data) => …); await l.close();
 *   await ubus.send('xfrm.changed', {…});
 *   const s = await ubus.subscribe('network.interface', (type, n) => …n.data…, { waitForTarget }); await s.close();
 *   ubus.close();
 *
 * With `reconnect` (default on) a lost ubusd connection fails the pending calls
 * with CONNECTION_FAILED, then retries with backoff, and once connected again
 * re-adds every object (new ids), re-registers every event pattern and looks
 * up and re-subscribes every subscription: libubus does not do the last two.
 * Handlers never crash the process: thrown errors become STATUS replies.
 */
import { EventEmitter } from 'node:events';
import { UbusConnection, DEFAULT_SOCKET, type RequestOptions } from './connection.ts';
import type { WireMessage } from './wire.ts';
import { decodeTableBody, encodeTableBody, int32, MsgType } from './wire.ts';
import { Status, UbusError } from './errors.ts';
import { UbusObject, replyTo, type Methods, type ObjectHost, type UbusTable, type UbusTableInput } from './object.ts';
import { EventListener, UBUS_EVENT_OBJECT, type EventCallback } from './events.ts';
import { Subscription, type NotifyCallback } from './subscriber.ts';
import { silentLogger, type Logger } from '../log.ts';

export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'disconnected' | 'closed';

export interface UbusClientOptions {
  /** default /var/run/ubus/ubus.sock */
  socketPath?: string;
  /** per-request timeout in ms (default 30 s; 0 = none) */
  timeoutMs?: number;
  /** reconnect after losing ubusd (default true) */
  reconnect?: boolean;
  /** first retry delay in ms (default 1000), doubled up to maxReconnectDelayMs */
  reconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
  logger?: Logger;
}

export interface ObjectInfo {
  path: string;
  id: number;
  typeId: number | undefined;
  /** method → {argument: blobmsg type id} */
  signature: Record<string, Record<string, number>>;
}

export interface ClientEvents {
  connect: [number];
  reconnect: [number];
  disconnect: [Error | undefined];
  state: [ConnectionState];
}

export interface SubscribeOptions {
  /** if the target does not exist yet, wait for it instead of failing NOT_FOUND */
  waitForTarget?: boolean;
}

type Target = UbusObject | EventListener | Subscription;

export class UbusClient extends EventEmitter<ClientEvents> implements ObjectHost {
  readonly log: Logger;
  private readonly socketPath: string;
  private readonly timeoutMs: number;
  private readonly reconnectEnabled: boolean;
  private readonly baseDelay: number;
  private readonly maxDelay: number;
  private conn: UbusConnection | undefined;
  private live: UbusConnection | undefined;
  private _state: ConnectionState = 'idle';
  private everConnected = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private connecting: Promise<void> | undefined;
  private readonly objects = new Set<UbusObject>();
  private readonly listeners_ = new Set<EventListener>();
  private readonly subs = new Set<Subscription>();
  private readonly byId = new Map<number, Target>();
  private watch: EventListener | undefined;
  private readonly idCache = new Map<string, number>();
  private waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];

  constructor(opts: UbusClientOptions = {}) {
    super();
    this.socketPath = opts.socketPath ?? DEFAULT_SOCKET;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.reconnectEnabled = opts.reconnect ?? true;
    this.baseDelay = opts.reconnectDelayMs ?? 1000;
    this.maxDelay = opts.maxReconnectDelayMs ?? Math.max(this.baseDelay, 8000);
    this.log = opts.logger ?? silentLogger;
  }

  get state(): ConnectionState {
    return this._state;
  }

  get connected(): boolean {
    return this._state === 'connected';
  }

  /** Our client id on the current connection. */
  get clientId(): number | undefined {
    return this.live?.clientId;
  }

  private setState(s: ConnectionState): void {
    if (this._state === s) return;
    this._state = s;
    this.emit('state', s);
  }

  /**
   * Connects. Without reconnect one failed attempt rejects; with it, resolves
   * once a connection is up (retrying meanwhile) and rejects only on close().
   */
  connect(): Promise<void> {
    if (this._state === 'closed') return Promise.reject(new UbusError(Status.CONNECTION_FAILED, 'client closed'));
    if (this._state === 'connected') return Promise.resolve();
    const p = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.connecting && !this.timer) void this.attemptConnect();
    return p;
  }

  /** Closes the connection for good: pending calls fail, nothing reconnects. */
  close(): void {
    if (this._state === 'closed') return;
    this.setState('closed');
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const c = this.conn;
    this.conn = undefined;
    this.live = undefined;
    c?.close();
    this.forgetIds();
    this.flushWaiters(new UbusError(Status.CONNECTION_FAILED, 'client closed'));
  }

  private flushWaiters(err?: Error): void {
    const w = this.waiters;
    this.waiters = [];
    for (const x of w) {
      if (err) x.reject(err);
      else x.resolve();
    }
  }

  private attemptConnect(): Promise<void> {
    this.timer = undefined;
    this.setState('connecting');
    const run = this.establish()
      .then(() => {
        this.attempt = 0;
      })
      .catch((e: unknown) => {
        if (this._state === 'closed') return;
        this.log.debug({ err: e }, 'ubus connect failed');
        if (!this.reconnectEnabled) {
          this.setState('disconnected');
          this.flushWaiters(e instanceof Error ? e : new UbusError(Status.CONNECTION_FAILED));
          return;
        }
        this.scheduleReconnect();
      })
      .finally(() => {
        this.connecting = undefined;
      });
    this.connecting = run;
    return run;
  }

  private scheduleReconnect(): void {
    if (this._state === 'closed' || this.timer) return;
    const delay = Math.min(this.baseDelay * 2 ** this.attempt, this.maxDelay);
    this.attempt++;
    this.setState('disconnected');
    this.timer = setTimeout(() => void this.attemptConnect(), delay);
  }

  private async establish(): Promise<void> {
    const conn = await UbusConnection.open(this.socketPath, { timeoutMs: this.timeoutMs });
    if (this._state === 'closed') {
      conn.close();
      return;
    }
    this.conn = conn;
    conn.on('message', (m) => this.onMessage(conn, m));
    conn.on('close', (e) => this.onConnClose(conn, e));
    await this.restore(conn);
    if (!conn.isOpen) throw new UbusError(Status.CONNECTION_FAILED, 'lost while re-registering');
    this.live = conn;
    const again = this.everConnected;
    this.everConnected = true;
    this.setState('connected');
    this.log.info({ clientId: conn.clientId }, again ? 'ubus reconnected' : 'ubus connected');
    this.emit('connect', conn.clientId);
    if (again) this.emit('reconnect', conn.clientId);
    this.flushWaiters();
  }

  /** Re-creates all server-side state on a fresh connection. */
  private async restore(conn: UbusConnection): Promise<void> {
    for (const o of [...this.objects]) {
      if (o.id !== undefined) continue; // added meanwhile by addObject() on this connection
      try {
        await this.registerObject(conn, o, true);
      } catch (e) {
        if (!conn.isOpen) throw e;
        this.log.error({ err: e, path: o.path }, 'ubus: cannot re-add object');
      }
    }
    for (const l of [...this.listeners_]) {
      try {
        await this.registerListener(conn, l);
      } catch (e) {
        if (!conn.isOpen) throw e;
        this.log.error({ err: e, patterns: l.patterns }, 'ubus: cannot re-register event patterns');
      }
    }
    for (const s of [...this.subs]) {
      try {
        await this.registerSubscription(conn, s);
      } catch (e) {
        if (!conn.isOpen) throw e;
        this.log.warn({ err: e, path: s.path }, 'ubus: cannot re-subscribe');
      }
    }
  }

  private onConnClose(conn: UbusConnection, err: Error | undefined): void {
    if (conn !== this.conn) return;
    this.conn = undefined;
    this.live = undefined;
    this.forgetIds();
    if (this._state === 'closed') return;
    this.log.warn({ err }, 'ubus connection lost');
    this.emit('disconnect', err);
    if (this.reconnectEnabled) this.scheduleReconnect();
    else this.setState('disconnected');
  }

  /** All server-side ids die with the connection. */
  private forgetIds(): void {
    this.byId.clear();
    this.idCache.clear();
    for (const o of this.objects) {
      o.id = undefined;
      if (o.hasSubscribers) {
        o.hasSubscribers = false;
        o.emit('subscribers', false);
      }
    }
    for (const l of this.listeners_) l.id = undefined;
    for (const s of this.subs) {
      s.id = undefined;
      s.targetId = undefined;
    }
  }

  /** The connection requests may use (also while re-registering). */
  connection(): UbusConnection | undefined {
    return this.conn?.isOpen ? this.conn : undefined;
  }

  private requireConn(): UbusConnection {
    const c = this.connection();
    if (!c) throw new UbusError(Status.CONNECTION_FAILED, 'not connected to ubusd');
    return c;
  }

  private request(type: MsgType, peer: number, attrs: WireMessage['attrs'], opts?: RequestOptions): ReturnType<UbusConnection['request']> {
    try {
      return this.requireConn().request(type, peer, attrs, opts);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  // ---- client requests -------------------------------------------------

  /** LOOKUP: all objects, an exact path, or a `prefix*`. Not found → UbusError NOT_FOUND. */
  async lookup(pattern?: string, opts: RequestOptions = {}): Promise<ObjectInfo[]> {
    const r = await this.request(MsgType.LOOKUP, 0, pattern === undefined ? {} : { objpath: pattern }, opts);
    const out: ObjectInfo[] = [];
    for (const d of r.data) {
      const a = d.attrs;
      if (a.objpath === undefined || a.objid === undefined) continue;
      out.push({ path: a.objpath, id: a.objid >>> 0, typeId: a.objtype, signature: a.signature ?? {} });
    }
    return out;
  }

  /** Object id of an exact path ("OK without DATA" means hidden = not found). */
  async lookupId(path: string, opts: RequestOptions = {}): Promise<number> {
    const found = await this.lookup(path, opts);
    const hit = found.find((o) => o.path === path);
    if (!hit) throw new UbusError(Status.NOT_FOUND, path);
    return hit.id;
  }

  /**
   * Resolves once every path exists (like `ubus wait_for`); rejects with
   * TIMEOUT after timeoutMs (default: the client's request timeout).
   */
  async waitForObject(paths: string | readonly string[], opts: RequestOptions = {}): Promise<void> {
    const want = new Set(typeof paths === 'string' ? [paths] : paths);
    let wake: () => void = () => undefined;
    const appeared = new Promise<void>((r) => (wake = r));
    // listen first, then look up: an object added in between is not missed
    const l = await this.listen('ubus.object.add', (_ev, d) => {
      if (typeof d['path'] === 'string') want.delete(d['path']);
      if (want.size === 0) wake();
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      for (const p of [...want]) if (await this.lookupId(p, opts).then(() => true, () => false)) want.delete(p);
      if (want.size === 0) return;
      const ms = opts.timeoutMs ?? this.timeoutMs;
      const timeout = new Promise<never>((_, reject) => {
        if (ms > 0) timer = setTimeout(() => reject(new UbusError(Status.TIMEOUT, `waiting for ${[...want].join(', ')}`)), ms);
      });
      await Promise.race([appeared, timeout]);
    } finally {
      if (timer) clearTimeout(timer);
      await l.close().catch(() => undefined);
    }
  }

  /** INVOKE a method by path or object id; resolves with every DATA table, in order. */
  async call(target: string | number, method: string, args: UbusTableInput = {}, opts: RequestOptions = {}): Promise<UbusTable[]> {
    const data = encodeTableBody(args);
    const invoke = async (id: number): Promise<UbusTable[]> => {
      const r = await this.request(MsgType.INVOKE, id, { objid: id, method, data }, opts);
      return r.data.map((d) => (d.attrs.data ? decodeTableBody(d.attrs.data) : ({} as UbusTable)));
    };
    if (typeof target === 'number') return invoke(target >>> 0);
    // path → id is cached; a NOT_FOUND on a cached id means the object was re-added: look it up again
    // (the owner's own NOT_FOUND also lands here: re-invoke only if the id really changed, never twice on one object)
    const cached = this.idCache.get(target);
    if (cached !== undefined) {
      try {
        return await invoke(cached);
      } catch (e) {
        if (!(e instanceof UbusError) || e.status !== Status.NOT_FOUND) throw e;
        this.idCache.delete(target);
        const id = await this.lookupId(target, opts);
        this.idCache.set(target, id);
        if (id === cached) throw e;
        return invoke(id);
      }
    }
    const id = await this.lookupId(target, opts);
    this.idCache.set(target, id);
    return invoke(id);
  }

  /** PING ubusd (echoed back). */
  async ping(opts: RequestOptions = {}): Promise<void> {
    await this.request(MsgType.PING, 0, {}, opts);
  }

  /** Sends an event through ubusd's event object. */
  async send(event: string, data: UbusTableInput = {}, opts: RequestOptions = {}): Promise<void> {
    await this.request(MsgType.INVOKE, UBUS_EVENT_OBJECT, { objid: UBUS_EVENT_OBJECT, method: 'send', data: encodeTableBody({ id: event, data }) }, opts);
  }

  // ---- objects -----------------------------------------------------------

  /**
   * Publishes an object. While disconnected it is queued and added on connect;
   * it is re-added after every reconnect. Duplicate path → INVALID_ARGUMENT.
   */
  async addObject(path: string, methods: Methods): Promise<UbusObject> {
    for (const o of this.objects) if (o.path === path) throw new UbusError(Status.INVALID_ARGUMENT, `object ${path} already added`);
    const obj = new UbusObject(this, path, methods);
    this.objects.add(obj);
    const conn = this.connection();
    if (conn) {
      try {
        await this.registerObject(conn, obj, false);
      } catch (e) {
        if (conn.isOpen) {
          this.objects.delete(obj);
          throw e;
        }
        // lost the connection meanwhile: restore() adds it later
      }
    }
    return obj;
  }

  private async registerObject(conn: UbusConnection, obj: UbusObject, retry: boolean): Promise<void> {
    for (let i = 0; ; i++) {
      try {
        const r = await conn.request(MsgType.ADD_OBJECT, 0, { objpath: obj.path, signature: obj.signature() });
        const a = r.data[0]?.attrs;
        if (a?.objid === undefined) throw new UbusError(Status.NO_DATA, 'ADD_OBJECT without id');
        obj.id = a.objid >>> 0;
        obj.typeId = a.objtype;
        this.byId.set(obj.id, obj);
        obj.emit('added', obj.id);
        return;
      } catch (e) {
        // after our own reconnect ubusd may not have dropped the old socket yet
        if (!retry || i >= 5 || !(e instanceof UbusError) || e.status !== Status.INVALID_ARGUMENT || !conn.isOpen) throw e;
        await new Promise((r) => setTimeout(r, 100 * (i + 1)));
      }
    }
  }

  async removeObject(obj: UbusObject): Promise<void> {
    if (!this.objects.delete(obj)) return;
    const id = obj.id;
    obj.id = undefined;
    if (id === undefined) return;
    this.byId.delete(id);
    await this.request(MsgType.REMOVE_OBJECT, 0, { objid: id }).catch((e: unknown) => {
      if (!(e instanceof UbusError) || e.status !== Status.CONNECTION_FAILED) throw e;
    });
  }

  private async addAnonymous(conn: UbusConnection, t: Target): Promise<number> {
    const r = await conn.request(MsgType.ADD_OBJECT, 0, {});
    const id = r.data[0]?.attrs.objid;
    if (id === undefined) throw new UbusError(Status.NO_DATA, 'ADD_OBJECT without id');
    this.byId.set(id >>> 0, t);
    return id >>> 0;
  }

  // ---- events --------------------------------------------------------------

  /** Listens for events by exact name or `prefix*` (one pattern or several). */
  async listen(patterns: string | readonly string[], callback: EventCallback): Promise<EventListener> {
    const list = typeof patterns === 'string' ? [patterns] : [...patterns];
    if (list.length === 0 || list.some((p) => p === '')) throw new UbusError(Status.INVALID_ARGUMENT, 'empty event pattern');
    const l = new EventListener(list, callback, (x) => this.unlisten(x));
    this.listeners_.add(l);
    const conn = this.connection();
    if (conn) {
      try {
        await this.registerListener(conn, l);
      } catch (e) {
        if (conn.isOpen) {
          await this.unlisten(l).catch(() => undefined);
          throw e;
        }
      }
    }
    return l;
  }

  private async registerListener(conn: UbusConnection, l: EventListener): Promise<void> {
    const id = l.id ?? (l.id = await this.addAnonymous(conn, l));
    for (const pattern of l.patterns) {
      // the id goes as INT32 raw bits: a u32 ≥ 2^31 must not become INT64
      const data = encodeTableBody({ object: int32(id | 0), pattern });
      await conn.request(MsgType.INVOKE, UBUS_EVENT_OBJECT, { objid: UBUS_EVENT_OBJECT, method: 'register', data });
    }
  }

  private async unlisten(l: EventListener): Promise<void> {
    if (!this.listeners_.delete(l)) return;
    const id = l.id;
    l.id = undefined;
    if (id === undefined) return;
    this.byId.delete(id);
    await this.request(MsgType.REMOVE_OBJECT, 0, { objid: id }).catch(() => undefined);
  }

  // ---- subscriptions ---------------------------------------------------------

  /**
   * Subscribes to the object at `path`. The subscription survives the
   * target's restart and ubusd's: we subscribe again when the path reappears.
   */
  async subscribe(path: string, onNotify: NotifyCallback, opts: SubscribeOptions = {}): Promise<Subscription> {
    const s = new Subscription(path, onNotify, (x) => this.unsubscribe(x));
    this.subs.add(s);
    const conn = this.connection();
    if (conn) {
      try {
        await this.registerSubscription(conn, s);
        if (!s.active && !opts.waitForTarget && conn.isOpen) throw new UbusError(Status.NOT_FOUND, path);
      } catch (e) {
        if (conn.isOpen) {
          await this.unsubscribe(s).catch(() => undefined);
          throw e;
        }
      }
    }
    return s;
  }

  private async registerSubscription(conn: UbusConnection, s: Subscription): Promise<void> {
    if (s.closed) return;
    await this.ensureWatch(conn);
    if (s.id === undefined) s.id = await this.addAnonymous(conn, s);
    let target: number;
    try {
      target = await this.lookupIdOn(conn, s.path);
    } catch (e) {
      if (e instanceof UbusError && e.status === Status.NOT_FOUND) return; // the watch resubscribes
      throw e;
    }
    try {
      await conn.request(MsgType.SUBSCRIBE, 0, { objid: s.id, target });
    } catch (e) {
      if (e instanceof UbusError && e.status === Status.NOT_FOUND) return; // vanished meanwhile
      throw e;
    }
    s.targetId = target;
    s.emit('subscribed', target);
  }

  private async lookupIdOn(conn: UbusConnection, path: string): Promise<number> {
    const r = await conn.request(MsgType.LOOKUP, 0, { objpath: path });
    for (const d of r.data) if (d.attrs.objpath === path && d.attrs.objid !== undefined) return d.attrs.objid >>> 0;
    throw new UbusError(Status.NOT_FOUND, path);
  }

  /** One internal listener on ubus.object.add wakes subscriptions whose target is gone. */
  private async ensureWatch(conn: UbusConnection): Promise<void> {
    if (this.watch) {
      if (this.watch.id === undefined) await this.registerListener(conn, this.watch);
      return;
    }
    const w = new EventListener(['ubus.object.add'], (_ev, data) => {
      const path = data['path'];
      const c = this.connection();
      if (!c || typeof path !== 'string') return;
      for (const s of this.subs) {
        if (s.path !== path || s.active || s.closed) continue;
        this.registerSubscription(c, s).catch((e: unknown) => this.log.warn({ err: e, path }, 'ubus: resubscribe failed'));
      }
    }, async () => undefined);
    this.watch = w;
    this.listeners_.add(w);
    await this.registerListener(conn, w);
  }

  private async unsubscribe(s: Subscription): Promise<void> {
    if (!this.subs.delete(s)) return;
    s.closed = true;
    const { id, targetId } = s;
    s.id = undefined;
    s.targetId = undefined;
    if (id === undefined) return;
    this.byId.delete(id);
    if (targetId !== undefined) await this.request(MsgType.UNSUBSCRIBE, 0, { objid: id, target: targetId }).catch(() => undefined);
    await this.request(MsgType.REMOVE_OBJECT, 0, { objid: id }).catch(() => undefined);
  }

  // ---- incoming --------------------------------------------------------------

  private onMessage(conn: UbusConnection, msg: WireMessage): void {
    const objid = msg.attrs.objid;
    if (objid === undefined) return; // libubus drops these
    const t = this.byId.get(objid >>> 0);
    if (msg.type === MsgType.INVOKE) {
      if (!t) return replyTo(conn, msg, objid, Status.NOT_FOUND);
      if (t instanceof UbusObject) return t.handleInvoke(conn, msg);
      if (t instanceof EventListener) return this.deliverEvent(conn, msg, t);
      return this.deliverNotify(conn, msg, t);
    }
    if (msg.type === MsgType.NOTIFY) {
      if (t instanceof UbusObject && msg.attrs.active !== undefined) {
        const on = Boolean(msg.attrs.active);
        if (t.hasSubscribers !== on) {
          t.hasSubscribers = on;
          t.emit('subscribers', on);
        }
      }
      return;
    }
    if (msg.type === MsgType.UNSUBSCRIBE && t instanceof Subscription && t.targetId !== undefined) {
      if (msg.attrs.target !== undefined && msg.attrs.target >>> 0 !== t.targetId) return;
      t.targetId = undefined;
      t.emit('removed');
    }
  }

  private deliverEvent(conn: UbusConnection, msg: WireMessage, l: EventListener): void {
    const name = msg.attrs.method;
    if (name === undefined) return replyTo(conn, msg, l.id ?? 0, Status.INVALID_ARGUMENT);
    replyTo(conn, msg, msg.attrs.objid ?? 0, Status.OK);
    let data: UbusTable;
    try {
      data = msg.attrs.data ? decodeTableBody(msg.attrs.data) : ({} as UbusTable);
    } catch {
      return;
    }
    try {
      const r = l.callback(name, data);
      if (r instanceof Promise) r.catch((e: unknown) => this.log.warn({ err: e, event: name }, 'ubus event callback failed'));
    } catch (e) {
      this.log.warn({ err: e, event: name }, 'ubus event callback failed');
    }
  }

  private deliverNotify(conn: UbusConnection, msg: WireMessage, s: Subscription): void {
    const objid = msg.attrs.objid ?? 0;
    const type = msg.attrs.method;
    if (type === undefined || msg.attrs.data === undefined) return replyTo(conn, msg, objid, Status.INVALID_ARGUMENT);
    let data: UbusTable;
    try {
      data = decodeTableBody(msg.attrs.data);
    } catch {
      return replyTo(conn, msg, objid, Status.INVALID_ARGUMENT);
    }
    const n = { type, data, user: msg.attrs.user, group: msg.attrs.group, peer: msg.peer, noReply: Boolean(msg.attrs.noReply) };
    const done = (st: number | void): void => {
      if (conn.isOpen) replyTo(conn, msg, objid, typeof st === 'number' ? st : Status.OK);
    };
    const fail = (e: unknown): void => {
      if (!(e instanceof UbusError)) this.log.warn({ err: e, path: s.path, type }, 'ubus notification callback failed');
      done(e instanceof UbusError ? e.status : Status.UNKNOWN_ERROR);
    };
    try {
      const r = s.onNotify(type, n);
      if (r instanceof Promise) r.then(done, fail);
      else done(r);
    } catch (e) {
      fail(e);
    }
  }
}
