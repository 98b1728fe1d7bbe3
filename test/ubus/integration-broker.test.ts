// Broker fidelity: drive the test broker with the requests the real C clients
// sent in the captures and compare what comes back with what the real ubusd
// answered (types, statuses, attribute sets and order; ids and seq normalised).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  A, T, TestBroker, RawClient, loadCapture, attrOrder, attr, u32, frame, walkAttrs, getU32, getStr, bmsg,
  type BrokerMsg, type CapturedMsg,
} from '../support/broker.ts';

let broker: TestBroker;
const clients: RawClient[] = [];
const connect = async (): Promise<RawClient> => {
  const c = await RawClient.connect(broker.socketPath);
  clients.push(c);
  return c;
};

beforeEach(async () => {
  broker = await TestBroker.start();
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await broker.close();
});

const c2s = (cap: CapturedMsg[]): BrokerMsg[] => cap.filter((m) => m.dir === 'c2s').map((m) => m.msg);
const s2c = (cap: CapturedMsg[]): BrokerMsg[] => cap.filter((m) => m.dir === 's2c').map((m) => m.msg);

/** Rebuilds a captured message with some u32 attributes (OBJID, TARGET, OBJTYPE) mapped to this run's ids. */
function remap(m: BrokerMsg, ids: Map<number, number>, peer = m.peer): Buffer {
  const parts: Buffer[] = [];
  for (const a of walkAttrs(m.body)) {
    if ((a.id === A.OBJID || a.id === A.TARGET || a.id === A.OBJTYPE) && a.payload.length === 4) {
      const v = a.payload.readUInt32BE(0);
      parts.push(attr(a.id, u32(ids.get(v) ?? v)));
    } else parts.push(attr(a.id, a.payload, a.ext));
  }
  return frame(m.type, m.seq, ids.get(peer) ?? peer, parts);
}

/** What we compare: type, status, attribute order (ids/seq/peer normalised away). */
const shape = (m: BrokerMsg): { type: number; status: number | undefined; attrs: number[] } => ({
  type: m.type,
  status: getU32(m, A.STATUS),
  attrs: attrOrder(m),
});

describe('broker fidelity against the real ubusd captures', () => {
  it('HELLO: empty body, random client id >= 1024', async () => {
    const c = await connect();
    expect(c.id).toBeGreaterThanOrEqual(1024);
    const cap = s2c(loadCapture('a_list'))[0]!;
    expect(cap.type).toBe(T.HELLO);
    expect(cap.body.length).toBe(0);
  });

  it('a_list: netifd startup ADD_OBJECTs (with OBJTYPE reuse) then `ubus list` gives the same records', async () => {
    const owner = await connect();
    const ids = new Map<number, number>();
    const netifd = loadCapture('h_netifd_session');
    const replies = s2c(netifd);
    for (const m of c2s(netifd)) {
      if (m.type !== T.ADD_OBJECT || getStr(m, A.OBJPATH) === undefined) continue;
      owner.write(remap(m, ids));
      const got = await owner.untilStatus();
      const want = replies.filter((r) => r.seq === m.seq && r.type !== T.INVOKE && r.type !== T.NOTIFY);
      expect(got.map(shape)).toEqual(want.map(shape));
      // learn this run's ids for the captured ones (OBJTYPE reuse by later ADDs)
      const d = got[0]!;
      const w = want[0]!;
      ids.set(getU32(w, A.OBJID)!, getU32(d, A.OBJID)!);
      if (getU32(w, A.OBJTYPE) !== undefined) ids.set(getU32(w, A.OBJTYPE)!, getU32(d, A.OBJTYPE)!);
    }
    const list = loadCapture('a_list');
    const cli = await connect();
    cli.write(c2s(list)[0]!.body.length === 0 ? frame(T.LOOKUP, 1, 0, []) : remap(c2s(list)[0]!, ids));
    const got = await cli.untilStatus();
    const want = s2c(list).slice(1);
    expect(got.map(shape)).toEqual(want.map(shape));
    expect(got.map((m) => getStr(m, A.OBJPATH))).toEqual(want.map((m) => getStr(m, A.OBJPATH)));
    // signatures byte-identical; interface objects share one type like in the capture
    expect(got.map((m) => m.attrs.get(A.SIGNATURE)?.toString('hex'))).toEqual(want.map((m) => m.attrs.get(A.SIGNATURE)?.toString('hex')));
    const types = got.map((m) => getU32(m, A.OBJTYPE));
    const wantTypes = want.map((m) => getU32(m, A.OBJTYPE));
    expect(types.map((t) => types.indexOf(t))).toEqual(wantTypes.map((t) => wantTypes.indexOf(t)));
  });

  it('d2: lookup of a missing object → STATUS NOT_FOUND only; empty path → INVALID_ARGUMENT', async () => {
    const cap = loadCapture('d2_call_bad_object');
    const c = await connect();
    c.write(c2s(cap)[0]!.raw);
    expect((await c.untilStatus()).map(shape)).toEqual(s2c(cap).slice(1).map(shape));
    c.write(frame(T.LOOKUP, 2, 0, [attr(A.OBJPATH, Buffer.from([0]))]));
    expect(getU32((await c.next())!, A.STATUS)).toBe(2);
  });

  it('d: INVOKE forwarded to the owner with USER/GROUP; owner status comes back with peer = objid', async () => {
    const cap = loadCapture('d_call_bad_method');
    const owner = await connect();
    const sig = s2c(cap)[1]!.attrs.get(A.SIGNATURE)!;
    owner.write(frame(T.ADD_OBJECT, 1, 0, [attr(A.OBJPATH, Buffer.from('network.interface.demo\0')), attr(A.SIGNATURE, sig)]));
    const added = await owner.untilStatus();
    const objid = getU32(added[0]!, A.OBJID)!;
    const ids = new Map([[getU32(s2c(cap)[1]!, A.OBJID)!, objid]]);
    const cli = await connect();
    const req = c2s(cap);
    cli.write(req[0]!.raw);
    const look = await cli.untilStatus();
    expect(look.map(shape)).toEqual(s2c(cap).slice(1, 3).map(shape));
    cli.write(remap(req[1]!, ids));
    const fwd = await owner.next();
    // same shape as the forwarded INVOKEs the libubus server got in f_server_owner
    const capFwd = s2c(loadCapture('f_server_owner')).find((m) => m.type === T.INVOKE && getStr(m, A.METHOD) === 'fail')!;
    expect(shape(fwd)).toEqual(shape(capFwd));
    expect(fwd.peer).toBe(cli.id);
    expect(fwd.seq).toBe(req[1]!.seq);
    expect(getStr(fwd, A.USER)).toBe('root');
    owner.write(frame(T.STATUS, fwd.seq, fwd.peer, [attr(A.STATUS, u32(3)), attr(A.OBJID, u32(objid))]));
    const st = await cli.next();
    expect(shape(st)).toEqual(shape(s2c(cap)[3]!));
    expect(st.peer).toBe(objid);
  });

  it('f: DATA and deferred replies from the owner are forwarded; invalid replies are dropped silently', async () => {
    const srv = loadCapture('f_server_owner');
    const owner = await connect();
    owner.write(c2s(srv)[0]!.raw);
    const added = await owner.untilStatus();
    expect(added.map(shape)).toEqual(s2c(srv).slice(1, 3).map(shape));
    const objid = getU32(added[0]!, A.OBJID)!;
    const echo = loadCapture('f_client_call_echo');
    const cli = await connect();
    cli.write(c2s(echo)[0]!.raw);
    await cli.untilStatus();
    const ids = new Map([[getU32(s2c(echo)[1]!, A.OBJID)!, objid]]);
    cli.write(remap(c2s(echo)[1]!, ids));
    const inv = await owner.next();
    const capInv = s2c(srv).find((m) => m.type === T.INVOKE && getStr(m, A.METHOD) === 'echo')!;
    expect(shape(inv)).toEqual(shape(capInv));
    expect(inv.attrs.get(A.DATA)!.equals(capInv.attrs.get(A.DATA)!)).toBe(true);
    // invalid replies first: wrong object, DATA without DATA, STATUS without STATUS, unknown peer
    owner.write(frame(T.DATA, inv.seq, inv.peer, [attr(A.OBJID, u32(12345)), attr(A.DATA, Buffer.alloc(0))]));
    owner.write(frame(T.DATA, inv.seq, inv.peer, [attr(A.OBJID, u32(objid))]));
    owner.write(frame(T.STATUS, inv.seq, inv.peer, [attr(A.OBJID, u32(objid))]));
    owner.write(frame(T.STATUS, inv.seq, 77777, [attr(A.STATUS, u32(0)), attr(A.OBJID, u32(objid))]));
    // then the captured replies, re-addressed
    const capReplies = c2s(srv).filter((m) => (m.type === T.DATA || m.type === T.STATUS) && m.peer === capInv.peer);
    for (const r of capReplies) owner.write(remap(r, new Map([[getU32(r, A.OBJID)!, objid], [capInv.peer, inv.peer]])));
    const got = await cli.untilStatus();
    expect(got.map(shape)).toEqual(s2c(echo).slice(3).map(shape));
    expect(got[0]!.attrs.get(A.DATA)!.equals(s2c(echo)[3]!.attrs.get(A.DATA)!)).toBe(true);
    expect(got.every((m) => m.peer === objid)).toBe(true);
  });

  it('e: listen + send: one INVOKE per listener object, peer 0, no USER/GROUP; send gets STATUS 0', async () => {
    const lcap = loadCapture('e_listen');
    const scap = loadCapture('e_send');
    const l = await connect();
    const lreq = c2s(lcap);
    l.write(lreq[0]!.raw);
    const anon = await l.untilStatus();
    expect(anon.map(shape)).toEqual(s2c(lcap).slice(1, 3).map(shape));
    const h = getU32(anon[0]!, A.OBJID)!;
    // register {object: INT32 H, pattern: "*"} built like the CLI did, with our H
    const idv = Buffer.alloc(4);
    idv.writeInt32BE(h | 0);
    const reg = Buffer.concat([bmsg(5, 'object', idv), bmsg(3, 'pattern', Buffer.from('*\0'))]);
    l.write(frame(T.INVOKE, 2, 1, [attr(A.OBJID, u32(1)), attr(A.METHOD, Buffer.from('register\0')), attr(A.DATA, reg)]));
    const regSt = await l.untilStatus();
    expect(regSt.map(shape)).toEqual([shape(s2c(lcap)[3]!)]);
    expect(regSt[0]!.peer).toBe(1);
    const s = await connect();
    s.write(c2s(scap)[0]!.raw);
    expect((await s.untilStatus()).map(shape)).toEqual(s2c(scap).slice(1).map(shape));
    const ev = await l.next();
    const capEv = s2c(lcap)[4]!;
    expect(shape(ev)).toEqual(shape(capEv));
    expect(ev.peer).toBe(0);
    expect(getStr(ev, A.METHOD)).toBe('foo');
    expect(ev.attrs.get(A.DATA)!.equals(capEv.attrs.get(A.DATA)!)).toBe(true);
    // the listener's STATUS reply (peer 0) is dropped silently; the sender hears nothing more
    l.write(remap(c2s(lcap)[2]!, new Map([[getU32(c2s(lcap)[2]!, A.OBJID)!, h]])));
    expect(await s.drain()).toEqual([]);
  });

  it('e: register errors: missing fields INVALID_ARGUMENT, H < 1024 / not yours PERMISSION_DENIED, unknown H NOT_FOUND; ubus.* send denied', async () => {
    const a = await connect();
    const b = await connect();
    a.write(frame(T.ADD_OBJECT, 1, 0, []));
    const h = getU32((await a.untilStatus())[0]!, A.OBJID)!;
    const reg = (obj: number, pattern: string | undefined): Buffer => {
      const v = Buffer.alloc(4);
      v.writeInt32BE(obj | 0);
      const parts = [bmsg(5, 'object', v)];
      if (pattern !== undefined) parts.push(bmsg(3, 'pattern', Buffer.from(`${pattern}\0`)));
      return frame(T.INVOKE, 9, 1, [attr(A.OBJID, u32(1)), attr(A.METHOD, Buffer.from('register\0')), attr(A.DATA, Buffer.concat(parts))]);
    };
    const st = async (c: RawClient, f: Buffer): Promise<number | undefined> => {
      c.write(f);
      return getU32((await c.untilStatus()).at(-1)!, A.STATUS);
    };
    expect(await st(a, reg(h, undefined))).toBe(2);
    expect(await st(a, reg(5, 'x'))).toBe(6);
    expect(await st(b, reg(h, 'x'))).toBe(6);
    expect(await st(a, reg(0x7ffffff0, 'x'))).toBe(4);
    expect(await st(a, reg(h, ''))).toBe(6);
    const send = Buffer.concat([bmsg(3, 'id', Buffer.from('ubus.x\0')), bmsg(2, 'data', Buffer.alloc(0))]);
    expect(await st(a, frame(T.INVOKE, 3, 1, [attr(A.OBJID, u32(1)), attr(A.METHOD, Buffer.from('send\0')), attr(A.DATA, send)]))).toBe(6);
  });

  it('g: subscribe, ACTIVE 1/0, notify with SUBSCRIBERS and the subscriber status, NO_REPLY silence', async () => {
    const srv = loadCapture('f_server_owner');
    const sub = loadCapture('g_subscriber');
    const owner = await connect();
    owner.write(c2s(srv)[0]!.raw);
    const objid = getU32((await owner.untilStatus())[0]!, A.OBJID)!;
    const capT = getU32(s2c(srv)[1]!, A.OBJID)!;
    const s = await connect();
    const sreq = c2s(sub);
    s.write(sreq[0]!.raw);
    const anon = await s.untilStatus();
    expect(anon.map(shape)).toEqual(s2c(sub).slice(1, 3).map(shape));
    const sid = getU32(anon[0]!, A.OBJID)!;
    const capS = getU32(s2c(sub)[1]!, A.OBJID)!;
    const ids = new Map([[capT, objid], [capS, sid]]);
    s.write(sreq[1]!.raw);
    expect((await s.untilStatus()).map(shape)).toEqual(s2c(sub).slice(3, 5).map(shape));
    s.write(remap(sreq[2]!, ids));
    expect((await s.untilStatus()).map(shape)).toEqual([shape(s2c(sub)[5]!)]);
    const active = await owner.next();
    const capActive = s2c(srv).filter((m) => m.type === T.NOTIFY);
    expect(shape(active)).toEqual(shape(capActive[0]!));
    expect(active.attrs.get(A.ACTIVE)![0]).toBe(1);
    // owner notifies "tick" with reply
    const capNotify = c2s(srv).find((m) => m.type === T.NOTIFY)!;
    owner.write(remap(capNotify, ids, capT));
    const st = await owner.next();
    const capSt = s2c(srv).find((m) => m.type === T.STATUS && m.attrs.has(A.SUBSCRIBERS))!;
    expect(shape(st)).toEqual(shape(capSt));
    expect(walkAttrs(st.attrs.get(A.SUBSCRIBERS)!).map((x) => x.payload.readUInt32BE(0))).toEqual([sid]);
    const inv = await s.next();
    expect(shape(inv)).toEqual(shape(s2c(sub)[6]!));
    expect(inv.peer).toBe(owner.id);
    s.write(frame(T.STATUS, inv.seq, inv.peer, [attr(A.STATUS, u32(0)), attr(A.OBJID, u32(sid))]));
    const back = await owner.next();
    const capBack = s2c(srv).find((m) => m.type === T.STATUS && m.seq === capNotify.seq && m.peer !== capT)!;
    expect(shape(back)).toEqual(shape(capBack));
    expect(back.peer).toBe(sid);
    // NO_REPLY: subscriber gets it with NO_REPLY first, the owner gets nothing
    owner.write(frame(T.NOTIFY, 7, objid, [attr(A.OBJID, u32(objid)), attr(A.METHOD, Buffer.from('x\0')), attr(A.DATA, Buffer.alloc(0)), attr(A.NO_REPLY, Buffer.from([1]))]));
    const inv2 = await s.next();
    expect(attrOrder(inv2)).toEqual([A.NO_REPLY, A.OBJID, A.METHOD, A.USER, A.GROUP, A.DATA]);
    expect(await owner.drain()).toEqual([]);
    // subscriber leaves → ACTIVE 0
    s.close();
    const off = await owner.next();
    expect(shape(off)).toEqual(shape(capActive[1]!));
    expect(off.attrs.get(A.ACTIVE)![0]).toBe(0);
  });

  it('target removal sends UNSUBSCRIBE {OBJID S, TARGET T} with peer 0 (like the extdev capture)', async () => {
    const owner = await connect();
    owner.write(frame(T.ADD_OBJECT, 1, 0, [attr(A.OBJPATH, Buffer.from('t.obj\0')), attr(A.SIGNATURE, Buffer.alloc(0))]));
    const tid = getU32((await owner.untilStatus())[0]!, A.OBJID)!;
    const s = await connect();
    s.write(frame(T.ADD_OBJECT, 1, 0, []));
    const sid = getU32((await s.untilStatus())[0]!, A.OBJID)!;
    s.write(frame(T.SUBSCRIBE, 2, 0, [attr(A.OBJID, u32(sid)), attr(A.TARGET, u32(tid))]));
    await s.untilStatus();
    owner.write(frame(T.REMOVE_OBJECT, 2, 0, [attr(A.OBJID, u32(tid))]));
    const rm = await owner.untilStatus();
    expect(rm.map((m) => m.type)).toContain(T.STATUS);
    const un = await s.next();
    const capUn = s2c(loadCapture('x_netifd_session_extdev')).find((m) => m.type === T.UNSUBSCRIBE)!;
    expect(shape(un)).toEqual(shape(capUn));
    expect(un.peer).toBe(0);
    expect(getU32(un, A.TARGET)).toBe(tid);
  });

  it('subscribe errors: missing INVALID_ARGUMENT, unknown NOT_FOUND, own target INVALID_ARGUMENT', async () => {
    const a = await connect();
    a.write(frame(T.ADD_OBJECT, 1, 0, [attr(A.OBJPATH, Buffer.from('own\0')), attr(A.SIGNATURE, Buffer.alloc(0))]));
    const own = getU32((await a.untilStatus())[0]!, A.OBJID)!;
    a.write(frame(T.ADD_OBJECT, 2, 0, []));
    const sid = getU32((await a.untilStatus())[0]!, A.OBJID)!;
    const st = async (f: Buffer): Promise<number | undefined> => {
      a.write(f);
      return getU32((await a.untilStatus()).at(-1)!, A.STATUS);
    };
    expect(await st(frame(T.SUBSCRIBE, 3, 0, [attr(A.OBJID, u32(sid))]))).toBe(2);
    expect(await st(frame(T.SUBSCRIBE, 4, 0, [attr(A.OBJID, u32(sid)), attr(A.TARGET, u32(99999))]))).toBe(4);
    expect(await st(frame(T.SUBSCRIBE, 5, 0, [attr(A.OBJID, u32(sid)), attr(A.TARGET, u32(1))]))).toBe(4);
    expect(await st(frame(T.SUBSCRIBE, 6, 0, [attr(A.OBJID, u32(sid)), attr(A.TARGET, u32(own))]))).toBe(2);
    expect(await st(frame(T.ADD_OBJECT, 7, 0, [attr(A.OBJPATH, Buffer.from('own\0')), attr(A.SIGNATURE, Buffer.alloc(0))]))).toBe(2);
    expect(await st(frame(T.REMOVE_OBJECT, 8, 0, [attr(A.OBJID, u32(424242))]))).toBe(4);
  });

  it('PING echoes the body as DATA then STATUS 0; HELLO/MONITOR/unknown types → INVALID_COMMAND', async () => {
    const c = await connect();
    const body = attr(A.OBJPATH, Buffer.from('ping\0'));
    c.write(frame(T.PING, 5, 42, [body]));
    const r = await c.untilStatus();
    expect(r.map((m) => [m.type, m.seq, m.peer])).toEqual([[T.DATA, 5, 42], [T.STATUS, 5, 42]]);
    expect(r[0]!.body.equals(body)).toBe(true);
    for (const t of [T.HELLO, T.MONITOR, 12, 200]) {
      c.write(frame(t, 6, 0, []));
      expect(getU32(await c.next(), A.STATUS)).toBe(1);
    }
  });

  it('oversize and undersize frames disconnect; exactly 1 MiB is accepted', async () => {
    const ok = await connect();
    const big = Buffer.alloc(12);
    big.writeUInt32BE(0x00030001, 0); // PING seq 1
    big.writeUInt32BE(1048576, 8);
    ok.write(Buffer.concat([big, Buffer.alloc(1048576 - 4)]));
    expect((await ok.untilStatus(5000)).map((m) => m.type)).toEqual([T.DATA, T.STATUS]);
    const over = await connect();
    const h = Buffer.alloc(12);
    h.writeUInt32BE(1048577, 8);
    over.write(h);
    expect(await over.waitClosed()).toBe(true);
    const under = await connect();
    const u = Buffer.alloc(12);
    u.writeUInt32BE(3, 8);
    under.write(u);
    expect(await under.waitClosed()).toBe(true);
    expect(broker.clientCount).toBe(1);
  });

  it('a client disconnect removes its objects and broadcasts ubus.object.remove; restart() drops everything', async () => {
    const l = await connect();
    l.write(frame(T.ADD_OBJECT, 1, 0, []));
    const h = getU32((await l.untilStatus())[0]!, A.OBJID)!;
    const v = Buffer.alloc(4);
    v.writeInt32BE(h | 0);
    l.write(frame(T.INVOKE, 2, 1, [attr(A.OBJID, u32(1)), attr(A.METHOD, Buffer.from('register\0')), attr(A.DATA, Buffer.concat([bmsg(5, 'object', v), bmsg(3, 'pattern', Buffer.from('ubus.object.*\0'))]))]));
    await l.untilStatus();
    const o = await connect();
    o.write(frame(T.ADD_OBJECT, 1, 0, [attr(A.OBJPATH, Buffer.from('gone.soon\0')), attr(A.SIGNATURE, Buffer.alloc(0))]));
    await o.untilStatus();
    expect(getStr(await l.next(), A.METHOD)).toBe('ubus.object.add');
    o.close();
    expect(getStr(await l.next(), A.METHOD)).toBe('ubus.object.remove');
    expect(broker.paths()).toEqual([]);
    await broker.restart();
    expect(await l.waitClosed()).toBe(true);
    const again = await connect();
    expect(again.id).toBeGreaterThanOrEqual(1024);
  });
});
