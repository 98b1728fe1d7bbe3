// The product under OpenWrt's real netifd and ubusd (test/kernel/netifd-stack.ts): one router
// namespace with a WAN and the seed's recipes as `proto xfrm` sections, driven the way users
// and OpenWrt drive it (network reload, ifup/ifdown, netifd and ubusd restarts, a WAN device
// replaced like a PPPoE reconnect). After every step the kernel must hold exactly what the
// sections ask for, and netifd must agree about what is up.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netlink } from '../../src/netlink/index.ts';
import { Netns } from './lib.ts';
import { NetifdStack, nsIp, stackAvailable, until } from './netifd-stack.ts';
import { kernelState, ours, type KernelState } from './kernel-state.ts';

const WAN = `
config interface 'wan'
\toption device 'wan0'
\toption proto 'static'
\toption ipaddr '192.0.2.1'
\toption netmask '255.255.255.0'
\toption gateway '192.0.2.254'
`;

/** The seed's recipes, on the default rule priority where they can share it. */
const RECIPES = `
# site to site into its own table
config interface 's2s'
\toption proto 'xfrm'
\toption ifid '1'
\toption tunlink 'wan'
\tlist ipaddr '10.9.0.2/32'
\tlist route '10.20.0.0/16'
\toption ip4table '101'
\toption zone 'vpn'

# routed VPN: chosen by source
config interface 'routed'
\toption proto 'xfrm'
\toption ifid '2'
\toption tunlink 'wan'
\tlist ipaddr '10.30.255.2/32'
\tlist source '192.168.1.0/24'
\tlist route '10.30.0.0/16'

# multihoming: chosen by mark, same priority as routed (disjoint destinations)
config interface 'marked'
\toption proto 'xfrm'
\toption ifid '3'
\toption tunlink 'wan'
\tlist ipaddr '10.31.255.2/32'
\tlist mark '0x1/0xff'
\tlist route '10.31.0.0/16'

# left == right: the route equal to the local subnet is skipped
config interface 'lr'
\toption proto 'xfrm'
\toption ifid '4'
\toption tunlink 'wan'
\tlist ipaddr '10.40.0.1/24'
\tlist route '10.40.0.0/24'
\tlist route '10.41.0.0/16'

# road warrior, full tunnel, dual stack
config interface 'rw'
\toption proto 'xfrm'
\toption ifid '5'
\toption tunlink 'wan'
\tlist ipaddr '10.50.0.2/32'
\tlist ip6addr 'fd50::2/128'
\toption full_tunnel '1'
\toption exempt_mark '0x6'
\toption rule_priority '200'
`;

const XFRM = ['s2s', 'routed', 'marked', 'lr', 'rw'];

describe.skipIf(!stackAvailable())('xfrmd under the real netifd', () => {
  let ns: Netns;
  let stack: NetifdStack;
  let nl: Netlink;
  let before: KernelState;
  const state = () => kernelState(nl);

  beforeAll(async () => {
    ns = new Netns('xk-nfd');
    ns.batch(['link set lo up', 'link add wan0 type dummy', 'link set wan0 up', 'link add lan0 type dummy', 'link set lan0 up', 'address add 192.168.1.1/24 dev lan0']);
    nl = Netlink.open({ netns: ns.name });
    before = await state();
    stack = await NetifdStack.start({ ns, network: WAN + RECIPES, logName: 'netifd' });
  });

  afterAll(async () => {
    await stack?.close();
    nl?.close();
    ns?.destroy();
  });

  it('first ifup: every recipe up in netifd, and the kernel has exactly its device, addresses, routes and rules (none lost to netifd taking the device)', async () => {
    const d = await stack.waitUp(['wan', ...XFRM]);
    for (const n of XFRM) expect(d.get(n)?.l3_device, n).toBe(n);
    expect(d.get('s2s')?.data).toMatchObject({ ifid: 1, zone: 'vpn', parent: 'wan0', tunlink: 'wan', table: 101 });
    const s = await state();
    console.log(ours(s).join('\n'));
    // the route to a remote subnet goes into the tunnel
    expect(nsIp(ns, 'route', 'get', '10.20.1.1')).toContain('dev s2s table 101 src 10.9.0.2');
    expect(nsIp(ns, 'route', 'get', '10.30.1.1', 'from', '192.168.1.1')).toContain('dev routed');
    expect(nsIp(ns, 'route', 'get', '10.30.1.1')).not.toContain('dev routed');
    expect(nsIp(ns, 'route', 'get', '10.31.1.1', 'mark', '0x1')).toContain('dev marked');
    expect(nsIp(ns, 'route', 'get', '10.41.1.1')).toContain('dev lr');
    // full tunnel: everything but the exempt mark goes in, v4 and v6
    expect(nsIp(ns, 'route', 'get', '198.51.100.7')).toContain('dev rw');
    expect(nsIp(ns, 'route', 'get', '198.51.100.7', 'mark', '0x6')).toContain('dev wan0');
    expect(nsIp(ns, '-6', 'route', 'get', '2001:db8::7')).toContain('dev rw');
    // xfrmd's status tells the kernel's truth: everything present
    for (const n of XFRM) {
      const st = (await stack.xfrmdStatus(n)) as { phase: string; routes: Array<{ present: boolean }>; rules: Array<{ present: boolean }> };
      expect(st.phase, n).toBe('up');
      expect([...st.routes, ...st.rules].every((x) => x.present), n).toBe(true);
    }
    void before;
    void until;
  });
});
