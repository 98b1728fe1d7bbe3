// Regression (found by test/kernel/daemon.ktest.ts on a real kernel): when our device is deleted
// behind our back, applying again recreates it AND puts back the routes that vanished with it,
// even though the state file still lists them.
import { describe, expect, it } from 'vitest';
import { XFRMD_RTPROT, type RouteSpec } from '../../src/model.ts';
import { applyPlan, indexActual, type KernelPlan } from '../../src/reconcile/reconcile.ts';
import { FakeKernel } from '../support/fake-kernel.ts';

describe('applyPlan after the device was deleted by someone else', () => {
  it('recreates the device with its addresses and routes', async () => {
    const k = new FakeKernel();
    const route: RouteSpec = { family: 4, dst: '10.20.0.0', dstLen: 16, table: 254, type: 'unicast', dev: 'vpn0', prefsrc: '10.9.0.2', protocol: XFRMD_RTPROT };
    const plan: KernelPlan = {
      link: { name: 'vpn0', ifId: 5, link: 0, collectMetadata: false, mtu: 1280, multicast: true },
      addresses: [{ family: 4, address: '10.9.0.2', prefixLen: 32, dev: 'vpn0' }],
      routes: [route],
      rules: [],
    };
    const first = await applyPlan(k, plan);
    const before = k.snapshot();
    await k.deleteLink(first.link.index);
    expect(k.snapshot().routes).toEqual([]);

    const second = await applyPlan(k, plan, { previous: first });
    expect(second.link.index).not.toBe(first.link.index);
    expect(second.link.created).toBe(true);
    expect(k.snapshot()).toEqual(before);
    expect(second.routes).toEqual([route]);
    expect(second.addresses).toEqual(plan.addresses);
  });
});

describe('applyPlan with a dump of every tagged object (daemon resync)', () => {
  it('puts back what this interface lost and leaves the other interfaces’ objects alone', async () => {
    const k = new FakeKernel();
    const mk = (name: string, ifId: number, dst: string): KernelPlan => ({
      link: { name, ifId, link: 0, collectMetadata: false, mtu: 1280, multicast: true },
      addresses: [],
      routes: [{ family: 4, dst, dstLen: 16, table: 254, type: 'unicast', dev: name, protocol: XFRMD_RTPROT }],
      rules: [{ family: 4, priority: 99, action: 'lookup', table: 254, fwmark: ifId, fwmask: 0xffffffff, protocol: XFRMD_RTPROT }],
    });
    const a = mk('vpn0', 5, '10.20.0.0');
    const b = mk('vpn1', 6, '10.30.0.0');
    const first = await applyPlan(k, a);
    await applyPlan(k, b);
    const before = k.snapshot();
    await k.deleteRoute(a.routes[0]!);
    await k.deleteRule(a.rules[0]!);
    const actual = indexActual(await k.dumpRoutes(XFRMD_RTPROT), await k.dumpRules(XFRMD_RTPROT));
    await applyPlan(k, a, { previous: first, actual });
    expect(k.snapshot()).toEqual(before);
  });
});
