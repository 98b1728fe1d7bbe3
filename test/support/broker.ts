// An in-process ubusd stand-in for tests: a unix socket in a temp dir that
// routes like the real ubusd (see /work/shared/spec/ubus-wire.md and the
// captures). It deliberately has its own minimal wire code instead of using
// src/ubus/message.ts, so the library is checked against an independent
// implementation.
import net from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';

// ---- wire helpers (independent of src/ubus) -------------------------------

export const T = {
  HELLO: 0, STATUS: 1, DATA: 2, PING: 3, LOOKUP: 4, INVOKE: 5, ADD_OBJECT: 6, REMOVE_OBJECT: 7,
  SUBSCRIBE: 8, UNSUBSCRIBE: 9, NOTIFY: 10, MONITOR: 11,
} as const;
export const A = {
  STATUS: 1, OBJPATH: 2, OBJID: 3, METHOD: 4, OBJTYPE: 5, SIGNATURE: 6, DATA: 7, TARGET: 8, ACTIVE: 9,
  NO_REPLY: 10, SUBSCRIBERS: 11, USER: 12, GROUP: 13,
} as const;
export const S = {
  OK: 0, INVALID_COMMAND: 1, INVALID_ARGUMENT: 2, METHOD_NOT_FOUND: 3, NOT_FOUND: 4, NO_DATA: 5,
  PERMISSION_DENIED: 6, NOT_SUPPORTED: 8,
} as const;
const MAX_MSGLEN = 1048576;
const pad4 = (n: number): number => (n + 3) & ~3;

/** One raw attribute: id, extended flag, payload bytes. */
export interface RawAttr {
  id: number;
  ext: boolean;
  payload: Buffer;
}

/** Walks sibling blob attributes with libubox's rule (stop at the first bad length). */
export function walkAttrs(body: Buffer): RawAttr[] {
  const out: RawAttr[] = [];
  let off = 0;
  while (body.length - off >= 4) {
    const w = body.readUInt32BE(off);
    const len = w & 0xffffff;
    if (len < 4 || pad4(len) > body.length - off) break;
    out.push({ id: (w >>> 24) & 0x7f, ext: w >>> 31 === 1, payload: body.subarray(off + 4, off + len) });
    off += pad4(len);
  }
  return out;
}

export function attr(id: number, payload: Buffer, ext = false): Buffer {
  const len = 4 + payload.length;
  const b = Buffer.alloc(pad4(len));
  b.writeUInt32BE(((ext ? 0x80000000 : 0) | ((id & 0x7f) << 24) | len) >>> 0, 0);
  payload.copy(b, 4);
  return b;
}
export const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};
export const cstr = (s: string): Buffer => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.alloc(1)]);

export function frame(type: number, seq: number, peer: number, attrs: Buffer[]): Buffer {
  const body = Buffer.concat(attrs);
  const h = Buffer.alloc(12);
  h.writeUInt8(0, 0);
  h.writeUInt8(type, 1);
  h.writeUInt16BE(seq & 0xffff, 2);
  h.writeUInt32BE(peer >>> 0, 4);
  h.writeUInt32BE(4 + body.length, 8);
  return Buffer.concat([h, body]);
}

/** A blobmsg attribute (extended, named). */
export function bmsg(type: number, name: string, value: Buffer): Buffer {
  const n = Buffer.from(name, 'utf8');
  const hdr = Buffer.alloc(pad4(2 + n.length + 1));
  hdr.writeUInt16BE(n.length, 0);
  n.copy(hdr, 2);
  return attr(type, Buffer.concat([hdr, value]), true);
}

export interface BlobmsgField {
  type: number;
  name: string;
  value: Buffer;
}

/** Children of a blobmsg table body (non-extended or malformed entries skipped). */
export function blobmsgFields(body: Buffer): BlobmsgField[] {
  const out: BlobmsgField[] = [];
  for (const a of walkAttrs(body)) {
    if (!a.ext || a.payload.length < 3) continue;
    const nl = a.payload.readUInt16BE(0);
    const voff = pad4(2 + nl + 1);
    if (voff > a.payload.length || a.payload[2 + nl] !== 0) continue;
    out.push({ type: a.id, name: a.payload.subarray(2, 2 + nl).toString('utf8'), value: a.payload.subarray(voff) });
  }
  return out;
}

/** Parsed message: header plus the ubus attributes that pass ubusd's type checks. */
export interface BrokerMsg {
  type: number;
  seq: number;
  peer: number;
  attrs: Map<number, Buffer>;
  body: Buffer;
  /** the whole message as received */
  raw: Buffer;
}

const STRING_ATTRS = new Set<number>([A.OBJPATH, A.METHOD, A.USER, A.GROUP]);
const U32_ATTRS = new Set<number>([A.STATUS, A.OBJID, A.OBJTYPE, A.TARGET]);

export function parseMsg(buf: Buffer): BrokerMsg {
  const body = buf.subarray(12);
  const attrs = new Map<number, Buffer>();
  for (const a of walkAttrs(body)) {
    if (a.ext) continue;
    if (U32_ATTRS.has(a.id) && a.payload.length !== 4) continue;
    if (STRING_ATTRS.has(a.id) && (a.payload.length < 1 || a.payload[a.payload.length - 1] !== 0)) continue;
    if ((a.id === A.ACTIVE || a.id === A.NO_REPLY) && a.payload.length !== 1) continue;
    attrs.set(a.id, a.payload);
  }
  return { type: buf[1]!, seq: buf.readUInt16BE(2), peer: buf.readUInt32BE(4), attrs, body, raw: buf };
}

export const getU32 = (m: BrokerMsg, id: number): number | undefined => m.attrs.get(id)?.readUInt32BE(0);
export const getStr = (m: BrokerMsg, id: number): string | undefined => {
  const p = m.attrs.get(id);
  return p ? p.subarray(0, p.length - 1).toString('utf8') : undefined;
};

// ---- broker state -----------------------------------------------------------

interface BClient {
  id: number;
  sock: net.Socket;
  buf: Buffer;
  user: string;
  group: string;
  objects: Set<BObject>;
}

interface BObject {
  id: number;
  path: string | undefined;
  type: BType | undefined;
  owner: BClient;
  /** subscriber objects watching this object */
  subscribers: Set<BObject>;
  /** targets this (subscriber) object watches */
  targets: Set<BObject>;
  patterns: string[];
  activeSeq: number;
}

interface BType {
  id: number;
  signature: Buffer;
  refs: number;
}

export interface BrokerOptions {
  /** caller user/group names put on forwarded INVOKEs (default root/root) */
  user?: string;
  group?: string;
}

export class TestBroker {
  readonly dir: string;
  readonly socketPath: string;
  user: string;
  group: string;
  /** paths hidden from LOOKUP as an ACL would: the match still answers STATUS 0, without DATA */
  readonly hidden = new Set<string>();
  private server: net.Server | undefined;
  private readonly clients = new Map<number, BClient>();
  private readonly objects = new Map<number, BObject>();
  private readonly types = new Map<number, BType>();
  private readonly usedIds = new Set<number>();
  private eventSeq = 0;
  /** every message the broker received (raw), for tests that inspect traffic */
  readonly received: { client: number; msg: BrokerMsg }[] = [];
  recordTraffic = false;

  private constructor(opts: BrokerOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'xfrmd-ubus-'));
    this.socketPath = join(this.dir, 'ubus.sock');
    this.user = opts.user ?? 'root';
    this.group = opts.group ?? 'root';
  }

  static async start(opts: BrokerOptions = {}): Promise<TestBroker> {
    const b = new TestBroker(opts);
    await b.listen();
    return b;
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Paths of the named objects, in lookup order. */
  paths(): string[] {
    return [...this.objects.values()].flatMap((o) => (o.path === undefined ? [] : [o.path])).sort();
  }

  /** Subscriber count of a named object. */
  subscriberCount(path: string): number {
    for (const o of this.objects.values()) if (o.path === path) return o.subscribers.size;
    return 0;
  }

  private listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      try {
        unlinkSync(this.socketPath);
      } catch {
        // not there
      }
      const srv = net.createServer((sock) => this.accept(sock));
      srv.once('error', reject);
      srv.listen(this.socketPath, () => {
        srv.off('error', reject);
        this.server = srv;
        resolve();
      });
    });
  }

  /** Stops like a killed ubusd: every connection drops, all state is gone. */
  async stop(): Promise<void> {
    const srv = this.server;
    this.server = undefined;
    for (const c of this.clients.values()) c.sock.destroy();
    this.clients.clear();
    this.objects.clear();
    this.types.clear();
    this.usedIds.clear();
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
  }

  /** stop() then listen again on the same path (new ids for everything). */
  async restart(): Promise<void> {
    await this.stop();
    await this.listen();
  }

  /** stop() and remove the temp dir. */
  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Drops one client's connection (as ubusd would on a protocol violation). */
  kick(clientId: number): void {
    this.clients.get(clientId)?.sock.destroy();
  }

  private newId(): number {
    for (;;) {
      const id = (randomInt(0, 0x100000000 - 1024) + 1024) >>> 0;
      if (!this.usedIds.has(id)) {
        this.usedIds.add(id);
        return id;
      }
    }
  }

  private accept(sock: net.Socket): void {
    const c: BClient = { id: this.newId(), sock, buf: Buffer.alloc(0), user: this.user, group: this.group, objects: new Set() };
    this.clients.set(c.id, c);
    sock.on('data', (d: Buffer) => this.onData(c, d));
    sock.on('error', () => sock.destroy());
    sock.on('close', () => this.dropClient(c));
    sock.write(frame(T.HELLO, 0, c.id, []));
  }

  private dropClient(c: BClient): void {
    if (this.clients.get(c.id) !== c) return;
    this.clients.delete(c.id);
    this.usedIds.delete(c.id);
    for (const o of [...c.objects]) this.freeObject(o);
  }

  private onData(c: BClient, d: Buffer): void {
    c.buf = c.buf.length ? Buffer.concat([c.buf, d]) : d;
    while (c.buf.length >= 12) {
      const len = c.buf.readUInt32BE(8) & 0xffffff;
      if (len < 4 || pad4(len) > MAX_MSGLEN) {
        c.sock.destroy(); // ubusd disconnects on a bad length
        return;
      }
      if (c.buf.length < 8 + len) return;
      const m = c.buf.subarray(0, 8 + len);
      c.buf = c.buf.subarray(8 + len);
      if (!this.clients.has(c.id)) return;
      this.handle(c, parseMsg(Buffer.from(m)));
    }
  }

  private send(c: BClient, type: number, seq: number, peer: number, attrs: Buffer[]): void {
    if (this.clients.get(c.id) !== c || c.sock.destroyed) return;
    c.sock.write(frame(type, seq, peer, attrs));
  }

  private status(c: BClient, m: BrokerMsg, st: number): void {
    this.send(c, T.STATUS, m.seq, m.peer, [attr(A.STATUS, u32(st))]);
  }

  private handle(c: BClient, m: BrokerMsg): void {
    if (this.recordTraffic) this.received.push({ client: c.id, msg: m });
    switch (m.type) {
      case T.STATUS:
      case T.DATA:
        return this.forwardReply(c, m);
      case T.PING:
        this.send(c, T.DATA, m.seq, m.peer, [m.body]);
        return this.status(c, m, S.OK);
      case T.LOOKUP:
        return this.lookup(c, m);
      case T.INVOKE:
        return this.invoke(c, m);
      case T.ADD_OBJECT:
        return this.addObject(c, m);
      case T.REMOVE_OBJECT:
        return this.removeObject(c, m);
      case T.SUBSCRIBE:
        return this.subscribe(c, m);
      case T.UNSUBSCRIBE:
        return this.unsubscribe(c, m);
      case T.NOTIFY:
        return this.notify(c, m);
      default:
        return this.status(c, m, S.INVALID_COMMAND);
    }
  }

  /** A reply to a forwarded INVOKE: checked, then passed on with peer = objid, or silently dropped. */
  private forwardReply(c: BClient, m: BrokerMsg): void {
    const objid = getU32(m, A.OBJID);
    if (objid === undefined) return;
    const o = this.objects.get(objid);
    if (!o || o.owner !== c) return;
    if (m.type === T.DATA && !m.attrs.has(A.DATA)) return;
    if (m.type === T.STATUS && !m.attrs.has(A.STATUS)) return;
    const to = this.clients.get(m.peer);
    if (!to) return;
    this.send(to, m.type, m.seq, objid, [m.body]);
  }

  private lookup(c: BClient, m: BrokerMsg): void {
    const path = getStr(m, A.OBJPATH);
    if (path === '') return this.status(c, m, S.INVALID_ARGUMENT);
    const all = [...this.objects.values()].filter((o) => o.path !== undefined && o.type !== undefined);
    all.sort((a, b) => (a.path! < b.path! ? -1 : a.path! > b.path! ? 1 : 0));
    const hits = all.filter((o) => {
      if (path === undefined) return true;
      if (path.endsWith('*')) return o.path!.startsWith(path.slice(0, -1));
      return o.path === path;
    });
    if (hits.length === 0) return this.status(c, m, S.NOT_FOUND);
    for (const o of hits) {
      if (this.hidden.has(o.path!)) continue;
      this.send(c, T.DATA, m.seq, m.peer, [
        attr(A.OBJPATH, cstr(o.path!)),
        attr(A.OBJID, u32(o.id)),
        attr(A.OBJTYPE, u32(o.type!.id)),
        attr(A.SIGNATURE, o.type!.signature),
      ]);
    }
    this.status(c, m, S.OK);
  }

  private invoke(c: BClient, m: BrokerMsg): void {
    const objid = getU32(m, A.OBJID);
    const method = getStr(m, A.METHOD);
    if (objid === undefined || method === undefined) return this.status(c, m, S.INVALID_ARGUMENT);
    if (objid === 1) return this.eventObject(c, m, method);
    const o = this.objects.get(objid);
    if (!o) return this.status(c, m, S.NOT_FOUND);
    const fwd = [attr(A.OBJID, u32(objid)), attr(A.METHOD, cstr(method)), attr(A.USER, cstr(c.user)), attr(A.GROUP, cstr(c.group))];
    const data = m.attrs.get(A.DATA);
    if (data) fwd.push(attr(A.DATA, data));
    this.send(o.owner, T.INVOKE, m.seq, c.id, fwd);
  }

  private eventObject(c: BClient, m: BrokerMsg, method: string): void {
    const fields = blobmsgFields(m.attrs.get(A.DATA) ?? Buffer.alloc(0));
    const field = (name: string, type: number): Buffer | undefined => {
      let v: Buffer | undefined;
      for (const f of fields) if (f.name === name && f.type === type) v = f.value;
      return v;
    };
    if (method === 'register') {
      const obj = field('object', 5);
      const pat = field('pattern', 3);
      if (!obj || obj.length !== 4 || !pat || pat.length < 1 || pat[pat.length - 1] !== 0) return this.status(c, m, S.INVALID_ARGUMENT);
      const id = obj.readUInt32BE(0);
      const pattern = pat.subarray(0, pat.length - 1).toString('utf8');
      if (id < 1024) return this.status(c, m, S.PERMISSION_DENIED);
      const o = this.objects.get(id);
      if (!o) return this.status(c, m, S.NOT_FOUND);
      if (o.owner !== c || pattern === '') return this.status(c, m, S.PERMISSION_DENIED);
      o.patterns.push(pattern);
      return this.status(c, m, S.OK);
    }
    if (method === 'send') {
      const id = field('id', 3);
      const data = field('data', 2);
      if (!id || id.length < 1 || id[id.length - 1] !== 0 || !data) return this.status(c, m, S.INVALID_ARGUMENT);
      const name = id.subarray(0, id.length - 1).toString('utf8');
      if (name.startsWith('ubus.')) return this.status(c, m, S.PERMISSION_DENIED);
      this.deliverEvent(name, data, c);
      return this.status(c, m, S.OK);
    }
    return this.status(c, m, S.INVALID_COMMAND);
  }

  /** Delivers an event at most once per listener object, never back to the sender. */
  private deliverEvent(name: string, data: Buffer, from: BClient | undefined): void {
    const seq = ++this.eventSeq & 0xffff;
    for (const o of this.objects.values()) {
      if (o.owner === from || o.patterns.length === 0) continue;
      const hit = o.patterns.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : p === name));
      if (!hit) continue;
      this.send(o.owner, T.INVOKE, seq, 0, [attr(A.OBJID, u32(o.id)), attr(A.METHOD, cstr(name)), attr(A.DATA, data)]);
    }
  }

  private systemEvent(name: string, o: BObject): void {
    const idv = Buffer.alloc(4);
    idv.writeInt32BE(o.id | 0);
    this.deliverEvent(name, Buffer.concat([bmsg(5, 'id', idv), bmsg(3, 'path', cstr(o.path ?? ''))]), undefined);
  }

  private addObject(c: BClient, m: BrokerMsg): void {
    const path = getStr(m, A.OBJPATH);
    const sig = m.attrs.get(A.SIGNATURE);
    const typeId = getU32(m, A.OBJTYPE);
    let type: BType | undefined;
    if (sig) {
      for (const a of walkAttrs(sig)) {
        if (!a.ext || a.payload.length < 3 || a.payload.readUInt16BE(0) === 0) return this.status(c, m, S.INVALID_ARGUMENT);
      }
      type = { id: this.newId(), signature: Buffer.from(sig), refs: 0 };
      this.types.set(type.id, type);
    } else if (typeId !== undefined) {
      type = this.types.get(typeId);
    }
    if (path !== undefined) {
      for (const o of this.objects.values()) {
        if (o.path === path) {
          if (type && type.refs === 0 && sig) this.types.delete(type.id);
          return this.status(c, m, S.INVALID_ARGUMENT);
        }
      }
    }
    if (type) type.refs++;
    const o: BObject = { id: this.newId(), path, type, owner: c, subscribers: new Set(), targets: new Set(), patterns: [], activeSeq: 0 };
    this.objects.set(o.id, o);
    c.objects.add(o);
    const reply = [attr(A.OBJID, u32(o.id))];
    if (sig && type) reply.push(attr(A.OBJTYPE, u32(type.id)));
    this.send(c, T.DATA, m.seq, m.peer, reply);
    this.status(c, m, S.OK);
    if (path !== undefined) this.systemEvent('ubus.object.add', o);
  }

  private removeObject(c: BClient, m: BrokerMsg): void {
    const objid = getU32(m, A.OBJID);
    if (objid === undefined) return this.status(c, m, S.INVALID_ARGUMENT);
    const o = this.objects.get(objid);
    if (!o) return this.status(c, m, S.NOT_FOUND);
    if (o.owner !== c) return this.status(c, m, S.PERMISSION_DENIED);
    const reply = [attr(A.OBJID, u32(o.id))];
    if (o.type && o.type.refs === 1) reply.push(attr(A.OBJTYPE, u32(o.type.id)));
    this.send(c, T.DATA, m.seq, m.peer, reply);
    this.freeObject(o);
    this.status(c, m, S.OK);
  }

  private freeObject(o: BObject): void {
    if (!this.objects.delete(o.id)) return;
    o.owner.objects.delete(o);
    this.usedIds.delete(o.id);
    for (const s of o.subscribers) {
      s.targets.delete(o);
      this.send(s.owner, T.UNSUBSCRIBE, 0, 0, [attr(A.OBJID, u32(s.id)), attr(A.TARGET, u32(o.id))]);
    }
    o.subscribers.clear();
    for (const t of o.targets) this.dropSubscriber(t, o);
    o.targets.clear();
    if (o.type && --o.type.refs === 0) this.types.delete(o.type.id);
    if (o.path !== undefined) this.systemEvent('ubus.object.remove', o);
  }

  private setActive(t: BObject, on: boolean): void {
    t.activeSeq = (t.activeSeq + 1) & 0xffff;
    this.send(t.owner, T.NOTIFY, t.activeSeq, 0, [attr(A.OBJID, u32(t.id)), attr(A.ACTIVE, Buffer.from([on ? 1 : 0]))]);
  }

  private dropSubscriber(t: BObject, s: BObject): void {
    if (!t.subscribers.delete(s)) return;
    if (t.subscribers.size === 0) this.setActive(t, false);
  }

  private subscribe(c: BClient, m: BrokerMsg): void {
    const sid = getU32(m, A.OBJID);
    const tid = getU32(m, A.TARGET);
    if (sid === undefined || tid === undefined) return this.status(c, m, S.INVALID_ARGUMENT);
    const s = this.objects.get(sid);
    if (!s) return this.status(c, m, S.NOT_FOUND);
    if (s.owner !== c) return this.status(c, m, S.INVALID_ARGUMENT);
    const t = this.objects.get(tid);
    if (!t || tid < 1024) return this.status(c, m, S.NOT_FOUND);
    if (t.owner === c) return this.status(c, m, S.INVALID_ARGUMENT);
    this.status(c, m, S.OK);
    if (t.subscribers.has(s)) return;
    t.subscribers.add(s);
    s.targets.add(t);
    if (t.subscribers.size === 1) this.setActive(t, true);
  }

  private unsubscribe(c: BClient, m: BrokerMsg): void {
    const sid = getU32(m, A.OBJID);
    const tid = getU32(m, A.TARGET);
    if (sid === undefined || tid === undefined) return this.status(c, m, S.INVALID_ARGUMENT);
    const s = this.objects.get(sid);
    const t = this.objects.get(tid);
    if (!s || !t || s.owner !== c || !t.subscribers.has(s)) return this.status(c, m, S.NOT_FOUND);
    s.targets.delete(t);
    this.dropSubscriber(t, s);
    this.status(c, m, S.OK);
  }

  private notify(c: BClient, m: BrokerMsg): void {
    const tid = getU32(m, A.OBJID);
    const method = getStr(m, A.METHOD);
    if (tid === undefined || method === undefined) return this.status(c, m, S.INVALID_ARGUMENT);
    const t = this.objects.get(tid);
    if (!t) return this.status(c, m, S.NOT_FOUND);
    if (t.owner !== c) return this.status(c, m, S.PERMISSION_DENIED);
    const noReply = (m.attrs.get(A.NO_REPLY)?.[0] ?? 0) !== 0;
    const data = m.attrs.get(A.DATA);
    const subs = [...t.subscribers];
    if (!noReply) {
      const list = Buffer.concat(subs.map((s) => attr(0, u32(s.id))));
      this.send(c, T.STATUS, m.seq, m.peer, [attr(A.OBJID, u32(t.id)), attr(A.SUBSCRIBERS, list), attr(A.STATUS, u32(S.OK))]);
    }
    for (const s of subs) {
      const fwd: Buffer[] = [];
      if (noReply) fwd.push(attr(A.NO_REPLY, Buffer.from([1])));
      fwd.push(attr(A.OBJID, u32(s.id)), attr(A.METHOD, cstr(method)), attr(A.USER, cstr(c.user)), attr(A.GROUP, cstr(c.group)));
      if (data) fwd.push(attr(A.DATA, data));
      this.send(s.owner, T.INVOKE, m.seq, c.id, fwd);
    }
  }
}

// ---- raw-socket helpers: fidelity tests against the captures, live fuzzing ----

// CI puts a read-only copy of shared/ next to the clone; a developer machine has /work/shared.
export const CAPTURES = [fileURLToPath(new URL('../../../shared/ubus-captures', import.meta.url)), '/work/shared/ubus-captures'].find((d) => existsSync(d)) ?? '/work/shared/ubus-captures';

export interface CapturedMsg {
  dir: 'c2s' | 's2c';
  bytes: Buffer;
  msg: BrokerMsg;
}

/** Splits a capture into messages per direction, in arrival order. */
export function loadCapture(name: string): CapturedMsg[] {
  const chunks = JSON.parse(readFileSync(`${CAPTURES}/${name}.json`, 'utf8')) as { direction: 'c2s' | 's2c'; hex: string }[];
  const bufs: Record<'c2s' | 's2c', Buffer> = { c2s: Buffer.alloc(0), s2c: Buffer.alloc(0) };
  const out: CapturedMsg[] = [];
  for (const ch of chunks) {
    let b = Buffer.concat([bufs[ch.direction], Buffer.from(ch.hex, 'hex')]);
    while (b.length >= 12) {
      const len = 8 + (b.readUInt32BE(8) & 0xffffff);
      if (b.length < len) break;
      const bytes = Buffer.from(b.subarray(0, len));
      out.push({ dir: ch.direction, bytes, msg: parseMsg(bytes) });
      b = b.subarray(len);
    }
    bufs[ch.direction] = b;
  }
  return out;
}

/** A raw client: reads the HELLO, then queues every frame it receives. */
export class RawClient {
  readonly sock: net.Socket;
  id = 0;
  private buf: Buffer = Buffer.alloc(0);
  private readonly queue: BrokerMsg[] = [];
  private waiters: (() => void)[] = [];
  closed = false;

  private constructor(sock: net.Socket) {
    this.sock = sock;
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 12) {
        const len = 8 + (this.buf.readUInt32BE(8) & 0xffffff);
        if (this.buf.length < len) break;
        this.queue.push(parseMsg(Buffer.from(this.buf.subarray(0, len))));
        this.buf = this.buf.subarray(len);
      }
      this.wake();
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  static async connect(path: string, hello = true): Promise<RawClient> {
    const sock = net.createConnection({ path });
    await new Promise<void>((res, rej) => {
      sock.once('connect', () => res());
      sock.once('error', rej);
    });
    const c = new RawClient(sock);
    if (hello) c.id = (await c.next()).peer;
    return c;
  }

  write(b: Buffer): void {
    if (!this.sock.destroyed) this.sock.write(b);
  }

  /** Next received message (rejects on timeout or close). */
  async next(timeoutMs = 2000): Promise<BrokerMsg> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.queue.shift();
      if (m) return m;
      if (this.closed) throw new Error('raw client closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('raw client: timeout');
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Messages until (and including) a STATUS. */
  async untilStatus(timeoutMs = 2000): Promise<BrokerMsg[]> {
    const out: BrokerMsg[] = [];
    for (;;) {
      const m = await this.next(timeoutMs);
      out.push(m);
      if (m.type === 1) return out;
    }
  }

  /** Waits a little and returns whatever arrived (for "nothing must come" checks). */
  async drain(ms = 50): Promise<BrokerMsg[]> {
    await new Promise((r) => setTimeout(r, ms));
    return this.queue.splice(0);
  }

  async waitClosed(timeoutMs = 2000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return this.closed;
  }

  close(): void {
    this.sock.destroy();
  }
}

/** Attribute ids of a message in wire order (what the fidelity tests compare). */
export function attrOrder(m: BrokerMsg): number[] {
  const ids: number[] = [];
  let off = 0;
  const b = m.body;
  while (b.length - off >= 4) {
    const w = b.readUInt32BE(off);
    const len = w & 0xffffff;
    if (len < 4) break;
    ids.push((w >>> 24) & 0x7f);
    off += (len + 3) & ~3;
  }
  return ids;
}
