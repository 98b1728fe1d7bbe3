// The reconciler's Kernel interface on the real thing, in a namespace.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { XFRMD_RTPROT, type RouteSpec, type RuleSpec } from '../../src/model.ts';
import { NetlinkKernel } from '../../src/netlink/kernel.ts';
import { isKernelError } from '../../src/reconcile/kernel.ts';
import { makeNetns, removeNetns } from './netns.ts';

let ns: string;
let k: NetlinkKernel;
beforeAll(async () => {
  ns = makeNetns('kern');
  k = new NetlinkKernel({ netns: ns });
  await k.nl.createLink('up0', 'veth', { peer: 'up1', up: true });
});
afterAll(() => {
  k?.close();
  removeNetns(ns);
});

it('links, addresses, routes and rules through the Kernel interface; errors are KernelErrors', async () => {
  const up0 = await k.getLink('up0');
  expect(up0).toMatchObject({ name: 'up0', kind: 'veth', up: true, mtu: 1500, multicast: true });
  expect(await k.getLinkByIndex(up0!.index)).toEqual(up0);
  expect((await k.listLinks()).map((l) => l.name).sort()).toEqual(['lo', 'up0', 'up1']);

  await k.addAddress({ family: 4, address: '192.0.2.1', prefixLen: 24, dev: 'up0' });
  expect(await k.dumpAddresses(up0!.index)).toEqual([{ family: 4, address: '192.0.2.1', prefixLen: 24, dev: 'up0' }]);

  const r: RouteSpec = { family: 4, dst: '0.0.0.0', dstLen: 0, table: 50, type: 'unicast', dev: 'up0', prefsrc: '192.0.2.1', protocol: XFRMD_RTPROT };
  await k.addRoute(r);
  expect(await k.dumpRoutes(XFRMD_RTPROT)).toEqual([r]);
  const rule: RuleSpec = { family: 4, priority: 100, action: 'lookup', table: 50, dst: { addr: '198.51.100.7', len: 32 }, protocol: XFRMD_RTPROT };
  await k.addRule(rule);
  expect(await k.dumpRules(XFRMD_RTPROT)).toEqual([rule]);

  const e = await k.addRule(rule).catch((x: unknown) => x);
  expect(isKernelError(e, 'EEXIST')).toBe(true);
  const x = await k.createXfrmLink({ name: 'ipsec1', ifId: 1, link: up0!.index, collectMetadata: false, mtu: 1400, multicast: false }).catch((y: unknown) => y);
  expect(isKernelError(x, 'EOPNOTSUPP') && x.extack).toBe('Unknown device type');

  expect(await k.espOffload('up0')).toEqual({ hwOffload: false, txCsumOffload: false });

  await k.deleteRule(rule);
  await k.deleteRoute(r);
  await k.deleteAddress({ family: 4, address: '192.0.2.1', prefixLen: 24, dev: 'up0' });
  await k.setLink(up0!.index, { up: false, mtu: 1400 });
  expect(await k.getLink('up0')).toMatchObject({ up: false, mtu: 1400 });
  await k.deleteLink(up0!.index);
  expect(await k.getLink('up0')).toBeUndefined();
});
