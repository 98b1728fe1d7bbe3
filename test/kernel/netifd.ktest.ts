// The product under OpenWrt's real netifd and ubusd (test/kernel/netifd-stack.ts): one router
// namespace with a WAN and the seed's recipes as `proto xfrm` sections, driven the way users
// and OpenWrt drive it (network reload, ifup/ifdown, netifd and ubusd restarts, a WAN device
// replaced like a PPPoE reconnect). After every step the kernel must hold exactly what the
// sections ask for, and netifd must agree about what is up.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netlink } from '../../src/netlink/index.ts';
import { Netns } from './lib.ts';
import { NetifdStack, nsIp, until, WAN } from './netifd-stack.ts';
import { diff, kernelState, ours, type KernelState } from './kernel-state.ts';


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

describe('xfrmd under the real netifd', () => {
  let ns: Netns;
  let stack: NetifdStack;
  let nl: Netlink;
  let baseline: KernelState;
  let wanOnly: KernelState;
  const state = () => kernelState(nl);

  beforeAll(async () => {
    ns = new Netns('xk-nfd');
    ns.batch(['link set lo up', 'link add wan0 type dummy', 'link set wan0 up', 'link add lan0 type dummy', 'link set lan0 up', 'address add 192.168.1.1/24 dev lan0']);
    nl = Netlink.open({ netns: ns.name });
    // the WAN alone first: what the namespace looks like without any of ours
    stack = await NetifdStack.start({ ns, network: WAN, logName: 'netifd' });
    await stack.waitUp(['wan']);
    await until(async () => (await state()).lines.some((l) => l.startsWith('route default dev wan0')), 'wan default route', 60_000, 200);
    wanOnly = await state();
    stack.writeNetwork(WAN + RECIPES);
    await stack.reload();
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
    baseline = await state();
    const mine = ours(baseline);
    // every device, route and rule of the recipes; none of them lost to netifd's device handling
    expect(mine.filter((l) => l.startsWith('link '))).toEqual(XFRM.slice().sort().map((n) => `link ${n} xfrm UP mtu 1280 if_id ${XFRM.indexOf(n) + 1} parent wan0`));
    expect(mine.filter((l) => !l.startsWith('link '))).toEqual([
      '-6 route default dev rw table 10005 proto 88 src fd50::2 metric 1024',
      '-6 rule prio 199 fwmark 0x6/0xffffffff lookup main proto 88',
      '-6 rule prio 201 lookup main suppress_prefixlength 0 proto 88',
      '-6 rule prio 202 lookup 10005 proto 88',
      'route 10.20.0.0/16 dev s2s table 101 proto 88 src 10.9.0.2',
      'route 10.30.0.0/16 dev routed table 10002 proto 88 src 10.30.255.2',
      'route 10.31.0.0/16 dev marked table 10003 proto 88 src 10.31.255.2',
      'route 10.41.0.0/16 dev lr table main proto 88 src 10.40.0.1',
      'route default dev rw table 10005 proto 88 src 10.50.0.2',
      'rule prio 100 from 192.168.1.0/24 lookup 10002 proto 88',
      'rule prio 100 fwmark 0x1/0xff lookup 10003 proto 88',
      'rule prio 100 to 10.20.0.0/16 lookup 101 proto 88',
      'rule prio 199 fwmark 0x6/0xffffffff lookup main proto 88',
      'rule prio 201 lookup main suppress_prefixlength 0 proto 88',
      'rule prio 202 lookup 10005 proto 88',
    ]);
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
  });

  /** Wait until the kernel holds exactly `want`; on timeout, say what differs. */
  async function settle(want: KernelState, what: string, ms = 60_000): Promise<KernelState> {
    let last = await state();
    try {
      await until(async () => {
        const d = diff(want, (last = await state()));
        return d.leaked.length === 0 && d.missing.length === 0;
      }, what, ms, 250);
    } catch (e) {
      throw new Error(`${(e as Error).message}: ${JSON.stringify(diff(want, last), null, 1)}`);
    }
    return last;
  }

  /** The kernel holds exactly the baseline again (devices may be new ones). */
  async function expectBaseline(what: string): Promise<KernelState> {
    const now = await state();
    expect(diff(baseline, now), what).toEqual({ leaked: [], missing: [] });
    return now;
  }

  /** Nothing of ours in the kernel: exactly what there was with only the WAN up. */
  async function expectNothingOfOurs(what: string): Promise<void> {
    expect(diff(wanOnly, await state()), what).toEqual({ leaked: [], missing: [] });
  }

  it('ifdown of each leaves nothing of ours; ifup brings exactly the same back; cycles repeat cleanly', async () => {
    for (let round = 0; round < 2; round++) {
      for (const n of XFRM) await stack.ifdown(n);
      await stack.waitDown(XFRM);
      await settle(wanOnly, `round ${round}: our objects gone`);
      await expectNothingOfOurs(`round ${round} down`);
      for (const n of XFRM) await stack.ifup(n);
      await stack.waitUp(XFRM);
      await settle(baseline, `round ${round}: everything back`);
      await expectBaseline(`round ${round} up`);
    }
  });

  it('network reload with a section edited, one removed and one added; then the original file again', async () => {
    const edited = (WAN + RECIPES).replace("list route '10.20.0.0/16'", "list route '10.21.0.0/16'").replace(/config interface 'lr'[\s\S]*?(?=\n# road warrior)/, '');
    const added = `
config interface 'extra'
\toption proto 'xfrm'
\toption ifid '9'
\tlist ipaddr '10.90.0.1/32'
\tlist route '10.91.0.0/16'
`;
    stack.writeNetwork(edited + added);
    await stack.reload();
    await stack.waitFor('lr gone, extra up, s2s up', (d) => !d.has('lr') && d.get('extra')?.up === true && d.get('s2s')?.up === true);
    await until(async () => {
      const o = ours(await state());
      return o.includes('route 10.21.0.0/16 dev s2s table 101 proto 88 src 10.9.0.2') && !o.some((l) => l.includes('10.20.0.0/16')) && !o.some((l) => / lr /.test(l + ' '));
    }, 'kernel follows the edit', 60_000, 200);
    const o = ours(await state());
    expect(o).toContain('route 10.91.0.0/16 dev extra table main proto 88 src 10.90.0.1');
    expect(o).toContain('rule prio 100 to 10.21.0.0/16 lookup 101 proto 88');
    expect(o.filter((l) => l.includes(' lr '))).toEqual([]);

    stack.writeNetwork(WAN + RECIPES);
    await stack.reload();
    await stack.waitFor('original sections up, extra gone', (d) => !d.has('extra') && XFRM.every((n) => d.get(n)?.up === true));
    await settle(baseline, 'back to the original');
    await expectBaseline('original file again');
  });

  it('netifd killed and started again: it sets everything up again and the daemon adopts (same devices, same ifindex)', async () => {
    const was = await state();
    await stack.stopNetifd('SIGTERM');
    await stack.startNetifd();
    await stack.waitUp(['wan', ...XFRM]);
    await settle(baseline, 'all back');
    const now = await expectBaseline('after netifd restart');
    for (const n of XFRM) expect(now.ifindex.get(n), n).toBe(was.ifindex.get(n));
  });

  it('ubusd restarted: netifd and the daemon reconnect, nothing in the kernel moves, and it all still works', async () => {
    const was = await state();
    await stack.stopUbusd();
    await stack.startUbusd();
    await until(async () => (await stack.client.lookup('xfrmd').catch(() => [])).length > 0 && (await stack.client.lookup('network.interface').catch(() => [])).length > 0, 'both back on the bus', 60_000, 200);
    await stack.waitUp(XFRM);
    const now = await expectBaseline('after ubusd restart');
    for (const n of XFRM) expect(now.ifindex.get(n), n).toBe(was.ifindex.get(n));
    // the bus works end to end again: a cycle through netifd, the shim and the daemon
    await stack.ifdown('lr');
    await until(async () => !ours(await state()).some((l) => l.includes(' lr ')), 'lr removed', 60_000, 200);
    await stack.ifup('lr');
    await stack.waitUp(['lr']);
    await settle(baseline, 'lr back');
  });

  it('the daemon crashes and starts again: it adopts everything (same ifindex) and puts back what vanished meanwhile', async () => {
    const was = await state();
    await stack.stopDaemon('SIGKILL');
    nsIp(ns, 'route', 'del', '10.20.0.0/16', 'table', '101');
    await stack.startDaemon();
    await settle(baseline, 'the route put back');
    const now = await expectBaseline('after a daemon restart');
    for (const n of XFRM) expect(now.ifindex.get(n), n).toBe(was.ifindex.get(n));
    expect([...(await stack.dump()).values()].filter((i) => XFRM.includes(i.interface) && !i.up)).toEqual([]);
  });

  it('behind our back: a deleted route is put back, a deleted device is recreated (with its routes), a device set down comes back up', async () => {
    nsIp(ns, 'route', 'del', '10.31.0.0/16', 'table', '10003');
    nsIp(ns, 'rule', 'del', 'prio', '100', 'from', '192.168.1.0/24', 'lookup', '10002');
    await settle(baseline, 'route and rule put back');
    const was = await state();
    nsIp(ns, 'link', 'del', 's2s');
    await settle(baseline, 's2s recreated');
    expect((await state()).ifindex.get('s2s')).not.toBe(was.ifindex.get('s2s'));
    await stack.waitUp(['s2s']);
    nsIp(ns, 'link', 'set', 'lr', 'down');
    await settle(baseline, 'lr up with its route');
    await expectBaseline('after the repairs');
  });

  it('tunlink down and up: netifd takes the dependents down (nothing of ours left) and up again; no refused notify, no error', async () => {
    await stack.ifdown('wan');
    await stack.waitDown(XFRM);
    await until(async () => ours(await state()).length === 0, 'our objects gone with wan', 60_000, 250);
    await stack.ifup('wan');
    await stack.waitUp(['wan', ...XFRM]);
    await settle(baseline, 'all back with wan');
    await expectBaseline('after the wan flap');
    const d = await stack.dump();
    for (const n of XFRM) expect(d.get(n)?.errors ?? [], n).toEqual([]);
    expect(stack.netifdLog()).not.toMatch(/Usage: .*ubus/);
  });

  it('the WAN device replaced (deleted and created again, a new ifindex, as a PPPoE reconnect does): every section follows it; then ifdown of all leaves nothing', async () => {
    const was = await state();
    ns.batch(['link del wan0', 'link add wan0 type dummy', 'link set wan0 up']);
    await stack.waitUp(['wan', ...XFRM]);
    await settle(baseline, 'all on the new wan0');
    const now = await state();
    expect(now.ifindex.get('wan0')).not.toBe(was.ifindex.get('wan0'));
    for (const n of XFRM) expect(now.ifindex.get(n), n).not.toBe(was.ifindex.get(n));
    await expectBaseline('after the WAN device was replaced');

    for (const n of XFRM) await stack.ifdown(n);
    await stack.waitDown(XFRM);
    await settle(wanOnly, 'nothing of ours');
    await expectNothingOfOurs('all down at the end');
  });
});
