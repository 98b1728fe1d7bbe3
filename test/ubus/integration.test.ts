// The ubus library end to end: several UbusClients through the test broker.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.ts';
import { UbusClient, type UbusClientOptions } from '../../src/ubus/client.ts';
import { UbusError, Status } from '../../src/ubus/errors.ts';
import { BlobmsgType, int32, int64 } from '../../src/ubus/wire.ts';
import type { UbusTable } from '../../src/ubus/object.ts';

let broker: TestBroker;
const clients: UbusClient[] = [];

async function client(opts: UbusClientOptions = {}): Promise<UbusClient> {
  const c = new UbusClient({ socketPath: broker.socketPath, reconnect: false, timeoutMs: 2000, ...opts });
  clients.push(c);
  await c.connect();
  return c;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(5);
  }
}
const status = async (p: Promise<unknown>): Promise<number> => {
  try {
    await p;
    return 0;
  } catch (e) {
    if (e instanceof UbusError) return e.status;
    throw e;
  }
};

beforeEach(async () => {
  broker = await TestBroker.start();
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await broker.close();
});

describe('calls', () => {
  it('serves and calls by path and by id, with DATA tables, deferred replies and errors', async () => {
    const srv = await client();
    const cli = await client();
    const seen: { user?: string; group?: string; args?: UbusTable }[] = [];
    const obj = await srv.addObject('demo.obj', {
      echo: {
        policy: { msg: BlobmsgType.STRING, n: BlobmsgType.INT32 },
        handler: (req) => {
          seen.push({ user: req.user, group: req.group, args: req.args });
          return { ...req.args, ok: true };
        },
      },
      multi: (req) => {
        req.reply({ part: 1 });
        req.reply({ part: 2 });
        return { part: 3 };
      },
      defer: async () => {
        await sleep(30);
        return { deferred: 'yes' };
      },
      fail: () => {
        throw new UbusError(Status.NOT_SUPPORTED);
      },
      crash: () => {
        throw new Error('bug');
      },
      nothing: () => undefined,
      code: () => Status.NO_DATA,
      bad: () => 'a string is not a table',
    });
    expect(obj.id).toBeGreaterThanOrEqual(1024);
    expect(await cli.call('demo.obj', 'echo', { msg: 'hi', n: 42, extra: 1 })).toEqual([{ msg: 'hi', n: 42, ok: true }]);
    expect(seen[0]).toEqual({ user: 'root', group: 'root', args: { msg: 'hi', n: 42 } });
    // strict policy: a wrongly typed field counts as missing
    expect(await cli.call('demo.obj', 'echo', { msg: 'x', n: int64(42n) })).toEqual([{ msg: 'x', ok: true }]);
    expect(await cli.call(obj.id!, 'multi')).toEqual([{ part: 1 }, { part: 2 }, { part: 3 }]);
    expect(await cli.call('demo.obj', 'defer')).toEqual([{ deferred: 'yes' }]);
    expect(await cli.call('demo.obj', 'nothing')).toEqual([]);
    expect(await status(cli.call('demo.obj', 'fail'))).toBe(Status.NOT_SUPPORTED);
    expect(await status(cli.call('demo.obj', 'code'))).toBe(Status.NO_DATA);
    expect(await status(cli.call('demo.obj', 'bad'))).toBe(Status.UNKNOWN_ERROR);
    expect(await status(cli.call('demo.obj', 'crash'))).toBe(Status.UNKNOWN_ERROR);
    expect(await status(cli.call('demo.obj', 'nosuch'))).toBe(Status.METHOD_NOT_FOUND);
    expect(await status(cli.call('no.such.object', 'status'))).toBe(Status.NOT_FOUND);
    expect(await status(cli.call(0x7654321, 'status'))).toBe(Status.NOT_FOUND);
    const err = await cli.call('demo.obj', 'fail').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UbusError);
    expect((err as UbusError).statusName).toBe('NOT_SUPPORTED');
    expect((err as UbusError).cliText).toBe('Operation not supported');
  });

  it('a client can call its own object through ubusd', async () => {
    const c = await client();
    await c.addObject('self', { m: (req) => ({ got: req.data['x'] ?? null, peer: req.peer === c.clientId }) });
    expect(await c.call('self', 'm', { x: 'y' })).toEqual([{ got: 'y', peer: true }]);
  });

  it('passes configured caller credentials', async () => {
    broker.user = 'network';
    broker.group = 'netgrp';
    const srv = await client();
    const cli = await client();
    let who = '';
    await srv.addObject('who', { ask: (req) => void (who = `${req.user}:${req.group}`) });
    await cli.call('who', 'ask');
    expect(who).toBe('network:netgrp');
  });

  it('pipelines many concurrent calls and matches replies by (seq, peer)', async () => {
    const a = await client();
    const b = await client();
    await a.addObject('a', { id: async (req) => (await sleep(Math.random() * 5), { v: req.data['v'] }) });
    await b.addObject('b', { id: (req) => ({ w: req.data['v'] }) });
    const ida = await b.lookupId('a');
    const idb = await a.lookupId('b');
    const calls: Promise<void>[] = [];
    for (let i = 0; i < 300; i++) {
      calls.push(b.call(ida, 'id', { v: i }).then((r) => void expect(r).toEqual([{ v: i }])));
      calls.push(a.call(idb, 'id', { v: i }).then((r) => void expect(r).toEqual([{ w: i }])));
    }
    await Promise.all(calls);
  });

  it('wraps the u16 seq without reusing one in flight', async () => {
    const srv = await client();
    const cli = await client();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    await srv.addObject('slow', { wait: async () => (await gate, { slow: true }) });
    await srv.addObject('fast', { go: (req) => ({ i: req.data['i'] }) });
    const slow = cli.call('slow', 'wait', {}, { timeoutMs: 0 });
    const id = await cli.lookupId('fast');
    for (let i = 0; i < 70000; i += 500) {
      const batch: Promise<unknown>[] = [];
      for (let j = 0; j < 500; j++) batch.push(cli.call(id, 'go', { i: i + j }));
      const r = await Promise.all(batch);
      expect(r[499]).toEqual([{ i: i + 499 }]);
    }
    release();
    expect(await slow).toEqual([{ slow: true }]);
  }, 60_000);

  it('times out per call (default and override); late replies are ignored', async () => {
    const srv = await client();
    const cli = await client({ timeoutMs: 100 });
    await srv.addObject('silent', { never: () => new Promise(() => undefined), late: async () => (await sleep(150), { late: 1 }) });
    const t0 = Date.now();
    expect(await status(cli.call('silent', 'never'))).toBe(Status.TIMEOUT);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
    expect(await status(cli.call('silent', 'never', {}, { timeoutMs: 30 }))).toBe(Status.TIMEOUT);
    expect(await status(cli.call('silent', 'late'))).toBe(Status.TIMEOUT);
    await sleep(100);
    expect(await cli.call('silent', 'late', {}, { timeoutMs: 1000 })).toEqual([{ late: 1 }]);
  });

  it('refuses to send over 1 MiB (INVALID_ARGUMENT) and replies INVALID_ARGUMENT for an oversized reply', async () => {
    const srv = await client();
    const cli = await client();
    await srv.addObject('big', { get: () => ({ s: 'x'.repeat(1100000) }), echo: (req) => req.data });
    expect(await status(cli.call('big', 'echo', { s: 'y'.repeat(1100000) }))).toBe(Status.INVALID_ARGUMENT);
    expect(await status(cli.call('big', 'get'))).toBe(Status.INVALID_ARGUMENT);
    expect(await cli.call('big', 'echo', { s: 'z'.repeat(1000) })).toEqual([{ s: 'z'.repeat(1000) }]);
  });

  it('NO_REPLY invokes get no STATUS; the id travels as INT32 raw bits', async () => {
    const srv = await client();
    await srv.addObject('t', { m: () => ({ big: int32(-1) }) });
    const cli = await client();
    expect(await cli.call('t', 'm')).toEqual([{ big: -1 }]);
    await cli.ping();
  });
});

describe('lookup', () => {
  it('exact, prefix*, all; signatures; not found', async () => {
    const srv = await client();
    await srv.addObject('network.interface', { status: { policy: { interface: BlobmsgType.STRING }, handler: () => undefined } });
    await srv.addObject('network.interface.lan', { status: () => undefined, up: () => undefined });
    await srv.addObject('network', { reload: () => undefined });
    await srv.addObject('system', { info: { policy: { n: BlobmsgType.INT32, b: BlobmsgType.BOOL, a: BlobmsgType.ARRAY, t: BlobmsgType.TABLE }, handler: () => undefined } });
    const cli = await client();
    const all = await cli.lookup();
    expect(all.map((o) => o.path)).toEqual(['network', 'network.interface', 'network.interface.lan', 'system']);
    const pre = await cli.lookup('network.*');
    expect(pre.map((o) => o.path)).toEqual(['network.interface', 'network.interface.lan']);
    expect((await cli.lookup('net*')).length).toBe(3);
    const [sys] = await cli.lookup('system');
    expect(sys!.signature).toEqual({ info: { n: 5, b: 7, a: 1, t: 2 } });
    expect(sys!.id).toBeGreaterThanOrEqual(1024);
    expect(await status(cli.lookup('nope'))).toBe(Status.NOT_FOUND);
    expect(await status(cli.lookupId('network.interface.wan'))).toBe(Status.NOT_FOUND);
  });

  it('calls by path follow an object that was removed and added again (new id)', async () => {
    const srv = await client();
    const cli = await client();
    let obj = await srv.addObject('moving', { m: () => ({ gen: 1 }) });
    expect(await cli.call('moving', 'm')).toEqual([{ gen: 1 }]);
    await obj.remove();
    expect(await status(cli.call('moving', 'm'))).toBe(Status.NOT_FOUND);
    obj = await srv.addObject('moving', { m: () => ({ gen: 2 }) });
    expect(await cli.call('moving', 'm')).toEqual([{ gen: 2 }]);
    await obj.remove();
    await srv.addObject('moving', { m: () => ({ gen: 3 }) });
    expect(await cli.call('moving', 'm')).toEqual([{ gen: 3 }]);
  });

  it('an owner answering NOT_FOUND is not invoked twice', async () => {
    const srv = await client();
    const cli = await client();
    let n = 0;
    await srv.addObject('nf', { m: () => (n++, Status.NOT_FOUND) });
    expect(await status(cli.call('nf', 'm'))).toBe(Status.NOT_FOUND);
    expect(await status(cli.call('nf', 'm'))).toBe(Status.NOT_FOUND);
    expect(n).toBe(2);
  });

  it('"OK without DATA" (ACL-hidden) is not found', async () => {
    const srv = await client();
    await srv.addObject('secret', { m: () => undefined });
    broker.hidden.add('secret');
    const cli = await client();
    expect(await cli.lookup('secret')).toEqual([]);
    expect(await status(cli.lookupId('secret'))).toBe(Status.NOT_FOUND);
    expect(await status(cli.call('secret', 'm'))).toBe(Status.NOT_FOUND);
  });

  it('remove object: gone from lookup, calls NOT_FOUND; duplicate path rejected', async () => {
    const srv = await client();
    const obj = await srv.addObject('x.y', { m: () => undefined });
    const other = await client();
    expect(await status(other.addObject('x.y', { m: () => undefined }))).toBe(Status.INVALID_ARGUMENT);
    expect(await status(srv.addObject('x.y', { m: () => undefined }))).toBe(Status.INVALID_ARGUMENT);
    const id = obj.id!;
    await obj.remove();
    expect(obj.id).toBeUndefined();
    expect(await status(other.call('x.y', 'm'))).toBe(Status.NOT_FOUND);
    expect(await status(other.call(id, 'm'))).toBe(Status.NOT_FOUND);
  });
});

describe('wait for objects', () => {
  it('waitForObject resolves when all paths exist, times out otherwise', async () => {
    const a = await client();
    const b = await client();
    await b.addObject('one', { m: () => undefined });
    await a.waitForObject('one', { timeoutMs: 100 });
    const p = a.waitForObject(['one', 'two', 'three'], { timeoutMs: 2000 });
    await sleep(20);
    await b.addObject('two', { m: () => undefined });
    await b.addObject('three', { m: () => undefined });
    await p;
    expect(await status(a.waitForObject('never', { timeoutMs: 50 }))).toBe(Status.TIMEOUT);
  });
});

describe('events', () => {
  it('delivers by exact and prefix patterns, once per listener, no loopback', async () => {
    const a = await client();
    const b = await client();
    const got: string[] = [];
    const both: string[] = [];
    await a.listen('net.if*', (ev, data) => void got.push(`${ev}:${JSON.stringify(data)}`));
    const l2 = await a.listen(['net.ifup', 'net.*', '*'], (ev) => void both.push(ev));
    await b.send('net.ifup', { interface: 'lan' });
    await b.send('other', {});
    await until(() => both.length === 2 && got.length === 1);
    expect(got).toEqual(['net.ifup:{"interface":"lan"}']);
    expect(both).toEqual(['net.ifup', 'other']);
    // no loopback: a's own send does not reach a's listeners
    await a.send('net.ifdown', {});
    await sleep(30);
    expect(got.length).toBe(1);
    await l2.close();
    await b.send('other', {});
    await sleep(30);
    expect(both.length).toBe(2);
    expect(await status(b.send('ubus.fake', {}))).toBe(Status.PERMISSION_DENIED);
    expect(await status(b.listen('', () => undefined))).toBe(Status.INVALID_ARGUMENT);
  });

  it('sees ubus.object.add / remove', async () => {
    const a = await client();
    const seen: string[] = [];
    await a.listen('ubus.object.*', (ev, d) => void seen.push(`${ev} ${String(d['path'])}`));
    const b = await client();
    const o = await b.addObject('p.q', { m: () => undefined });
    await o.remove();
    await until(() => seen.length === 2);
    expect(seen).toEqual(['ubus.object.add p.q', 'ubus.object.remove p.q']);
  });
});

describe('subscriptions', () => {
  it('ACTIVE, notify with reply (statuses), without reply, unsubscribe', async () => {
    const owner = await client();
    const obj = await owner.addObject('demo.obj', { m: () => undefined });
    const activity: boolean[] = [];
    obj.on('subscribers', (on) => activity.push(on));
    const s1 = await client();
    const s2 = await client();
    const got1: string[] = [];
    const sub1 = await s1.subscribe('demo.obj', (type, n) => {
      got1.push(`${type}:${JSON.stringify(n.data)}:${n.noReply}`);
      return Status.OK;
    });
    expect(sub1.active).toBe(true);
    const sub2 = await s2.subscribe('demo.obj', () => Status.NOT_SUPPORTED);
    await until(() => obj.hasSubscribers);
    expect(activity).toEqual([true]);
    const res = await obj.notify('tick', { n: 5 });
    expect([...res.values()].sort()).toEqual([Status.OK, Status.NOT_SUPPORTED]);
    expect(res.get(sub1.id!)).toBe(Status.OK);
    expect(res.get(sub2.id!)).toBe(Status.NOT_SUPPORTED);
    expect(got1).toEqual(['tick:{"n":5}:false']);
    const none = await obj.notify('quiet', { q: 1 }, { noReply: true });
    expect(none.size).toBe(0);
    await until(() => got1.length === 2);
    expect(got1[1]).toBe('quiet:{"q":1}:true');
    await sub1.close();
    await sub2.close();
    await until(() => !obj.hasSubscribers);
    expect(activity).toEqual([true, false]);
    expect(await status(s1.subscribe('no.such', () => undefined))).toBe(Status.NOT_FOUND);
  });

  it('notify with reply resolves on timeout with the statuses that came', async () => {
    const owner = await client();
    const obj = await owner.addObject('slow.obj', { m: () => undefined });
    const s1 = await client();
    const s2 = await client();
    const fast = await s1.subscribe('slow.obj', () => 0);
    await s2.subscribe('slow.obj', () => new Promise<number>(() => undefined));
    const t0 = Date.now();
    const res = await obj.notify('x', {}, { timeoutMs: 100 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
    expect([...res.entries()]).toEqual([[fast.id!, 0]]);
  });

  it('target removal → removed; resubscribes when the path comes back', async () => {
    const owner = await client();
    let obj = await owner.addObject('t.obj', { m: () => undefined });
    const s = await client();
    const got: string[] = [];
    const sub = await s.subscribe('t.obj', (type) => void got.push(type));
    let removed = 0;
    sub.on('removed', () => removed++);
    await obj.remove();
    await until(() => removed === 1);
    expect(sub.active).toBe(false);
    obj = await owner.addObject('t.obj', { m: () => undefined });
    await until(() => sub.active && obj.hasSubscribers);
    expect(sub.targetId).toBe(obj.id);
    await obj.notify('back', {});
    expect(got).toEqual(['back']);
  });

  it('waitForTarget subscribes once the object appears', async () => {
    const s = await client();
    const got: string[] = [];
    const sub = await s.subscribe('later.obj', (t) => void got.push(t), { waitForTarget: true });
    expect(sub.active).toBe(false);
    const owner = await client();
    const obj = await owner.addObject('later.obj', { m: () => undefined });
    await until(() => sub.active && obj.hasSubscribers);
    await obj.notify('hello', {}, { noReply: true });
    await until(() => got.length === 1);
  });
});

describe('connection state', () => {
  it('client disconnect removes its objects; close() fails pending calls with CONNECTION_FAILED', async () => {
    const srv = await client();
    await srv.addObject('hang', { m: () => new Promise(() => undefined) });
    const cli = await client();
    const p = cli.call('hang', 'm', {}, { timeoutMs: 0 });
    await sleep(20);
    cli.close();
    expect(cli.state).toBe('closed');
    expect(await status(p)).toBe(Status.CONNECTION_FAILED);
    expect(await status(cli.call('hang', 'm'))).toBe(Status.CONNECTION_FAILED);
    srv.close();
    await until(() => broker.paths().length === 0);
  });

  it('connect without reconnect fails with CONNECTION_FAILED when ubusd is absent', async () => {
    const c = new UbusClient({ socketPath: `${broker.dir}/none.sock`, reconnect: false });
    expect(await status(c.connect())).toBe(Status.CONNECTION_FAILED);
    expect(c.state).toBe('disconnected');
    c.close();
  });
});
