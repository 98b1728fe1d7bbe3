// strongSwan end to end over xfrmd's interfaces, the router being OpenWrt's real netifd + xfrmd
// (netifd-stack.ts) with the README's configurations (examples/ike/), the other end a plain
// policy-based strongSwan responder reached only through the router's default route (ike.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { esp, example, linkStats, newPsk, pingFrom, routingLoops, Scenario, SITE, sum, type Charon } from './ike.ts';
import { kernelState, ours } from './kernel-state.ts';
import { nsIp, until } from './netifd-stack.ts';

const ROUTER = '192.0.2.1';

/** The parts of `ubus call xfrmd status` these tests read. */
interface Status {
  phase: string;
  device: string;
  ifid: number;
  routes: Array<{ route: string; present: boolean; replaced_by?: number }>;
  sas: Array<{ spi: string; dir?: string; src: string; dst: string; proto: string; mode: string; bytes: number; packets: number; output_mark?: string }>;
  policies: Array<{ dir: string; src: string; dst: string; action: string }>;
  hints: Array<{ code: string; message: string }>;
}
const out = (sas: Awaited<ReturnType<typeof esp>>) => sum(sas, (s) => s.src === ROUTER);
const inb = (sas: Awaited<ReturnType<typeof esp>>) => sum(sas, (s) => s.dst === ROUTER);

describe('site to site: strongSwan over xfrmd, IPv4 and IPv6 inside IPv4', () => {
  const psk = newPsk();
  let sc: Scenario;
  let charon: Charon;

  beforeAll(async () => {
    sc = await Scenario.start({
      name: 's2s',
      label: 'site to site (strongSwan)',
      net: SITE,
      network: example('site-to-site', 'network'),
      up: ['s2s'],
      peers: [example('site-to-site', 'peer-swanctl.conf', { PSK: psk })],
    });
    charon = await sc.charon('site-to-site', { PSK: psk });
  });

  afterAll(() => sc?.close());

  it("IKE comes up; the SAs and all policies (in/out/fwd, v4 and v6) carry the section's if_id; charon installed no route or rule", async () => {
    await charon.established('s2s_net');
    const sas = await esp(sc.nl, 1);
    expect(sas.map((s) => `${s.src}>${s.dst}`).sort()).toEqual([`${ROUTER}>203.0.113.2`, `203.0.113.2>${ROUTER}`]);
    const pol = (await sc.nl.dumpPolicies({ ifId: 1 })).map((p) => `${p.dir} ${p.sel.src.addr}/${p.sel.src.len}>${p.sel.dst.addr}/${p.sel.dst.len}`).sort();
    expect(pol).toEqual([
      'fwd 10.20.0.0/24>192.168.1.0/24',
      'fwd fd00:20::/64>fd00:1::/64',
      'in 10.20.0.0/24>192.168.1.0/24',
      'in fd00:20::/64>fd00:1::/64',
      'out 192.168.1.0/24>10.20.0.0/24',
      'out fd00:1::/64>fd00:20::/64',
    ]);
    // install_routes = no, routing_table = 0: no table 220, no rule of charon's
    const s = await kernelState(sc.nl);
    expect(s.lines.filter((l) => / (table|lookup) 220\b/.test(l))).toEqual([]);
    // xfrmd's status reads the same from the kernel; netifd's data carries the summary
    const st = (await sc.stack.xfrmdStatus('s2s')) as unknown as Status;
    expect(st).toMatchObject({ phase: 'up', device: 's2s', ifid: 1, parent: { interface: 'wan', device: 'wan0' }, hints: [] });
    expect(st.sas.map((x) => `${x.dir} ${x.src}>${x.dst} ${x.proto} ${x.mode}`).sort()).toEqual([`in 203.0.113.2>${ROUTER} esp tunnel`, `out ${ROUTER}>203.0.113.2 esp tunnel`]);
    expect(st.policies.map((x) => `${x.dir} ${x.src}>${x.dst} ${x.action}`).sort()).toEqual(pol.map((x) => `${x} allow`));
    expect(st.routes.map((r) => `${r.route.split(' table')[0]} ${r.present}`)).toEqual(['10.20.0.0/24 dev s2s true', '-6 fd00:20::/64 dev s2s true']);
    await until(async () => JSON.stringify((await sc.stack.dump()).get('s2s')?.data ?? {}).includes('"sa_out":1'), "netifd's data: the SA summary", 10_000, 200);
    expect((await sc.stack.dump()).get('s2s')?.data).toMatchObject({ sa_in: 1, sa_out: 1, sa_offloaded: 0 });
  });

  it('ping from the LAN host through the tunnel in both families; ESP leaves via the parent; counters rise; no routing loop', async () => {
    const wan0 = linkStats(sc.net.router, 'wan0');
    const before = await esp(sc.nl, 1);
    const v4 = pingFrom(sc.net.lan!, '10.20.0.1', { count: 3 });
    const v6 = pingFrom(sc.net.lan!, 'fd00:20::1', { count: 3 });
    expect(v4.ok, v4.stdout + v4.stderr).toBe(true);
    expect(v6.ok, v6.stdout + v6.stderr).toBe(true);
    const after = await esp(sc.nl, 1);
    expect(out(after).packets - out(before).packets).toBe(6);
    expect(inb(after).packets - inb(before).packets).toBe(6);
    // the encrypted packets went out of wan0 and reached the peer's SA
    expect(linkStats(sc.net.router, 'wan0').tx - wan0.tx).toBeGreaterThanOrEqual(6);
    expect(sum(await esp(sc.peerNl[0]!), (s) => s.src === ROUTER).packets).toBeGreaterThanOrEqual(6);
    const dev = linkStats(sc.net.router, 's2s');
    expect(dev.tx).toBeGreaterThanOrEqual(6);
    expect(dev.collisions).toBe(0);
    expect(sc.newLoops()).toBe(0);
    const st = (await sc.stack.xfrmdStatus('s2s')) as unknown as Status;
    console.log(`status of a live tunnel: ${JSON.stringify(st)}`);
    expect(st.sas.map((x) => `${x.dir} ${x.packets}`).sort()).toEqual([`in ${inb(after).packets}`, `out ${out(after).packets}`]);
  });

  it("restarting charon leaves xfrmd's device (same ifindex), routes and rules alone; the tunnel comes back by itself", async () => {
    const was = await kernelState(sc.nl);
    await charon.stop();
    await until(async () => (await esp(sc.nl, 1)).length === 0, 'charon removed its SAs', 30_000, 200);
    const between = await kernelState(sc.nl);
    expect(ours(between)).toEqual(ours(was));
    expect(between.ifindex.get('s2s')).toBe(was.ifindex.get('s2s'));
    await charon.start();
    await charon.established('s2s_net', 2);
    const now = await kernelState(sc.nl);
    expect(ours(now)).toEqual(ours(was));
    expect(now.ifindex.get('s2s')).toBe(was.ifindex.get('s2s'));
    expect((await sc.stack.dump()).get('s2s')?.up).toBe(true);
    expect(pingFrom(sc.net.lan!, '10.20.0.1', { count: 1 }).ok).toBe(true);
  });

  it("ifdown removes everything of xfrmd's while charon keeps running; ifup brings it back and the same SAs carry traffic again", async () => {
    await sc.stack.ifdown('s2s');
    await sc.stack.waitDown(['s2s']);
    await until(async () => ours(await kernelState(sc.nl)).length === 0, 'nothing of xfrmd left', 60_000, 200);
    expect(charon.running).toBe(true);
    expect((await esp(sc.nl, 1)).length).toBe(2);
    expect(pingFrom(sc.net.lan!, '10.20.0.1', { count: 1 }).ok).toBe(false);
    await sc.stack.ifup('s2s');
    await sc.stack.waitUp(['s2s']);
    await until(async () => ours(await kernelState(sc.nl)).some((l) => l.startsWith('route 10.20.0.0/24 dev s2s')), 'route back', 60_000, 200);
    const v4 = pingFrom(sc.net.lan!, '10.20.0.1', { count: 2 });
    expect(v4.ok, v4.stdout).toBe(true);
    expect(pingFrom(sc.net.lan!, 'fd00:20::1', { count: 2 }).ok).toBe(true);
    expect(sc.newLoops()).toBe(0);
  });
});

describe('road warrior, full tunnel: the VPN server only behind the default route, exempt mark on the SA and on IKE', () => {
  const psk = newPsk();
  let sc: Scenario;
  let charon: Charon;

  beforeAll(async () => {
    sc = await Scenario.start({
      name: 'rw',
      label: 'road warrior, full tunnel (strongSwan)',
      // the server's side of the internet: 198.51.100.1 and 2001:db8:100::1 behind it
      net: { peers: [{ addr: '203.0.113.2', lan: ['198.51.100.1/24', '2001:db8:100::1/64'] }] },
      network: example('road-warrior', 'network'),
      up: ['rw'],
      peers: [example('road-warrior', 'peer-swanctl.conf', { PSK: psk })],
    });
  });

  afterAll(() => sc?.close());

  it('the full tunnel takes the route to the VPN server itself; only the exempt mark escapes it', () => {
    expect(nsIp(sc.net.router, 'route', 'get', '203.0.113.2')).toContain('dev rw');
    expect(nsIp(sc.net.router, 'route', 'get', '203.0.113.2', 'mark', '0x6')).toContain('dev wan0');
  });

  it('IKE comes up through it (socket fwmark); the outbound SA carries the exempt mark as output mark and the if_id', async () => {
    charon = await sc.charon('road-warrior', { PSK: psk });
    await charon.established('rw_all');
    const sas = await esp(sc.nl, 5);
    const o = sas.find((s) => s.src === ROUTER);
    expect(o?.setMark).toEqual({ value: 6, mask: 0xffffffff });
    expect(sas.length).toBe(2);
    const pol = (await sc.nl.dumpPolicies({ ifId: 5 })).map((p) => `${p.dir} ${p.sel.src.addr}/${p.sel.src.len}>${p.sel.dst.addr}/${p.sel.dst.len}`).sort();
    expect(pol).toEqual(['fwd 0.0.0.0/0>10.50.0.2/32', 'fwd ::/0>fd50::2/128', 'in 0.0.0.0/0>10.50.0.2/32', 'in ::/0>fd50::2/128', 'out 10.50.0.2/32>0.0.0.0/0', 'out fd50::2/128>::/0']);
    const st = (await sc.stack.xfrmdStatus('rw')) as unknown as Status;
    expect(st.sas.find((x) => x.dir === 'out')?.output_mark).toBe('0x6/0xffffffff');
    expect(st.hints).toEqual([]);
    // kernel-netlink.fwmark = !0x6 comes with charon's rule to its (empty) table 220
    const lines = (await kernelState(sc.nl)).lines;
    expect(lines.filter((l) => / lookup 220\b/.test(l)).map((l) => l.replace(/ proto \d+$/, ''))).toEqual(['-6 rule prio 220 not fwmark 0x6/0xffffffff lookup 220', 'rule prio 220 not fwmark 0x6/0xffffffff lookup 220']);
    expect(lines.filter((l) => / table 220\b/.test(l))).toEqual([]);
    expect(charon.logText()).toMatch(/sending packet: from 192\.0\.2\.1\[500\] to 203\.0\.113\.2\[500\]/);
  });

  it('the router reaches the internet behind the server in both families; ESP leaves via wan0; counters rise; no routing loop', async () => {
    const before = await esp(sc.nl, 5);
    const wan0 = linkStats(sc.net.router, 'wan0');
    const v4 = pingFrom(sc.net.router, '198.51.100.1', { count: 3 });
    const v6 = pingFrom(sc.net.router, '2001:db8:100::1', { count: 3 });
    expect(v4.ok, v4.stdout + v4.stderr).toBe(true);
    expect(v6.ok, v6.stdout + v6.stderr).toBe(true);
    const after = await esp(sc.nl, 5);
    expect(out(after).packets - out(before).packets).toBe(6);
    expect(inb(after).packets - inb(before).packets).toBe(6);
    expect(linkStats(sc.net.router, 'wan0').tx - wan0.tx).toBeGreaterThanOrEqual(6);
    expect(linkStats(sc.net.router, 'rw').collisions).toBe(0);
    expect(sc.newLoops()).toBe(0);
  });

  it('without set_mark_out the encrypted packets loop back into the tunnel ("Local routing loop"): what the exempt mark is for', async () => {
    const reload = async (text: string) => {
      const n = charon.count('rw_all');
      charon.setSwanctl(text);
      charon.swanctl('--terminate', '--ike', 'rw');
      charon.swanctl('--load-all', '--noprompt'); // changed: start_action = start initiates again
      await charon.established('rw_all', n + 1);
    };
    await reload(example('road-warrior', 'swanctl.conf', { PSK: psk }).replace(/^\s*set_mark_out = .*$/m, ''));
    const o = (await esp(sc.nl, 5)).find((s) => s.src === ROUTER);
    expect(o?.setMark).toBeUndefined();
    const dev0 = linkStats(sc.net.router, 'rw');
    const loops = routingLoops();
    const before = await esp(sc.nl, 5);
    const v4 = pingFrom(sc.net.router, '198.51.100.1', { count: 2 });
    const dev1 = linkStats(sc.net.router, 'rw');
    const after = await esp(sc.nl, 5);
    console.log(
      `road warrior without set_mark_out: ping ${v4.received}/${v4.sent}, out SA +${out(after).packets - out(before).packets} packets, rw collisions +${dev1.collisions - dev0.collisions}, tx_carrier_errors +${dev1.txCarrierErrors - dev0.txCarrierErrors}, "Local routing loop" +${routingLoops() - loops}`,
    );
    // the ESP is routed by the full tunnel back into rw: the kernel's loop detection drops it
    expect(v4.received).toBe(0);
    expect(dev1.collisions - dev0.collisions).toBe(v4.sent);
    expect(routingLoops()).toBeGreaterThan(loops);
    expect(out(after).packets).toBe(out(before).packets);
    // xfrmd's status names the trap
    const st = (await sc.stack.xfrmdStatus('rw')) as unknown as Status;
    expect(st.hints.map((h) => h.code)).toEqual(['SA_WITHOUT_EXEMPT_MARK']);
    expect(st.hints[0]?.message).toContain('set_mark_out = 0x6');
    sc.loops = routingLoops();
    // back to the README's configuration
    await reload(example('road-warrior', 'swanctl.conf', { PSK: psk }));
    expect(pingFrom(sc.net.router, '198.51.100.1', { count: 1 }).ok).toBe(true);
  });

  it('restarting charon leaves the device, its ifindex, the routes and rules alone; ifdown then removes all of it while charon runs', async () => {
    const was = await kernelState(sc.nl);
    const n = charon.count('rw_all');
    await charon.stop();
    await charon.start();
    await charon.established('rw_all', n + 1);
    const now = await kernelState(sc.nl);
    expect(ours(now)).toEqual(ours(was));
    expect(now.ifindex.get('rw')).toBe(was.ifindex.get('rw'));
    const addrs = (k: typeof now) => k.lines.filter((l) => l.startsWith('addr rw '));
    expect(addrs(now)).toEqual(['addr rw 10.50.0.2/32', 'addr rw fd50::2/128']);
    expect(addrs(now)).toEqual(addrs(was));
    expect(pingFrom(sc.net.router, '198.51.100.1', { count: 1 }).ok).toBe(true);
    await sc.stack.ifdown('rw');
    await sc.stack.waitDown(['rw']);
    await until(async () => ours(await kernelState(sc.nl)).length === 0, 'nothing of xfrmd left', 60_000, 200);
    expect(charon.running).toBe(true);
    expect(sc.newLoops()).toBe(0);
  });
});

describe('routed VPN: the same remote subnet through two tunnels to two gateways, chosen by source', () => {
  const psk = [newPsk(), newPsk()];
  let sc: Scenario;
  let charon: Charon;

  beforeAll(async () => {
    const lan = ['10.20.0.1/24', 'fd00:20::1/64'];
    sc = await Scenario.start({
      name: 'routed',
      label: 'routed VPN, two gateways (strongSwan)',
      net: {
        peers: [
          { addr: '203.0.113.2', lan },
          { addr: '203.0.113.3', lan },
        ],
        lan: { router: ['192.168.1.1/24', '192.168.2.1/24', 'fd00:1::1/64', 'fd00:2::1/64'], host: ['192.168.1.2/24', '192.168.2.2/24', 'fd00:1::2/64', 'fd00:2::2/64'] },
      },
      network: example('routed-vpn', 'network'),
      up: ['dc1', 'dc2'],
      peers: [example('routed-vpn', 'peer1-swanctl.conf', { PSK: psk[0]! }), example('routed-vpn', 'peer2-swanctl.conf', { PSK2: psk[1]! })],
    });
    charon = await sc.charon('routed-vpn', { PSK: psk[0]!, PSK2: psk[1]! });
  });

  afterAll(() => sc?.close());

  it('both tunnels up, each SA pair on its own if_id', async () => {
    await charon.established('dc1_net');
    await charon.established('dc2_net');
    expect((await esp(sc.nl, 11)).map((s) => s.dst).sort()).toEqual([ROUTER, '203.0.113.2']);
    expect((await esp(sc.nl, 12)).map((s) => s.dst).sort()).toEqual([ROUTER, '203.0.113.3']);
  });

  it('the source picks the tunnel, in both families: 192.168.1.x/fd00:1:: through dc1 only, 192.168.2.x/fd00:2:: through dc2 only', async () => {
    for (const [src, ifId, other] of [
      ['192.168.1.2', 11, 12],
      ['192.168.2.2', 12, 11],
      ['fd00:1::2', 11, 12],
      ['fd00:2::2', 12, 11],
    ] as const) {
      const dst = src.includes(':') ? 'fd00:20::1' : '10.20.0.1';
      const [a0, b0] = [await esp(sc.nl, ifId), await esp(sc.nl, other)];
      const r = pingFrom(sc.net.lan!, dst, { src, count: 2 });
      expect(r.ok, `${src}: ${r.stdout}${r.stderr}`).toBe(true);
      const [a1, b1] = [await esp(sc.nl, ifId), await esp(sc.nl, other)];
      expect(out(a1).packets - out(a0).packets, src).toBe(2);
      expect(inb(a1).packets - inb(a0).packets, src).toBe(2);
      expect(out(b1).packets - out(b0).packets, src).toBe(0);
    }
  });
});
