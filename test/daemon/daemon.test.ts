// The daemon against the test broker and a fake netifd (behaving as the spec and
// captures show), with an in-memory kernel. The same flows run against real
// netlink in namespaces and in the real-kernel guest.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/log.ts';
import { startDaemon, type Daemon } from '../../src/daemon/daemon.ts';
import type { Capabilities } from '../../src/daemon/probe.ts';
import { UbusClient } from '../../src/ubus/client.ts';
import { StateStore } from '../../src/state/store.ts';
import { TestBroker } from '../support/broker.ts';
import { FakeKernel, kerr } from '../support/fake-kernel.ts';
import { FakeNetifd, type FakeIface } from '../support/fake-netifd.ts';

let broker: TestBroker;
let kernel: FakeKernel;
let stateDir: string;
let daemon: Daemon | undefined;
let netifdBus: UbusClient;
let netifd: FakeNetifd;
let caps: Capabilities;
const clients: UbusClient[] = [];

async function client(): Promise<UbusClient> {
  const c = new UbusClient({ socketPath: broker.socketPath, reconnect: false, timeoutMs: 5000 });
  await c.connect();
  clients.push(c);
  return c;
}

async function start(): Promise<Daemon> {
  daemon = await startDaemon({ socketPath: broker.socketPath, kernel, stateDir, log: silentLogger, retryMs: 50, probe: async () => caps });
  await daemon.ready;
  return daemon;
}

async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

beforeEach(async () => {
  broker = await TestBroker.start();
  kernel = new FakeKernel();
  kernel.addDevice('eth0');
  caps = { kernel: '6.12.0', xfrmInterface: true, collectMetadata: true, packetOffloadApi: true };
  stateDir = mkdtempSync(join(tmpdir(), 'xfrmd-state-'));
  netifdBus = await client();
  netifd = new FakeNetifd({
    addObject: (p, m) => netifdBus.addObject(p, m),
    call: (p, m, a) => netifdBus.call(p, m, (a ?? {}) as Record<string, never>),
    send: (e, d) => netifdBus.send(e, d as Record<string, never>),
  });
});

afterEach(async () => {
  daemon?.close();
  daemon = undefined;
  for (const c of clients.splice(0)) c.close();
  await broker.close();
  rmSync(stateDir, { recursive: true, force: true });
});

function vpn(config: Record<string, unknown> = {}): FakeIface {
  return netifd.addInterface('vpn0', 'xfrm', { ifid: '5', ipaddr: ['10.9.0.2/32'], ...config });
}

describe('xfrmd daemon with netifd', () => {
  it('setup: creates the device, notifies netifd with strict types, answers status; teardown removes everything', async () => {
    const iface = vpn({ parent_device: 'eth0', mtu: 1400, zone: 'vpn' });
    await netifd.start();
    await start();
    await netifd.ifup('vpn0');
    await until(() => iface.state === 'up', 'vpn0 up');

    const link = await kernel.getLink('vpn0');
    expect(link).toMatchObject({ kind: 'xfrm', up: true, mtu: 1400, xfrm: { ifId: 5, link: (await kernel.getLink('eth0'))!.index } });
    const up = iface.notifications.find((n) => n.action === 0)!;
    // The fake netifd parses with netifd's policy: a wrongly typed field would be missing here.
    expect(up.fields).toMatchObject({ action: 0, 'link-up': true, ifname: 'vpn0', ipaddr: [{ ipaddr: '10.9.0.2', mask: '32' }] });
    expect(iface.data).toMatchObject({ ifid: 5, zone: 'vpn', parent: 'eth0' });
    expect(iface.ipaddr).toEqual([{ ipaddr: '10.9.0.2', mask: '32' }]);

    const c = await client();
    const [st] = await c.call('xfrmd', 'status', { interface: 'vpn0' });
    expect(st).toMatchObject({ interface: 'vpn0', phase: 'up', device: 'vpn0', ifid: 5, parent: { device: 'eth0' }, addresses: ['10.9.0.2/32'] });

    await netifd.ifdown('vpn0');
    await until(() => iface.state === 'down', 'vpn0 down');
    expect(kernel.snapshot()).toEqual({ links: ['eth0'], addresses: [], routes: [], rules: [] });
  });

  it('a config error is reported once with a stable code and blocks netifd’s restart loop', async () => {
    const iface = netifd.addInterface('vpn0', 'xfrm', { mtu: '1400' });
    await netifd.start();
    await start();
    await netifd.ifup('vpn0');
    await until(() => iface.errors.length > 0 && iface.state === 'down', 'error reported');
    await new Promise((r) => setTimeout(r, 200));
    expect(iface.errors[0]).toMatchObject({ code: 'NO_IFID' });
    expect(iface.autostart).toBe(false);
    expect(iface.setups).toBe(1);
    expect(kernel.snapshot().links).toEqual(['eth0']);
  });

  it('tunlink not up yet: no loop; comes up by itself when the parent does, bound to its device', async () => {
    netifd.addInterface('wan', 'static', {}, { device: 'eth0' });
    const iface = vpn({ tunlink: 'wan' });
    await netifd.start();
    await start();
    await netifd.ifup('vpn0');
    await until(() => iface.state === 'down' && !iface.available, 'vpn0 unavailable');
    await new Promise((r) => setTimeout(r, 200));
    expect(iface.setups).toBeLessThanOrEqual(2);
    expect(iface.errors.map((e) => e.code)).toContain('PARENT_DOWN');

    await netifd.setStaticUp('wan', 'eth0');
    await until(() => iface.state === 'up', 'vpn0 up after wan');
    expect((await kernel.getLink('vpn0'))?.xfrm?.link).toBe((await kernel.getLink('eth0'))!.index);
  });

  it('follows the parent when its L3 device changes (PPPoE reconnect): device recreated and re-notified', async () => {
    const eth1 = kernel.addDevice('pppoe-wan');
    netifd.addInterface('wan', 'static', {}, { device: 'eth0' });
    const iface = vpn({ tunlink: 'wan' });
    await netifd.start();
    await start();
    await netifd.setStaticUp('wan', 'eth0');
    await netifd.ifup('vpn0');
    await until(() => iface.state === 'up', 'vpn0 up');
    const before = (await kernel.getLink('vpn0'))!;

    await netifd.setStaticUp('wan', 'pppoe-wan');
    await until(() => kernel.links.get(before.index) === undefined && iface.state === 'up', 'vpn0 recreated');
    const after = (await kernel.getLink('vpn0'))!;
    await until(() => iface.data.parent === 'pppoe-wan', 're-notified');
    expect(after.xfrm?.link).toBe(eth1.index);
  });

  it('a transient kernel failure: interface unavailable, retried with backoff, then up', async () => {
    kernel.failOn('createXfrmLink', kerr('ENOBUFS'));
    const iface = vpn();
    await netifd.start();
    await start();
    await netifd.ifup('vpn0');
    await until(() => iface.state === 'up', 'vpn0 up after retry');
    expect(iface.notifications.some((n) => n.action === 5 && n.fields.available === false)).toBe(true);
    expect(iface.setups).toBe(2);
  });

  it('duplicate if_id across sections: DUPLICATE_IFID naming the other one', async () => {
    const a = vpn();
    const b = netifd.addInterface('vpn1', 'xfrm', { ifid: '5' });
    await netifd.start();
    await start();
    await netifd.ifup('vpn0');
    await until(() => a.state === 'up', 'vpn0 up');
    await netifd.ifup('vpn1');
    await until(() => b.errors.length > 0, 'vpn1 error');
    expect(b.errors[0]).toMatchObject({ code: 'DUPLICATE_IFID' });
    expect(b.errors[0]!.data.join(' ')).toContain('vpn0');
  });

  it('restart: adopts what is up (same ifindex) and removes what netifd no longer wants', async () => {
    const a = vpn();
    const b = netifd.addInterface('vpn1', 'xfrm', { ifid: '6' });
    await netifd.start();
    await start();
    await netifd.ifup('vpn0');
    await netifd.ifup('vpn1');
    await until(() => a.state === 'up' && b.state === 'up', 'both up');
    const index = (await kernel.getLink('vpn0'))!.index;

    daemon!.close();
    daemon = undefined;
    // While the daemon is away, netifd forgets vpn1 (e.g. the section was deleted).
    netifd.ifaces.delete('vpn1');
    await start();
    expect((await kernel.getLink('vpn0'))?.index).toBe(index);
    expect(await kernel.getLink('vpn1')).toBeUndefined();
  });

  it('on a kernel without XFRM interfaces: NO_KERNEL_SUPPORT naming the package, no loop, kernel untouched', async () => {
    caps = { kernel: '5.4.0', xfrmInterface: false, collectMetadata: false, packetOffloadApi: false, hint: 'this kernel cannot create XFRM interfaces (CONFIG_XFRM_INTERFACE): install kmod-xfrm-interface' };
    const iface = vpn();
    await netifd.start();
    await start();
    await netifd.ifup('vpn0');
    await until(() => iface.errors.length > 0 && iface.state === 'down', 'error');
    expect(iface.errors[0]).toMatchObject({ code: 'NO_KERNEL_SUPPORT' });
    expect(iface.errors[0]!.data.join(' ')).toContain('kmod-xfrm-interface');
    expect(iface.setups).toBe(1);
    expect(kernel.calls).not.toContain('createXfrmLink');
    const [st] = await (await client()).call('xfrmd', 'status', {});
    expect(st).toMatchObject({ capabilities: { xfrmInterface: false } });
  });

  it('an if_id held by a device outside xfrmd: DUPLICATE_IFID naming it, no loop, no state left behind', async () => {
    await kernel.createXfrmLink({ name: 'other', ifId: 5, link: 0, collectMetadata: false, mtu: 1500, multicast: false });
    const iface = vpn();
    await netifd.start();
    await start();
    await netifd.ifup('vpn0');
    await until(() => iface.errors.length > 0 && iface.state === 'down', 'error');
    expect(iface.errors[0]).toMatchObject({ code: 'DUPLICATE_IFID' });
    expect(iface.errors[0]!.data.join(' ')).toContain('other');
    expect(iface.setups).toBe(1);
    expect(kernel.snapshot().links).toEqual(['eth0', 'other']);
    expect(new StateStore(stateDir).all()).toEqual([]);
  });

  it('rejects setup calls without an interface name', async () => {
    await netifd.start();
    await start();
    const c = await client();
    await expect(c.call('xfrmd', 'setup', { config: {} })).rejects.toMatchObject({ status: 2 });
    await expect(c.call('xfrmd', 'status', { interface: 'nope' })).rejects.toMatchObject({ status: 4 });
  });
});
