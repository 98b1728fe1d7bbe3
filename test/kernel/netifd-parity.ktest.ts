// Keeping the fake honest: one scenario, run once under OpenWrt's real netifd and once under
// test/support/fake-netifd.ts (both with the real daemon on a real kernel, each on its own
// ubusd), must produce the same transcript: after every step, each interface's netifd state
// (up, pending, available, autostart, error codes) and every kernel object of ours.
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../../src/log.ts';
import { startDaemon } from '../../src/daemon/daemon.ts';
import { Netlink } from '../../src/netlink/index.ts';
import { openKernel } from '../../src/reconcile/netlink-kernel.ts';
import { UbusClient } from '../../src/ubus/client.ts';
import { FakeNetifd } from '../support/fake-netifd.ts';
import { Netns } from './lib.ts';
import { NetifdStack, STACK, until } from './netifd-stack.ts';
import { kernelState, ours } from './kernel-state.ts';

const SECTIONS: Record<string, Record<string, unknown>> = {
  a: { ifid: '1', tunlink: 'wan', ipaddr: ['10.9.0.2/32'], route: ['10.20.0.0/16'], ip4table: '101' },
  b: { ifid: '2', ipaddr: ['10.9.1.2/32'], route: ['10.0.0.0/33'] },
  c: { ifid: '3', ipaddr: ['10.9.2.2/32'], route: ['10.30.0.0/16'], exempt_mark: '0x6' },
};
const NAMES = Object.keys(SECTIONS);

function uci(): string {
  const out = ["config interface 'wan'", "\toption device 'wan0'", "\toption proto 'static'", "\toption ipaddr '192.0.2.1'", "\toption netmask '255.255.255.0'", ''];
  for (const [name, opts] of Object.entries(SECTIONS)) {
    out.push(`config interface '${name}'`, "\toption proto 'xfrm'");
    for (const [k, v] of Object.entries(opts)) for (const x of Array.isArray(v) ? v : [v]) out.push(`\t${Array.isArray(v) ? 'list' : 'option'} ${k} '${String(x)}'`);
    out.push('');
  }
  return out.join('\n');
}

interface Router {
  ns: Netns;
  nl: Netlink;
  ifup(n: string): Promise<void>;
  ifdown(n: string): Promise<void>;
  wan(up: boolean): Promise<void>;
  view(): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

function newNs(): Netns {
  const ns = new Netns('xk-par');
  ns.batch(['link set lo up', 'link add wan0 type dummy', 'link set wan0 up']);
  return ns;
}

/** netifd's view of an interface, as both netifds answer it */
function brief(i: Record<string, unknown> | undefined): string {
  if (!i) return 'absent';
  const errors = Array.isArray(i.errors) ? (i.errors as Array<{ code: string }>).map((e) => e.code).join(',') : '';
  return `up=${String(i.up)} pending=${String(i.pending)} available=${String(i.available)} autostart=${String(i.autostart)} errors=${errors}`;
}

async function viewOf(client: UbusClient, nl: Netlink): Promise<Record<string, unknown>> {
  const [d] = await client.call('network.interface', 'dump', {});
  const list = ((d as { interface?: Array<Record<string, unknown>> }).interface ?? []).filter((i) => NAMES.includes(String(i.interface)));
  return { netifd: Object.fromEntries(list.map((i) => [i.interface, brief(i)]).sort()), kernel: ours(await kernelState(nl)) };
}

async function realRouter(): Promise<Router> {
  const ns = newNs();
  const nl = Netlink.open({ netns: ns.name });
  const stack = await NetifdStack.start({ ns, network: uci(), logName: 'parity' });
  return {
    ns,
    nl,
    ifup: async (n) => void (await stack.ifup(n)),
    ifdown: async (n) => void (await stack.ifdown(n)),
    wan: async (up) => void (await (up ? stack.ifup('wan') : stack.ifdown('wan'))),
    view: () => viewOf(stack.client, nl),
    async close() {
      await stack.close();
      nl.close();
      ns.destroy();
    },
  };
}

async function fakeRouter(): Promise<Router> {
  const ns = newNs();
  const nl = Netlink.open({ netns: ns.name });
  const dir = mkdtempSync('/tmp/xfrmd-parity-');
  const sock = join(dir, 'ubus.sock');
  const ubusd = spawn(join(STACK, 'sbin/ubusd'), ['-s', sock], { stdio: 'ignore' });
  await until(() => existsSync(sock), 'ubusd', 30_000, 20);
  const bus = new UbusClient({ socketPath: sock, reconnect: false, timeoutMs: 30_000 });
  await bus.connect();
  const netifd = new FakeNetifd({
    addObject: (p, m) => bus.addObject(p, m),
    call: (p, m, a) => bus.call(p, m, (a ?? {}) as Record<string, never>),
    send: (e, d) => bus.send(e, d as Record<string, never>),
  });
  netifd.addInterface('wan', 'static', {}, { device: 'wan0' });
  for (const [name, opts] of Object.entries(SECTIONS)) netifd.addInterface(name, 'xfrm', opts);
  await netifd.start();
  const k = await openKernel({ netns: ns.name, events: true });
  const daemon = await startDaemon({ socketPath: sock, stateDir: join(dir, 'state'), kernel: k.kernel, kernelEvents: k.events, log: silentLogger });
  await daemon.ready;
  await netifd.setStaticUp('wan', 'wan0');
  // netifd sets every autostart interface up at start
  for (const n of NAMES) await netifd.ifup(n);
  return {
    ns,
    nl,
    ifup: (n) => netifd.ifup(n),
    ifdown: (n) => netifd.ifdown(n),
    wan: (up) => (up ? netifd.setStaticUp('wan', 'wan0') : netifd.setStaticDown('wan')),
    view: () => viewOf(bus, nl),
    async close() {
      daemon.close();
      k.close();
      bus.close();
      ubusd.kill();
      nl.close();
      ns.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The view once it has stopped changing (and nothing is pending) for a while. */
async function settled(r: Router): Promise<Record<string, unknown>> {
  let last = JSON.stringify(await r.view());
  let since = Date.now();
  await until(async () => {
    const now = JSON.stringify(await r.view());
    if (now !== last || now.includes('pending=true')) {
      last = now;
      since = Date.now();
    }
    return Date.now() - since > 2500;
  }, 'a settled view', 120_000, 250);
  return JSON.parse(last) as Record<string, unknown>;
}

async function transcript(r: Router): Promise<Array<[string, Record<string, unknown>]>> {
  const out: Array<[string, Record<string, unknown>]> = [];
  const step = async (name: string, fn: () => Promise<void>) => {
    await fn();
    out.push([name, await settled(r)]);
  };
  await step('start', async () => undefined);
  await step('ifdown a', () => r.ifdown('a'));
  await step('ifup a', () => r.ifup('a'));
  await step('wan down', () => r.wan(false));
  await step('wan up', () => r.wan(true));
  await step('ifup b (config error again)', () => r.ifup('b'));
  await step('ifdown all', async () => {
    for (const n of NAMES) await r.ifdown(n);
  });
  return out;
}

describe('the fake netifd against the real one', () => {
  const routers: Router[] = [];
  afterAll(async () => {
    for (const r of routers) await r.close().catch(() => undefined);
  });

  it('the same scenario gives the same transcript under both', async () => {
    const real = await realRouter();
    routers.push(real);
    const a = await transcript(real);
    const fake = await fakeRouter();
    routers.push(fake);
    const b = await transcript(fake);
    expect(b).toEqual(a);
    // and the scenario says something: the route came and went
    expect(JSON.stringify(a[0])).toContain('10.20.0.0/16');
    expect(a.at(-1)?.[1].kernel).toEqual([]);
  });
});
