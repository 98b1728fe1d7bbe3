import { describe, expect, it } from 'vitest';
import { XFRMD_RTPROT, type RouteSpec, type RuleSpec } from '../../src/model.ts';
import { applyPlan, devicePresent, indexActual, removeInstalled, type Installed, type KernelPlan } from '../../src/reconcile/reconcile.ts';
import type { Kernel } from '../../src/reconcile/kernel.ts';
import { routeKey } from '../../src/reconcile/keys.ts';
import { FakeKernel, kerr } from '../support/fake-kernel.ts';

function roadWarrior(parent = 0): KernelPlan {
  const route: RouteSpec = { family: 4, dst: '0.0.0.0', dstLen: 0, table: 1001, type: 'unicast', dev: 'vpn0', prefsrc: '10.9.0.2', protocol: XFRMD_RTPROT };
  const exempt: RuleSpec = { family: 4, priority: 99, action: 'lookup', table: 254, fwmark: 6, fwmask: 0xffffffff, protocol: XFRMD_RTPROT };
  const to: RuleSpec = { family: 4, priority: 100, action: 'lookup', table: 1001, dst: { addr: '0.0.0.0', len: 0 }, protocol: XFRMD_RTPROT };
  return {
    link: { name: 'vpn0', ifId: 1, link: parent, collectMetadata: false, mtu: 1400, multicast: false },
    addresses: [{ family: 4, address: '10.9.0.2', prefixLen: 32, dev: 'vpn0' }],
    routes: [route],
    rules: [exempt, to],
  };
}

const empty = { links: [], addresses: [], routes: [], rules: [] };

describe('applyPlan', () => {
  it('creates the device, addresses, routes and rules, and removeInstalled takes all of it away', async () => {
    const k = new FakeKernel();
    const installed = await applyPlan(k, roadWarrior());
    expect(installed.link.created).toBe(true);
    const link = await k.getLink('vpn0');
    expect(link).toMatchObject({ kind: 'xfrm', up: true, mtu: 1400, xfrm: { ifId: 1, link: 0 } });
    expect(k.snapshot().routes).toHaveLength(1);
    expect(k.snapshot().rules).toHaveLength(2);
    await removeInstalled(k, installed);
    expect(k.snapshot()).toEqual(empty);
  });

  it('is idempotent: applying again with the previous state changes nothing', async () => {
    const k = new FakeKernel();
    const first = await applyPlan(k, roadWarrior());
    k.calls = [];
    const second = await applyPlan(k, roadWarrior(), { previous: first });
    expect(second).toEqual(first);
    expect(k.calls.filter((c) => /^(add|delete|create|set)/.test(c))).toEqual([]);
  });

  // Fail every mutating step in turn: the kernel must be left exactly as before.
  const steps: Array<keyof Kernel> = ['createXfrmLink', 'setLink', 'addAddress', 'addRoute', 'addRule'];
  for (const op of steps) {
    it(`rolls back everything when ${op} fails`, async () => {
      const k = new FakeKernel();
      const before = k.snapshot();
      k.failOn(op, kerr('ENOBUFS'), op === 'addRule' ? 1 : 0);
      await expect(applyPlan(k, roadWarrior())).rejects.toMatchObject({ code: expect.any(String) });
      expect(k.snapshot()).toEqual(before);
    });
  }

  it('a batch with one failed request: the others went through and are rolled back exactly', async () => {
    const k = new FakeKernel();
    const plan = roadWarrior();
    const base = plan.routes[0]!;
    plan.routes = [0, 1, 2].map((i) => ({ ...base, dst: `10.${i}.0.0`, dstLen: 16 }));
    k.failOn('addRoute', kerr('ENOBUFS'), 1);
    await expect(applyPlan(k, plan)).rejects.toMatchObject({ code: 'KERNEL_ERROR', message: expect.stringContaining('10.1.0.0/16') });
    // every route of the batch was sent, the first and the third went through and were taken back
    expect(k.calls.filter((c) => c === 'addRoute')).toHaveLength(3);
    expect(k.calls.filter((c) => c === 'deleteRoute')).toHaveLength(2);
    expect(k.snapshot()).toEqual(empty);
  });

  it('rolls back on an adopted device without deleting it, restoring its settings', async () => {
    const k = new FakeKernel();
    const dev = await k.createXfrmLink({ name: 'vpn0', ifId: 1, link: 0, collectMetadata: false, mtu: 1500, multicast: false });
    k.failOn('addRoute', kerr('EINVAL'));
    await expect(applyPlan(k, roadWarrior())).rejects.toMatchObject({ code: 'KERNEL_ERROR' });
    expect(k.links.get(dev.index)).toMatchObject({ up: false, mtu: 1500 });
    expect(k.snapshot().addresses).toEqual([]);
  });

  it('adopts a matching device it did not create and never deletes it', async () => {
    const k = new FakeKernel();
    await k.createXfrmLink({ name: 'vpn0', ifId: 1, link: 0, collectMetadata: false, mtu: 1500, multicast: false });
    const installed = await applyPlan(k, roadWarrior());
    expect(installed.link.created).toBe(false);
    await removeInstalled(k, installed);
    expect(k.snapshot()).toEqual({ ...empty, links: ['vpn0'] });
  });

  it('refuses a same-named device that is not ours and differs: DEVICE_EXISTS, nothing touched', async () => {
    const k = new FakeKernel();
    k.addDevice('vpn0', 'veth');
    await expect(applyPlan(k, roadWarrior())).rejects.toMatchObject({ code: 'DEVICE_EXISTS', message: expect.stringContaining('veth') });
    expect(k.snapshot()).toEqual({ ...empty, links: ['vpn0'] });
  });

  it('recreates its own device when the parent changed', async () => {
    const k = new FakeKernel();
    const wan1 = k.addDevice('wan1');
    const wan2 = k.addDevice('wan2');
    const first = await applyPlan(k, roadWarrior(wan1.index));
    const second = await applyPlan(k, roadWarrior(wan2.index), { previous: first });
    expect(second.link.index).not.toBe(first.link.index);
    expect((await k.getLink('vpn0'))?.xfrm?.link).toBe(wan2.index);
    expect(k.snapshot().routes).toHaveLength(1);
  });

  it('names the holder of a duplicate if_id', async () => {
    const k = new FakeKernel();
    await k.createXfrmLink({ name: 'other', ifId: 1, link: 0, collectMetadata: false, mtu: 1500, multicast: false });
    await expect(applyPlan(k, roadWarrior())).rejects.toMatchObject({ code: 'DUPLICATE_IFID', message: expect.stringContaining('other') });
  });

  it('says which package to install when the kernel lacks XFRM interfaces', async () => {
    const k = new FakeKernel();
    k.xfrmSupported = false;
    await expect(applyPlan(k, roadWarrior())).rejects.toMatchObject({ code: 'NO_KERNEL_SUPPORT', message: expect.stringContaining('kmod-xfrm-interface') });
  });

  it('reports a foreign route in the way as ROUTE_EXISTS and rolls back', async () => {
    const k = new FakeKernel();
    const plan = roadWarrior();
    k.addDevice('lan');
    await k.addRoute({ ...plan.routes[0]!, dev: 'lan', protocol: 3 });
    await expect(applyPlan(k, plan)).rejects.toMatchObject({ code: 'ROUTE_EXISTS' });
    expect(k.snapshot().links).toEqual(['lan']);
  });

  it('removes what the previous generation installed and the new one does not want', async () => {
    const k = new FakeKernel();
    const first = await applyPlan(k, roadWarrior());
    const next = roadWarrior();
    next.rules = next.rules.slice(1);
    next.addresses = [{ family: 4, address: '10.9.0.3', prefixLen: 32, dev: 'vpn0' }];
    const second = await applyPlan(k, next, { previous: first });
    expect(second.rules).toHaveLength(1);
    expect(k.snapshot().rules).toHaveLength(1);
    expect(k.snapshot().addresses).toEqual(['4|vpn0|10.9.0.3/32']);
  });

  it('with a dump of what actually exists, re-adds what someone deleted behind our back', async () => {
    const k = new FakeKernel();
    const first = await applyPlan(k, roadWarrior());
    k.rules.clear();
    const actual = indexActual(await k.dumpRoutes(XFRMD_RTPROT), await k.dumpRules(XFRMD_RTPROT));
    await applyPlan(k, roadWarrior(), { previous: first, actual });
    expect(k.snapshot().rules).toHaveLength(2);
  });

  it('persists its intent (device to be created, every planned route and rule) before the first change', async () => {
    const k = new FakeKernel();
    const seen: Array<[number, number, boolean, number, number] | undefined> = [];
    const p = roadWarrior();
    await applyPlan(k, p, { persist: (i) => void seen.push(i && [k.links.size, i.link.index, i.link.created, i.routes.length, i.rules.length]) });
    expect(seen).toEqual([[0, 0, true, p.routes.length, p.rules.length]]);
  });

  it('after a failure whose rollback went through, records what it owned before (nothing)', async () => {
    const k = new FakeKernel();
    k.failOn('addRule', kerr('ENOBUFS'), 1);
    const seen: Array<string> = [];
    await expect(applyPlan(k, roadWarrior(), { persist: (i) => void seen.push(i ? 'intent' : 'nothing') })).rejects.toMatchObject({ code: 'KERNEL_ERROR' });
    expect(seen).toEqual(['intent', 'nothing']);
    expect(k.snapshot()).toEqual({ links: [], addresses: [], routes: [], rules: [] });
  });

  it('a record written just before a creation (ifindex unknown, a crash right after) still owns the device it describes', async () => {
    const k = new FakeKernel();
    const p = roadWarrior();
    let intent: Installed | undefined;
    await applyPlan(k, p, { persist: (i) => void (intent ??= i) });
    expect(intent?.link).toMatchObject({ index: 0, created: true });
    expect(await devicePresent(k, intent!)).toBe(true);
    await removeInstalled(k, intent!);
    expect(k.snapshot()).toEqual({ links: [], addresses: [], routes: [], rules: [] });
    // a device by that name with other attributes is not ours
    await k.createXfrmLink({ ...p.link, ifId: 77 });
    expect(await devicePresent(k, intent!)).toBe(false);
    await removeInstalled(k, intent!);
    expect(k.snapshot().links).toEqual(['vpn0']);
  });

  it('takes over its own tagged route and rule left by a crashed run (EEXIST), but not a foreign one', async () => {
    const k = new FakeKernel();
    const p = roadWarrior();
    await applyPlan(k, p);
    const stale = [...k.routes.values()][0]!;
    // the record was lost: applying again from nothing finds its own objects in place
    await k.deleteLink((await k.getLink(p.link.name))!.index);
    k.routes.set(routeKey(stale), { ...stale, prefsrc: '10.99.0.1' });
    const again = await applyPlan(k, p);
    expect(again.rules).toHaveLength(p.rules.length);
    expect(k.routes.get(routeKey(stale))).toEqual(stale);
    // someone else's route at the same key stays theirs: ROUTE_EXISTS, nothing of ours left
    const k2 = new FakeKernel();
    await k2.addRoute({ ...stale, protocol: 3, dev: undefined, type: 'blackhole' });
    await expect(applyPlan(k2, p)).rejects.toMatchObject({ code: 'ROUTE_EXISTS' });
    expect(k2.snapshot()).toEqual({ links: [], addresses: [], routes: [routeKey(stale)], rules: [] });
  });
});
