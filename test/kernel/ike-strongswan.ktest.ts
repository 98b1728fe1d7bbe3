// strongSwan end to end over xfrmd's interfaces, the router being OpenWrt's real netifd + xfrmd
// (netifd-stack.ts) with the README's configurations (examples/ike/), the other end a plain
// policy-based strongSwan responder reached only through the router's default route (ike.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netlink } from '../../src/netlink/index.ts';
import { Charon, esp, example, linkStats, Net, newPsk, pingFrom, routingLoops, sum, timing, WAN } from './ike.ts';
import { kernelState, ours } from './kernel-state.ts';
import { NetifdStack, stackAvailable, until } from './netifd-stack.ts';

const PEER = '203.0.113.2';

describe.skipIf(!stackAvailable())('site to site: strongSwan over xfrmd, IPv4 and IPv6 inside IPv4', () => {
  const done = timing('site to site (strongSwan)');
  let net: Net;
  let stack: NetifdStack;
  let nl: Netlink;
  let peerNl: Netlink;
  let charon: Charon;
  let peer: Charon;
  const psk = newPsk();
  let loops0 = 0;

  beforeAll(async () => {
    loops0 = routingLoops();
    net = new Net({
      peers: [{ addr: PEER, lan: ['10.20.0.1/24', 'fd00:20::1/64'] }],
      lan: { router: ['192.168.1.1/24', 'fd00:1::1/64'], host: ['192.168.1.2/24', 'fd00:1::2/64'] },
    });
    nl = Netlink.open({ netns: net.router.name });
    peerNl = Netlink.open({ netns: net.peers[0]!.name });
    stack = await NetifdStack.start({ ns: net.router, network: WAN + example('site-to-site', 'network'), logName: 'ike-s2s' });
    await stack.waitUp(['wan', 's2s']);
    peer = await Charon.start({ ns: net.peers[0]!, name: 's2s-peer', swanctl: example('site-to-site', 'peer-swanctl.conf', { PSK: psk }) });
    charon = await Charon.start({ ns: net.router, name: 's2s-router', swanctl: example('site-to-site', 'swanctl.conf', { PSK: psk }), strongswan: example('site-to-site', 'strongswan.conf') });
  });

  afterAll(async () => {
    await charon?.close();
    await peer?.close();
    await stack?.close();
    nl?.close();
    peerNl?.close();
    net?.destroy();
    done();
  });

  it('IKE comes up; the SAs and all policies (in/out/fwd, v4 and v6) carry the section\'s if_id; charon installed no route or rule', async () => {
    await charon.established('s2s');
    const sas = await esp(nl, 1);
    expect(sas.map((s) => `${s.src}>${s.dst}`).sort()).toEqual([`192.0.2.1>${PEER}`, `${PEER}>192.0.2.1`]);
    const pol = (await nl.dumpPolicies({ ifId: 1 })).map((p) => `${p.dir} ${p.sel.src.addr}/${p.sel.src.len}>${p.sel.dst.addr}/${p.sel.dst.len}`).sort();
    expect(pol).toEqual([
      'fwd 10.20.0.0/24>192.168.1.0/24',
      'fwd fd00:20::/64>fd00:1::/64',
      'in 10.20.0.0/24>192.168.1.0/24',
      'in fd00:20::/64>fd00:1::/64',
      'out 192.168.1.0/24>10.20.0.0/24',
      'out fd00:1::/64>fd00:20::/64',
    ]);
    // install_routes = no, routing_table = 0: no table 220, no rule of charon's
    const s = await kernelState(nl);
    expect(s.lines.filter((l) => / (table|lookup) 220\b/.test(l))).toEqual([]);
  });

  it('ping from the LAN host through the tunnel in both families; ESP leaves via the parent; counters rise; no routing loop', async () => {
    const wan0 = linkStats(net.router, 'wan0');
    const before = await esp(nl, 1);
    const v4 = pingFrom(net.lan!, '10.20.0.1', { count: 3 });
    const v6 = pingFrom(net.lan!, 'fd00:20::1', { count: 3 });
    expect(v4.ok, v4.stdout + v4.stderr).toBe(true);
    expect(v6.ok, v6.stdout + v6.stderr).toBe(true);
    const after = await esp(nl, 1);
    const out = (l: typeof after) => sum(l, (s) => s.src === '192.0.2.1');
    const inb = (l: typeof after) => sum(l, (s) => s.dst === '192.0.2.1');
    expect(out(after).packets - out(before).packets).toBe(6);
    expect(inb(after).packets - inb(before).packets).toBe(6);
    // the encrypted packets went out of wan0 and reached the peer's SA
    expect(linkStats(net.router, 'wan0').tx - wan0.tx).toBeGreaterThanOrEqual(6);
    expect(sum(await esp(peerNl), (s) => s.src === '192.0.2.1').packets).toBeGreaterThanOrEqual(6);
    const dev = linkStats(net.router, 's2s');
    expect(dev.tx).toBeGreaterThanOrEqual(6);
    expect(dev.collisions).toBe(0);
    expect(routingLoops()).toBe(loops0);
  });

  it('restarting charon leaves xfrmd\'s device (same ifindex), routes and rules alone; the tunnel comes back by itself', async () => {
    const was = await kernelState(nl);
    await charon.stop();
    await until(async () => (await esp(nl, 1)).length === 0, 'charon removed its SAs', 30_000, 200);
    const between = await kernelState(nl);
    expect(ours(between)).toEqual(ours(was));
    expect(between.ifindex.get('s2s')).toBe(was.ifindex.get('s2s'));
    await charon.start();
    await charon.established('s2s', 2);
    const now = await kernelState(nl);
    expect(ours(now)).toEqual(ours(was));
    expect(now.ifindex.get('s2s')).toBe(was.ifindex.get('s2s'));
    expect((await stack.dump()).get('s2s')?.up).toBe(true);
    expect(pingFrom(net.lan!, '10.20.0.1', { count: 1 }).ok).toBe(true);
  });

  it('ifdown removes everything of xfrmd\'s while charon keeps running; ifup brings it back and the same SAs carry traffic again', async () => {
    await stack.ifdown('s2s');
    await stack.waitDown(['s2s']);
    await until(async () => ours(await kernelState(nl)).length === 0, 'nothing of xfrmd left', 60_000, 200);
    expect(charon.running).toBe(true);
    expect((await esp(nl, 1)).length).toBe(2);
    expect(pingFrom(net.lan!, '10.20.0.1', { count: 1 }).ok).toBe(false);
    await stack.ifup('s2s');
    await stack.waitUp(['s2s']);
    await until(async () => ours(await kernelState(nl)).some((l) => l.startsWith('route 10.20.0.0/24 dev s2s')), 'route back', 60_000, 200);
    const v4 = pingFrom(net.lan!, '10.20.0.1', { count: 2 });
    expect(v4.ok, v4.stdout).toBe(true);
    expect(pingFrom(net.lan!, 'fd00:20::1', { count: 2 }).ok).toBe(true);
    expect(routingLoops()).toBe(loops0);
  });
});
