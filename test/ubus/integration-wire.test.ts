// What our client puts on the wire, compared with what the C clients (ubus CLI,
// libubus servers) sent in the captures: byte-identical where no per-run id is
// involved, same attributes in the same order otherwise.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { A, T, TestBroker, RawClient, loadCapture, attrOrder, attr, frame, u32, getU32, getStr, type BrokerMsg } from '../support/broker.ts';
import { UbusClient } from '../../src/ubus/client.ts';
import { BlobmsgType, int64, double } from '../../src/ubus/wire.ts';

let broker: TestBroker;
const clients: UbusClient[] = [];
const raws: RawClient[] = [];

async function client(): Promise<UbusClient> {
  const c = new UbusClient({ socketPath: broker.socketPath, reconnect: false, timeoutMs: 2000 });
  clients.push(c);
  await c.connect();
  return c;
}
const sent = (c: UbusClient): BrokerMsg[] => broker.received.filter((r) => r.client === c.clientId).map((r) => r.msg);
const c2s = (name: string): BrokerMsg[] => loadCapture(name).filter((m) => m.dir === 'c2s').map((m) => m.msg);
const s2c = (name: string): BrokerMsg[] => loadCapture(name).filter((m) => m.dir === 's2c').map((m) => m.msg);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

beforeEach(async () => {
  broker = await TestBroker.start();
  broker.recordTraffic = true;
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const r of raws.splice(0)) r.close();
  await broker.close();
});

const DEMO_METHODS = {
  echo: { policy: { msg: BlobmsgType.STRING, n: BlobmsgType.INT32 }, handler: () => undefined },
  fail: () => undefined,
  notify: { policy: { n: BlobmsgType.INT32 }, handler: () => undefined },
  defer: () => undefined,
};

describe('our requests match the C clients byte for byte', () => {
  it('ADD_OBJECT with SIGNATURE equals the libubus server (f_server_owner)', async () => {
    const c = await client();
    await c.addObject('demo.obj', DEMO_METHODS);
    expect(sent(c)[0]!.raw.toString('hex')).toBe(c2s('f_server_owner')[0]!.raw.toString('hex'));
  });

  it('LOOKUP, INVOKE with empty DATA (c_call_status) and with arguments (f_client_call_echo)', async () => {
    const owner = await client();
    await owner.addObject('network.interface.demo', { status: () => undefined });
    await owner.addObject('demo.obj', DEMO_METHODS);
    const c = await client();
    await c.call('network.interface.demo', 'status');
    const mine = sent(c);
    const cap = c2s('c_call_status');
    expect(mine[0]!.raw.toString('hex')).toBe(cap[0]!.raw.toString('hex'));
    expect(attrOrder(mine[1]!)).toEqual(attrOrder(cap[1]!));
    expect(mine[1]!.attrs.get(A.DATA)!.length).toBe(0);
    expect(mine[1]!.raw.length).toBe(cap[1]!.raw.length);
    const c2 = await client();
    await c2.call('demo.obj', 'echo', { msg: 'hi', n: 42 });
    const echo = c2s('f_client_call_echo');
    const m2 = sent(c2);
    expect(m2[0]!.raw.toString('hex')).toBe(echo[0]!.raw.toString('hex'));
    expect(attrOrder(m2[1]!)).toEqual(attrOrder(echo[1]!));
    expect(m2[1]!.attrs.get(A.DATA)!.toString('hex')).toBe(echo[1]!.attrs.get(A.DATA)!.toString('hex'));
  });

  it('event send equals `ubus send foo {"a":1}`; listen = anonymous ADD + register {object INT32, pattern}', async () => {
    const s = await client();
    await s.send('foo', { a: 1 });
    expect(sent(s)[0]!.raw.toString('hex')).toBe(c2s('e_send')[0]!.raw.toString('hex'));
    const l = await client();
    await l.listen('*', () => undefined);
    const mine = sent(l);
    const cap = c2s('e_listen');
    expect(mine[0]!.raw.toString('hex')).toBe(cap[0]!.raw.toString('hex'));
    expect(attrOrder(mine[1]!)).toEqual(attrOrder(cap[1]!));
    expect(mine[1]!.raw.length).toBe(cap[1]!.raw.length);
    expect(getStr(mine[1]!, A.METHOD)).toBe('register');
    expect(mine[1]!.peer).toBe(1);
  });

  it('subscribe: anonymous ADD, LOOKUP, SUBSCRIBE {OBJID, TARGET} like `ubus subscribe`', async () => {
    const owner = await client();
    await owner.addObject('demo.obj', DEMO_METHODS);
    const s = await client();
    await s.subscribe('demo.obj', () => undefined);
    // our client also registers its ubus.object.add watch (anonymous object + register) first
    const mine = sent(s).filter((m) => !(m.type === T.INVOKE && getU32(m, A.OBJID) === 1));
    const cap = c2s('g_subscriber').slice(0, 3);
    const kinds = (ms: BrokerMsg[]): [number, number[]][] => ms.map((m) => [m.type, attrOrder(m)]);
    expect(kinds(mine).slice(-3)).toEqual(kinds(cap));
    // byte-identical apart from the seq (the watch used two before)
    expect(mine.at(-2)!.raw.subarray(4).toString('hex')).toBe(cap[1]!.raw.subarray(4).toString('hex'));
  });
});

describe('our server side matches libubus', () => {
  it('replies: DATA {OBJID, DATA} then STATUS {STATUS, OBJID}, same seq/peer as the INVOKE; types like the C server', async () => {
    const srv = await client();
    const obj = await srv.addObject('demo.obj', {
      echo: (req) => ({
        obj: 'demo.obj', method: req.method, msg: req.data['msg'] ?? null, n: req.data['n'] ?? null,
        ok: true, big: int64(72623859790382856n), pi: double(3.5), nested: { list: ['x', 7] },
      }),
    });
    const raw = await RawClient.connect(broker.socketPath);
    raws.push(raw);
    const cap = c2s('f_client_call_echo')[1]!;
    // replay the CLI's INVOKE with this run's object id
    raw.write(frame(T.INVOKE, cap.seq, obj.id!, [attr(A.OBJID, u32(obj.id!)), attr(A.METHOD, Buffer.from('echo\0')), attr(A.DATA, cap.attrs.get(A.DATA)!)]));
    const got = await raw.untilStatus();
    const srvCap = c2s('f_server_owner');
    const capData = srvCap.find((m) => m.type === T.DATA)!;
    const capStatus = srvCap.find((m) => m.type === T.STATUS)!;
    expect(got.map((m) => [m.type, attrOrder(m)])).toEqual([[T.DATA, attrOrder(capData)], [T.STATUS, attrOrder(capStatus)]]);
    // same members, same blobmsg types as the C server's reply
    expect(got[0]!.attrs.get(A.DATA)!.toString('hex')).toBe(capData.attrs.get(A.DATA)!.toString('hex'));
    expect(got.every((m) => m.seq === cap.seq && m.peer === obj.id)).toBe(true);
  });

  it('answers a notification with STATUS {STATUS, OBJID S} and an event with STATUS to peer 0, like libubus', async () => {
    const owner = await RawClient.connect(broker.socketPath);
    raws.push(owner);
    owner.write(c2s('f_server_owner')[0]!.raw);
    const tid = getU32((await owner.untilStatus())[0]!, A.OBJID)!;
    const s = await client();
    const sub = await s.subscribe('demo.obj', () => 0);
    await owner.next(); // ACTIVE 1
    const capN = c2s('f_server_owner').find((m) => m.type === T.NOTIFY)!;
    owner.write(frame(T.NOTIFY, capN.seq, tid, [attr(A.OBJID, u32(tid)), attr(A.METHOD, Buffer.from('tick\0')), attr(A.DATA, capN.attrs.get(A.DATA)!)]));
    await owner.next(); // STATUS with SUBSCRIBERS
    const back = await owner.next();
    expect(back.peer).toBe(sub.id);
    const mine = sent(s).find((m) => m.type === T.STATUS)!;
    const cap = c2s('g_subscriber').find((m) => m.type === T.STATUS)!;
    expect(attrOrder(mine)).toEqual(attrOrder(cap));
    expect(mine.seq).toBe(capN.seq);
    expect(mine.peer).toBe(owner.id);
    await sleep(10);
    const l = await client();
    await l.listen('foo', () => undefined);
    const sender = await client();
    await sender.send('foo', { a: 1 });
    await sleep(30);
    const evReply = sent(l).find((m) => m.type === T.STATUS)!;
    const capEv = c2s('e_listen').find((m) => m.type === T.STATUS)!;
    expect(attrOrder(evReply)).toEqual(attrOrder(capEv));
    expect(evReply.peer).toBe(0);
  });

  it('notify: NOTIFY {OBJID, METHOD, DATA} with peer = own id, like ubus_notify', async () => {
    const srv = await client();
    const obj = await srv.addObject('demo.obj', DEMO_METHODS);
    await obj.notify('tick', { n: 5 });
    const mine = sent(srv).find((m) => m.type === T.NOTIFY)!;
    const cap = c2s('f_server_owner').find((m) => m.type === T.NOTIFY)!;
    expect(attrOrder(mine)).toEqual(attrOrder(cap));
    expect(mine.peer).toBe(obj.id);
    expect(mine.attrs.get(A.DATA)!.toString('hex')).toBe(cap.attrs.get(A.DATA)!.toString('hex'));
    await obj.notify('tick', { n: 5 }, { noReply: true });
    await sleep(20);
    const nr = sent(srv).filter((m) => m.type === T.NOTIFY)[1]!;
    const capNr = c2s('x_netifd_session_extdev').find((m) => m.type === T.NOTIFY)!;
    expect(new Set(attrOrder(nr))).toEqual(new Set(attrOrder(capNr)));
    expect(s2c('f_server_owner').length).toBeGreaterThan(0);
  });
});

describe('wire adapter: the spec §12 worked examples', () => {
  const hex = (s: string): string => s.replace(/[^0-9a-f]/gi, '').toLowerCase();
  it('LOOKUP, INVOKE with empty DATA, DATA reply, STATUS', async () => {
    const { encodeMessage, decodeMessage, encodeTableBody, decodeTableBody, MsgType } = await import('../../src/ubus/wire.ts');
    const lookup = encodeMessage({ type: MsgType.LOOKUP, seq: 1, peer: 0, attrs: { objpath: 'network.interface.lan' } });
    expect(lookup.toString('hex')).toBe(hex('00 04 00 01 00 00 00 00 00 00 00 20 02 00 00 1a 6e 65 74 77 6f 72 6b 2e 69 6e 74 65 72 66 61 63 65 2e 6c 61 6e 00 00 00'));
    const st = decodeMessage(Buffer.from(hex('00 01 00 01 00 00 00 00 00 00 00 0c 01 00 00 08 00 00 00 00'), 'hex'));
    expect(st).toEqual({ type: MsgType.STATUS, seq: 1, peer: 0, attrs: { status: 0 } });
    const inv = encodeMessage({ type: MsgType.INVOKE, seq: 2, peer: 0x1234abcd, attrs: { objid: 0x1234abcd, method: 'status', data: Buffer.alloc(0) } });
    expect(inv.toString('hex')).toBe(hex('00 05 00 02 12 34 ab cd 00 00 00 1c 03 00 00 08 12 34 ab cd 04 00 00 0b 73 74 61 74 75 73 00 00 07 00 00 04'));
    const data = encodeMessage({ type: MsgType.DATA, seq: 2, peer: 0x5a3c19f2, attrs: { objid: 0x1234abcd, data: encodeTableBody({ up: true, l3_device: 'eth0' }) } });
    expect(data.toString('hex')).toBe(hex(`00 02 00 02 5a 3c 19 f2 00 00 00 38 03 00 00 08 12 34 ab cd 07 00 00 2c
      87 00 00 0d 00 02 75 70 00 00 00 00 01 00 00 00 83 00 00 15 00 09 6c 33 5f 64 65 76 69 63 65 00 65 74 68 30 00 00 00 00`));
    expect(decodeTableBody(decodeMessage(data).attrs.data!)).toEqual({ up: true, l3_device: 'eth0' });
    const status = encodeMessage({ type: MsgType.STATUS, seq: 2, peer: 0x5a3c19f2, attrs: { status: 0, objid: 0x1234abcd } });
    expect(status.toString('hex')).toBe(hex('00 01 00 02 5a 3c 19 f2 00 00 00 14 01 00 00 08 00 00 00 00 03 00 00 08 12 34 ab cd'));
    expect(encodeTableBody({ dns: ['1.1.1.1'] }).toString('hex')).toBe(hex('81 00 00 1c 00 03 64 6e 73 00 00 00 83 00 00 10 00 00 00 00 31 2e 31 2e 31 2e 31 00'));
    expect(encodeTableBody({ e: null }).toString('hex')).toBe(hex('80 00 00 08 00 01 65 00'));
    expect(encodeTableBody({ d: 1.5 }).toString('hex')).toBe(hex('88 00 00 10 00 01 64 00 3f f8 00 00 00 00 00 00'));
    expect(decodeTableBody(encodeTableBody({ big: 3000000000, neg: -5, s: 'x', t: { a: [1, 'b'] } }))).toEqual({ big: 3000000000, neg: -5, s: 'x', t: { a: [1, 'b'] } });
  });
});
