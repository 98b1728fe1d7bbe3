// `xfrmd ubus …` against the test broker with a demo.obj server shaped like the
// C server of the captures: every cli-output/*.txt scenario is reproduced byte
// for byte (stdout + stderr, exit code; only the per-run @objid is normalised),
// plus the commands those files do not show.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { A, getStr, T, TestBroker } from '../support/broker.ts';
import { UbusClient } from '../../src/ubus/client.ts';
import { Status, UbusError } from '../../src/ubus/errors.ts';
import { BlobmsgType, double, int32, int64 } from '../../src/ubus/wire.ts';
import type { UbusObject } from '../../src/ubus/object.ts';
import { cliOutputs, REPO } from './support-shared.ts';

interface Run {
  stdout: string;
  stderr: string;
  code: number;
}

let broker: TestBroker;
let server: UbusClient;
let other: UbusClient;
let demo: UbusObject;

function cli(args: string[], socket = broker.socketPath): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'ubus', '-s', socket, ...args], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on('data', (b: Buffer) => out.push(b));
    p.stderr.on('data', (b: Buffer) => err.push(b));
    p.on('error', reject);
    p.on('close', (code) => resolve({ stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), code: code ?? -1 }));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const norm = (s: string): string => s.replace(/@[0-9a-f]{8}/g, '@xxxxxxxx');

/** Resolves once some client registered an event pattern (so a send is not missed). */
async function registered(pattern: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    for (const { msg } of broker.received) {
      if (msg.type !== T.INVOKE || getStr(msg, A.METHOD) !== 'register') continue;
      const data = msg.attrs.get(A.DATA);
      if (data && data.includes(Buffer.from(pattern + '\0'))) return;
    }
    if (Date.now() > end) throw new Error(`nobody registered ${pattern}`);
    await sleep(20);
  }
}

async function subscribed(ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (broker.subscriberCount('demo.obj') === 0) {
    if (Date.now() > end) throw new Error('no subscriber');
    await sleep(20);
  }
}

beforeAll(async () => {
  broker = await TestBroker.start();
  broker.recordTraffic = true;
  server = new UbusClient({ socketPath: broker.socketPath, reconnect: false });
  other = new UbusClient({ socketPath: broker.socketPath, reconnect: false });
  await server.connect();
  await other.connect();
  demo = await server.addObject('demo.obj', {
    echo: {
      policy: { msg: BlobmsgType.STRING, n: BlobmsgType.INT32 },
      // the capture's reply: string, int32, bool, int64, double, nested table/array
      handler: (req) => ({
        obj: 'demo.obj',
        method: 'echo',
        msg: req.args['msg'],
        n: int32(Number(req.args['n'])),
        ok: true,
        big: int64(72623859790382856n),
        pi: double(3.5),
        nested: { list: ['x', 7] },
      }),
    },
    fail: () => {
      throw new UbusError(Status.NOT_SUPPORTED);
    },
    notify: {
      policy: { n: BlobmsgType.INT32 },
      handler: async (req) => {
        const subs = await demo.notify('tick', { n: int32(Number(req.args['n'] ?? 0)) });
        return { notify_ret: 0, has_subscribers: subs.size > 0 };
      },
    },
    defer: async () => {
      await sleep(100);
      return { deferred: true };
    },
  });
});

afterAll(async () => {
  server.close();
  other.close();
  await broker.close();
});

/** How each cli-output file's command is run (listen needs a sender meanwhile). */
const scenarios: Record<string, { args: string[]; during?: () => Promise<void> }> = {
  'call-bad-json.txt': { args: ['call', 'demo.obj', 'echo', '{bad'] },
  'call-echo.txt': { args: ['call', 'demo.obj', 'echo', '{"msg":"hi","n":42}'] },
  'call-fail.txt': { args: ['call', 'demo.obj', 'fail'] },
  'call-no-method.txt': { args: ['call', 'demo.obj', 'nosuch'] },
  'call-no-object.txt': { args: ['call', 'no.such.object', 'status'] },
  'list-v-demo.txt': { args: ['-v', 'list', 'demo.obj'] },
  'list.txt': { args: ['list'] },
  'listen.txt': {
    args: ['-t', '2', 'listen', 'cap.*'],
    during: async () => {
      await registered('cap.*');
      await other.send('cap.one', { a: 1, b: [true, 's'], c: { d: -5 } });
    },
  },
  'wait-for-absent.txt': { args: ['-t', '1', 'wait_for', 'not.there'] },
  'wait-for-present.txt': { args: ['-t', '1', 'wait_for', 'demo.obj'] },
};

describe('cli-output parity', () => {
  const expectations = cliOutputs();

  it('every cli-output file has a scenario', () => {
    expect(expectations.map((e) => e.file).filter((f) => !(f in scenarios))).toEqual([]);
  });

  it.each(expectations.map((e) => [e.file, e] as const))('%s', async (file, exp) => {
    const sc = scenarios[file]!;
    // the recorded command line is the same command (listen's line carries a remark about the sender)
    if (file !== 'listen.txt') expect(`ubus ${sc.args.join(' ')}`).toBe(exp.command);
    else expect(exp.command.startsWith(`ubus ${sc.args.slice(0, 3).join(' ')} 'cap.*'`)).toBe(true);
    const running = cli(sc.args);
    await sc.during?.();
    const r = await running;
    expect(norm(r.stdout + r.stderr)).toBe(norm(exp.output));
    expect(r.code).toBe(exp.exit);
  });
});

/** Between a client and the broker: the broker's bytes reach the client in 100 ms batches, so a
 *  reply and an event right after it arrive in one read (as on a busy router). */
async function batchingProxy(): Promise<{ path: string; close(): void }> {
  const path = join(broker.dir, 'batching.sock');
  const proxy = net.createServer((client) => {
    const up = net.connect(broker.socketPath);
    let pending: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    up.on('data', (b: Buffer) => {
      pending.push(b);
      timer ??= setTimeout(() => {
        timer = undefined;
        client.write(Buffer.concat(pending));
        pending = [];
      }, 100);
    });
    client.on('data', (b: Buffer) => up.write(b));
    client.on('close', () => up.destroy());
    up.on('close', () => client.end());
    client.on('error', () => undefined);
    up.on('error', () => undefined);
  });
  await new Promise<void>((r) => proxy.listen(path, r));
  return { path, close: () => proxy.close() };
}

describe('commands beyond cli-output', () => {
  it('listen: an event in the same read as the reply to its registration is printed', async () => {
    const proxy = await batchingProxy();
    try {
      const running = cli(['-t', '2', 'listen', 'tight.*'], proxy.path);
      await registered('tight.*');
      await other.send('tight.one', { n: 1 });
      const r = await running;
      expect(r.stdout).toBe('{ "tight.one": {"n":1} }\n');
      expect(r.code).toBe(0);
    } finally {
      proxy.close();
    }
  });

  it('deferred reply, -S compact output, list -S, method errors with -S', async () => {
    expect(await cli(['call', 'demo.obj', 'defer'])).toEqual({ stdout: '{\n\t"deferred": true\n}\n', stderr: '', code: 0 });
    expect(await cli(['-S', 'call', 'demo.obj', 'echo', '{"msg":"a\\"b","n":-1}'])).toEqual({
      stdout: '{"obj":"demo.obj","method":"echo","msg":"a\\"b","n":-1,"ok":true,"big":72623859790382856,"pi":3.500000,"nested":{"list":["x",7]}}\n',
      stderr: '',
      code: 0,
    });
    expect(await cli(['-S', '-v', 'list'])).toEqual({ stdout: 'demo.obj\n', stderr: '', code: 0 });
    expect(await cli(['-S', 'call', 'demo.obj', 'nosuch'])).toEqual({ stdout: '', stderr: '', code: 3 });
    expect(await cli(['list', 'nothing.here'])).toEqual({ stdout: '', stderr: 'Command failed: Not found\n', code: 4 });
  });

  it('a call that sends DATA and then fails or times out prints the DATA, then the error (spec §7.3)', async () => {
    const obj = await other.addObject('partial.obj', {
      partial: (req) => {
        req.reply({ partial: 1 });
        throw new UbusError(Status.NOT_SUPPORTED);
      },
      stall: async (req) => {
        req.reply({ early: true });
        await sleep(5000);
      },
    });
    try {
      expect(await cli(['call', 'partial.obj', 'partial'])).toEqual({
        stdout: '{\n\t"partial": 1\n}\n',
        stderr: 'Command failed: ubus call partial.obj partial (Operation not supported)\n',
        code: 256 - Status.NOT_SUPPORTED,
      });
      // a timeout too: the DATA that arrived is printed first
      expect(await cli(['-t', '1', 'call', 'partial.obj', 'stall'])).toEqual({
        stdout: '{\n\t"early": true\n}\n',
        stderr: 'Command failed: ubus call partial.obj stall (Request timed out)\n',
        code: 256 - Status.TIMEOUT,
      });
    } finally {
      await obj.remove();
    }
  });

  it('subscribe prints notifications until -t, send delivers events', async () => {
    const running = cli(['-t', '2', 'subscribe', 'demo.obj']);
    await subscribed();
    const r1 = await other.call('demo.obj', 'notify', { n: int32(5) });
    expect(r1).toEqual([{ notify_ret: 0, has_subscribers: true }]);
    expect(await running).toEqual({ stdout: '{ "tick": {"n":5} }\n', stderr: '', code: 0 });

    const got: unknown[] = [];
    const l = await other.listen('cli.*', (ev, d) => void got.push([ev, d]));
    expect(await cli(['send', 'cli.ev', '{"x":[1,2.5,null],"big":-9007199254740993}'])).toEqual({ stdout: '', stderr: '', code: 0 });
    for (let i = 0; i < 100 && got.length === 0; i++) await sleep(20);
    expect(got).toEqual([['cli.ev', { x: [1, 2.5, null], big: -9007199254740993n }]]);
    await l.close();
    expect(await cli(['send', 'ubus.x'])).toEqual({ stdout: '', stderr: 'Command failed: Permission denied\n', code: 6 });
    expect(await cli(['send', 'cli.ev', '[1]'])).toEqual({ stdout: '', stderr: 'Command failed: Parsing message data failed\n', code: 12 });
  });

  it('wait_for an object that appears later; subscribe to a missing object', async () => {
    const running = cli(['-t', '5', 'wait_for', 'late.obj', 'demo.obj']);
    await registered('ubus.object.add');
    await sleep(200);
    const late = await other.addObject('late.obj', { x: () => ({}) });
    expect(await running).toEqual({ stdout: '', stderr: '', code: 0 });
    await late.remove();
    expect(await cli(['subscribe', 'not.there'])).toEqual({ stdout: '', stderr: "Error while registering for event 'not.there': Not found\n", code: 255 });
  });

  it('a call that times out exits 256 − TIMEOUT with the command line', async () => {
    const slow = await other.addObject('slow.obj', { hang: () => new Promise(() => undefined) });
    expect(await cli(['-t', '1', 'call', 'slow.obj', 'hang', '{}'])).toEqual({
      stdout: '',
      stderr: 'Command failed: ubus call slow.obj hang {} (Request timed out)\n',
      code: 249,
    });
    await slow.remove();
  });

  it('usage errors, unknown commands and a missing ubusd', async () => {
    const u = await cli(['call', 'demo.obj']);
    expect(u.code).toBe(254);
    expect(u.stderr).toMatch(/^Usage: xfrmd ubus \[<options>\] <command>/);
    expect((await cli(['frobnicate'])).code).toBe(254);
    expect(await cli(['list'], `${broker.dir}/nope.sock`)).toEqual({ stdout: '', stderr: 'Failed to connect to ubus\n', code: 255 });
  });
});
