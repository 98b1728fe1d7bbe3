// Addresses, routes and rules in a namespace, checked against what iproute2 sees.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XFRMD_RTPROT, type RouteSpec, type RuleSpec } from '../../src/model.ts';
import { addressMessage, RTM_NEWADDR } from '../../src/netlink/addresses.ts';
import { Netlink } from '../../src/netlink/index.ts';
import { ipn, makeNetns, rejection, removeNetns } from './netns.ts';

let ns: string;
let nl: Netlink;
beforeAll(async () => {
  ns = makeNetns('obj');
  nl = Netlink.open({ netns: ns });
  await nl.createLink('wan0', 'veth', { peer: 'wan1', up: true });
  await nl.setLinkUp('wan1');
});
afterAll(() => {
  nl?.close();
  removeNetns(ns);
});

describe('addresses', () => {
  it('adds, dumps and deletes v4 and v6 addresses', async () => {
    await nl.addAddress({ family: 4, address: '192.0.2.1', prefixLen: 24, dev: 'wan0' });
    await nl.addAddress({ family: 6, address: '2001:db8::1', prefixLen: 64, dev: 'wan0' });
    const got = await nl.dumpAddresses('wan0');
    expect(got.map((a) => `${a.address}/${a.prefixLen} ${a.dev}`)).toEqual(expect.arrayContaining(['192.0.2.1/24 wan0', '2001:db8::1/64 wan0']));
    expect(ipn(ns, 'addr', 'show', 'dev', 'wan0')).toContain('2001:db8::1/64');
    const e = await rejection(nl.addAddress({ family: 4, address: '192.0.2.1', prefixLen: 24, dev: 'wan0' }));
    expect(e.code).toBe('EEXIST');
    await nl.deleteAddress({ family: 6, address: '2001:db8::1', prefixLen: 64, dev: 'wan0' });
    expect((await nl.dumpAddresses('wan0')).map((a) => a.address)).not.toContain('2001:db8::1');
  });

  it('the addresses of a device that is gone: none', async () => {
    expect(await nl.dumpAddresses(99999)).toEqual([]);
    expect(await nl.dumpAddresses('nosuch0')).toEqual([]);
  });

  it('an address on a missing device: ENODEV, and the kernel says why', async () => {
    const e = await rejection(nl.addAddress({ family: 4, address: '192.0.2.9', prefixLen: 24, dev: 'nosuch0' }));
    expect(e.code).toBe('ENODEV');
    expect(e.op).toContain('nosuch0');
    // straight to the kernel with an ifindex that does not exist
    const raw = await rejection(nl.rtnl.request(addressMessage(RTM_NEWADDR, { family: 4, address: '192.0.2.9', prefixLen: 24, dev: '?' }, 9999), 'RTM_NEWADDR ifindex 9999'));
    expect(raw).toMatchObject({ code: 'ENODEV', errno: 19 });
    expect(raw.extack).toMatch(/[Dd]evice not found/);
  });
});

const route = (over: Partial<RouteSpec>): RouteSpec => ({
  family: 4,
  dst: '198.51.100.0',
  dstLen: 24,
  table: 1000,
  type: 'unicast',
  dev: 'wan0',
  protocol: XFRMD_RTPROT,
  ...over,
});

describe('routes', () => {
  it('in a table > 255 with prefsrc, metric and mtu, tagged with our protocol', async () => {
    await nl.addRoute(route({ prefsrc: '192.0.2.1', metric: 50, mtu: 1400 }));
    expect(ipn(ns, 'route', 'show', 'table', '1000')).toMatch(/198\.51\.100\.0\/24 dev wan0 proto 88 scope link src 192\.0\.2\.1 metric 50 mtu 1400/);
    const [r] = await nl.dumpRoutes({ protocol: XFRMD_RTPROT, table: 1000 });
    expect(r).toMatchObject({ family: 4, dst: '198.51.100.0', dstLen: 24, table: 1000, type: 'unicast', dev: 'wan0', prefsrc: '192.0.2.1', metric: 50, mtu: 1400, protocol: XFRMD_RTPROT });
  });

  it('v6 routes, a gateway, the default route, and the non-unicast types', async () => {
    await nl.addRoute(route({ family: 6, dst: '2001:db8:1::', dstLen: 48, table: 70000, metric: 10 }));
    await nl.addRoute(route({ family: 6, dst: '::', dstLen: 0, table: 70000, gateway: 'fe80::2' }));
    await nl.addRoute(route({ dst: '0.0.0.0', dstLen: 0, table: 1000, gateway: '192.0.2.254' }));
    for (const type of ['blackhole', 'unreachable', 'prohibit', 'throw'] as const) {
      const { dev: _dev, ...r } = route({ type, dst: '203.0.113.0', dstLen: 24, table: 2000 + ['blackhole', 'unreachable', 'prohibit', 'throw'].indexOf(type) });
      await nl.addRoute(r);
    }
    const ours = await nl.dumpRoutes({ protocol: XFRMD_RTPROT });
    expect(ours.map((r) => `${r.type} ${r.dst}/${r.dstLen} t${r.table}${r.gateway ? ` via ${r.gateway}` : ''}`).sort()).toEqual(
      [
        'unicast 198.51.100.0/24 t1000',
        'unicast 0.0.0.0/0 t1000 via 192.0.2.254',
        'unicast 2001:db8:1::/48 t70000',
        'unicast ::/0 t70000 via fe80::2',
        'blackhole 203.0.113.0/24 t2000',
        'unreachable 203.0.113.0/24 t2001',
        'prohibit 203.0.113.0/24 t2002',
        'throw 203.0.113.0/24 t2003',
      ].sort(),
    );
    expect(ipn(ns, '-6', 'route', 'show', 'table', '70000')).toContain('2001:db8:1::/48 dev wan0 proto 88 metric 10');
    // the kernel's own routes are not ours
    expect((await nl.dumpRoutes({ table: 254 })).every((r) => r.protocol !== XFRMD_RTPROT)).toBe(true);
    expect((await nl.dumpRoutes({ table: 2001 }))[0]?.type).toBe('unreachable');
  });

  it('EEXIST on a duplicate, ESRCH on deleting what is not there, then deletes everything of ours', async () => {
    expect((await rejection(nl.addRoute(route({ prefsrc: '192.0.2.1', metric: 50 })))).code).toBe('EEXIST');
    expect((await rejection(nl.deleteRoute(route({ dst: '198.51.101.0' })))).code).toBe('ESRCH');
    for (const r of await nl.dumpRoutes({ protocol: XFRMD_RTPROT })) await nl.deleteRoute(r);
    expect(await nl.dumpRoutes({ protocol: XFRMD_RTPROT })).toEqual([]);
  });

  it('a bad prefsrc is refused with the kernel text', async () => {
    const e = await rejection(nl.addRoute(route({ prefsrc: '10.9.9.9' })));
    expect(e.code).toBe('EINVAL');
    expect(e.extack).toMatch(/prefsrc/i);
  });
});

const rule = (over: Partial<RuleSpec>): RuleSpec => ({ family: 4, priority: 100, action: 'lookup', table: 50, protocol: XFRMD_RTPROT, ...over });

describe('rules', () => {
  it('every field: src, dst, fwmark/mask, iif, oif, invert, suppress_prefixlength, table > 255', async () => {
    const full = rule({
      priority: 99,
      table: 100000,
      src: { addr: '192.0.2.0', len: 24 },
      dst: { addr: '198.51.100.7', len: 32 },
      fwmark: 6,
      fwmask: 0xffffffff,
      iif: 'lo',
      oif: 'wan0',
      invert: true,
      suppressPrefixLength: 0,
    });
    await nl.addRule(full);
    const shown = ipn(ns, 'rule', 'show', 'priority', '99');
    expect(shown).toContain('not from 192.0.2.0/24 to 198.51.100.7 fwmark 0x6 iif lo oif wan0 lookup 100000 suppress_prefixlength 0 proto 88');
    const ours = await nl.dumpRules({ protocol: XFRMD_RTPROT });
    expect(ours).toEqual([full]);
  });

  it('the road-warrior recipe (v4 and v6), blackhole action, dump by protocol', async () => {
    await nl.addRule(rule({ priority: 100, dst: { addr: '198.51.100.7', len: 32 }, table: 50 }));
    await nl.addRule(rule({ family: 6, priority: 100, dst: { addr: '2001:db8::7', len: 128 }, table: 50, fwmark: 1, fwmask: 0xff }));
    await nl.addRule(rule({ priority: 101, action: 'blackhole', table: undefined }));
    const ours = await nl.dumpRules({ protocol: XFRMD_RTPROT });
    expect(ours).toHaveLength(4);
    expect(ours).toContainEqual(rule({ family: 6, priority: 100, dst: { addr: '2001:db8::7', len: 128 }, table: 50, fwmark: 1, fwmask: 0xff }));
    expect(ours).toContainEqual({ family: 4, priority: 101, action: 'blackhole', protocol: XFRMD_RTPROT });
    // the kernel's default rules are there but not ours
    expect((await nl.dumpRules()).some((r) => r.priority === 32766 && r.table === 254 && r.protocol === 2)).toBe(true);
  });

  it('EEXIST on a duplicate, ENOENT on a missing delete, then deletes all of ours', async () => {
    expect((await rejection(nl.addRule(rule({ priority: 100, dst: { addr: '198.51.100.7', len: 32 } })))).code).toBe('EEXIST');
    expect((await rejection(nl.deleteRule(rule({ priority: 4242 })))).code).toBe('ENOENT');
    for (const r of await nl.dumpRules({ protocol: XFRMD_RTPROT })) await nl.deleteRule(r);
    expect(await nl.dumpRules({ protocol: XFRMD_RTPROT })).toEqual([]);
  });
});
