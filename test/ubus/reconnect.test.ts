// ubusd restarts: pending calls fail, the client comes back with a new id and
// re-creates its objects, event patterns and subscriptions.
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TestBroker, frame, parseMsg, attr, u32, A, T } from '../support/broker.ts';
import { UbusClient, type ConnectionState } from '../../src/ubus/client.ts';
import { Status, UbusError } from '../../src/ubus/errors.ts';
import { BlobmsgType } from '../../src/ubus/wire.ts';

let broker: TestBroker;
const clients: UbusClient[] = [];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(5);
  }
}

function make(reconnectDelayMs = 30): UbusClient {
  const c = new UbusClient({ socketPath: broker.socketPath, reconnect: true, reconnectDelayMs, maxReconnectDelayMs: 200, timeoutMs: 2000 });
  clients.push(c);
  return c;
}

beforeEach(async () => {
  broker = await TestBroker.start();
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await broker.close();
});

describe('reconnect', () => {
  it('re-adds objects (new ids, same signature), re-registers patterns and subscriptions; pending calls fail', async () => {
    const owner = make();
    const sub = make();
    const caller = make();
    await Promise.all([owner.connect(), sub.connect(), caller.connect()]);
    const states: ConnectionState[] = [];
    owner.on('state', (s) => states.push(s));
    let disconnects = 0;
    let reconnects = 0;
    owner.on('disconnect', () => disconnects++);
    owner.on('reconnect', () => reconnects++);
    const obj = await owner.addObject('svc', {
      hang: () => new Promise(() => undefined),
      echo: { policy: { v: BlobmsgType.INT32 }, handler: (req) => req.args },
    });
    const events: string[] = [];
    await owner.listen('app.*', (ev) => void events.push(ev));
    const notes: string[] = [];
    const s = await sub.subscribe('svc', (t) => void notes.push(t));
    await until(() => obj.hasSubscribers);
    const oldObj = obj.id;
    const oldClient = owner.clientId;
    const pending = caller.call('svc', 'hang', {}, { timeoutMs: 0 }).catch((e: unknown) => e);
    await sleep(20);

    await broker.restart();
    const err = await pending;
    expect(err).toBeInstanceOf(UbusError);
    expect((err as UbusError).status).toBe(Status.CONNECTION_FAILED);

    await until(() => owner.connected && sub.connected && caller.connected && s.active && obj.hasSubscribers);
    expect(disconnects).toBe(1);
    expect(reconnects).toBe(1);
    expect(states).toContain('disconnected');
    expect(states.at(-1)).toBe('connected');
    expect(owner.clientId).not.toBe(oldClient);
    expect(obj.id).not.toBe(oldObj);
    expect(obj.id).toBeGreaterThanOrEqual(1024);
    const [info] = await caller.lookup('svc');
    expect(info!.signature).toEqual({ hang: {}, echo: { v: BlobmsgType.INT32 } });
    expect(await caller.call('svc', 'echo', { v: 7 })).toEqual([{ v: 7 }]);
    await caller.send('app.started', {});
    await until(() => events.length === 1);
    expect(s.targetId).toBe(obj.id);
    await obj.notify('after', {});
    expect(notes).toEqual(['after']);
  });

  it('keeps retrying with backoff while ubusd is down, then comes back', async () => {
    const c = make(20);
    await c.connect();
    await c.addObject('x', { m: () => ({ ok: true }) });
    let attempts = 0;
    c.on('state', (s) => void (s === 'connecting' && attempts++));
    await broker.stop();
    await sleep(300);
    expect(c.state === 'disconnected' || c.state === 'connecting').toBe(true);
    expect(attempts).toBeGreaterThanOrEqual(2);
    expect(await c.call('x', 'm').catch((e: unknown) => (e as UbusError).status)).toBe(Status.CONNECTION_FAILED);
    await broker.restart();
    await until(() => c.connected);
    const other = make();
    await other.connect();
    expect(await other.call('x', 'm')).toEqual([{ ok: true }]);
  });

  it('connect() with reconnect waits for ubusd to appear; objects added before connecting are registered', async () => {
    await broker.stop();
    const c = make(20);
    const obj = await c.addObject('early', { m: () => ({ early: 1 }) });
    expect(obj.id).toBeUndefined();
    const p = c.connect();
    await sleep(100);
    expect(c.connected).toBe(false);
    await broker.restart();
    await p;
    expect(obj.id).toBeGreaterThanOrEqual(1024);
    const other = make();
    await other.connect();
    expect(await other.call('early', 'm')).toEqual([{ early: 1 }]);
  });

  it('a dropped connection (kicked) reconnects and re-adds the same path', async () => {
    const c = make(10);
    await c.connect();
    const obj = await c.addObject('kicked', { m: () => ({ n: 1 }) });
    const first = obj.id;
    broker.kick(c.clientId!);
    await until(() => c.connected && obj.id !== undefined && obj.id !== first);
    const other = make();
    await other.connect();
    expect(await other.call('kicked', 'm')).toEqual([{ n: 1 }]);
  });
});

describe('hostile or broken ubusd', () => {
  async function fakeUbusd(onConn: (sock: net.Socket, n: number) => void): Promise<net.Server> {
    await broker.stop();
    let n = 0;
    const srv = net.createServer((s) => {
      s.on('error', () => undefined);
      onConn(s, ++n);
    });
    await new Promise<void>((r) => srv.listen(broker.socketPath, r));
    return srv;
  }
  const closeServer = (srv: net.Server): Promise<void> => new Promise((r) => srv.close(() => r()));

  it('a framing error closes the connection, fails pending calls and reconnects', async () => {
    const srv = await fakeUbusd((s, n) => {
      s.write(frame(T.HELLO, 0, 5000 + n, []));
      s.on('data', (d: Buffer) => {
        const m = parseMsg(d);
        if (n === 1) {
          const bad = Buffer.alloc(12);
          bad.writeUInt32BE(2, 8); // outer length below 4
          s.write(bad);
        } else s.write(frame(T.STATUS, m.seq, m.peer, [attr(A.STATUS, u32(0))]));
      });
    });
    const c = make(10);
    await c.connect();
    expect(c.clientId).toBe(5001);
    expect((await c.ping().catch((e: unknown) => e)) as UbusError).toMatchObject({ status: Status.CONNECTION_FAILED });
    await until(() => c.connected && c.clientId === 5002);
    await c.ping();
    c.close();
    await closeServer(srv);
  });

  it('drops replies whose version is not 0 and replies for other (seq, peer)', async () => {
    const srv = await fakeUbusd((s) => {
      s.write(frame(T.HELLO, 0, 6000, []));
      s.on('data', (d: Buffer) => {
        const m = parseMsg(d);
        const wrongVersion = frame(T.STATUS, m.seq, m.peer, [attr(A.STATUS, u32(4))]);
        wrongVersion[0] = 1;
        s.write(Buffer.concat([
          wrongVersion,
          frame(T.STATUS, m.seq, m.peer + 1, [attr(A.STATUS, u32(4))]),
          frame(T.STATUS, (m.seq + 1) & 0xffff, m.peer, [attr(A.STATUS, u32(4))]),
          frame(T.DATA, m.seq, m.peer, [attr(A.OBJPATH, Buffer.from('a\0')), attr(A.OBJID, u32(1234)), attr(A.OBJTYPE, u32(1))]),
          frame(T.STATUS, m.seq, m.peer, [attr(A.STATUS, u32(0))]),
        ]));
      });
    });
    const c = make(10);
    await c.connect();
    expect(await c.lookup('a')).toEqual([{ path: 'a', id: 1234, typeId: 1, signature: {} }]);
    c.close();
    await closeServer(srv);
  });

  it('a server that never says HELLO, or closes at once, is retried', async () => {
    const srv = await fakeUbusd((s, n) => {
      if (n === 1) s.destroy();
      else if (n === 2) s.write(frame(T.STATUS, 0, 0, [])); // not a HELLO
      else s.write(frame(T.HELLO, 0, 7000 + n, []));
    });
    const c = make(10);
    await c.connect();
    expect(c.clientId).toBe(7003);
    c.close();
    await closeServer(srv);
  });
});
