// "Marks and policy routing", end to end: a road warrior sends everything through the tunnel while
// the peer's public address is itself inside 0.0.0.0/0 (::/0). Two namespaces joined by a veth: the
// peer (plain iproute2 xfrm interface) and the road warrior, where xfrmd (standalone apply of a UCI
// section: ifid, parent_device, ipaddr/ip6addr, full_tunnel, exempt_mark) builds the xfrm interface, its
// table, default route and rules. Static ESP SAs/policies with if_id come from our netlink layer;
// the road warrior's outbound SAs put output mark 0x6 on the ESP, which the exempt rule sends to
// main. Without that rule the ESP is routed back into the tunnel: "Local routing loop detected".
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Netlink, type SAInfo } from '../../src/netlink/index.ts';
import { NetlinkKernel } from '../../src/netlink/kernel.ts';
import { applyNetworkFile, downAll } from '../../src/standalone/apply.ts';
import { StateStore } from '../../src/state/store.ts';
import { Netns, ping } from './lib.ts';
import { addrsOf, ifIdOf, linkOf, ourObjects, snapshot, type JLink } from './support-xfrmd.ts';

const IF_ID = 1;
const MARK = 6;

interface Fam {
  f: 4 | 6;
  /** outer: [road warrior, peer] */
  outer: [string, string];
  /** inner: [road warrior, peer] */
  inner: [string, string];
  any: string;
  host: number;
  spiOut: number;
  spiIn: number;
}

const spiBase = 0x3000 + Math.floor(Math.random() * 0x1000);
const fams: Fam[] = [
  { f: 4, outer: ['192.0.2.2', '192.0.2.1'], inner: ['10.9.0.2', '10.8.0.1'], any: '0.0.0.0', host: 32, spiOut: spiBase, spiIn: spiBase + 1 },
  { f: 6, outer: ['2001:db8:1::2', '2001:db8:1::1'], inner: ['fd09::2', 'fd08::1'], any: '::', host: 128, spiOut: spiBase + 2, spiIn: spiBase + 3 },
];

const NETWORK = `
config interface 'rw0'
\toption proto 'xfrm'
\toption ifid '${IF_ID}'
\toption parent_device 'u0'
\tlist ipaddr '10.9.0.2/32'
\tlist ip6addr 'fd09::2/128'
\toption full_tunnel '1'
\toption exempt_mark '0x${MARK.toString(16)}'
`;

describe('road warrior: full tunnel with the peer inside 0/0, kept out of the tunnel by exempt_mark', () => {
  let rw: Netns;
  let peer: Netns;
  let nlRw: Netlink;
  let nlPeer: Netlink;
  let kernel: NetlinkKernel;
  let store: StateStore;
  let stateDir: string;
  const key = randomBytes(20);

  beforeAll(async () => {
    rw = new Netns('xk-rw');
    peer = new Netns('xk-peer');
    stateDir = mkdtempSync(join(tmpdir(), 'xfrmd-rw-'));
    store = new StateStore(stateDir);
    rw.ip('link', 'add', 'u0', 'type', 'veth', 'peer', 'name', 'u1', 'netns', peer.name);
    // Road warrior: host addresses only, the peer reached by the default route (so it is in 0/0).
    rw.batch([
      'addr add 192.0.2.2/32 dev u0',
      'addr add 2001:db8:1::2/128 dev u0 nodad',
      'link set u0 up',
      'route add default via 192.0.2.1 dev u0 onlink',
      'route add default via 2001:db8:1::1 dev u0 onlink',
    ]);
    // Peer: a plain xfrm interface routing the road warrior's inner addresses into the tunnel.
    peer.batch([
      'addr add 192.0.2.1/24 dev u1',
      'addr add 2001:db8:1::1/64 dev u1 nodad',
      'link set u1 up',
      `link add ipsec1 type xfrm dev u1 if_id ${IF_ID}`,
      'addr add 10.8.0.1/32 dev ipsec1',
      'addr add fd08::1/128 dev ipsec1 nodad',
      'link set ipsec1 up',
      'route add 10.9.0.2/32 dev ipsec1',
      'route add fd09::2/128 dev ipsec1',
    ]);
    nlRw = Netlink.open({ netns: rw.name });
    nlPeer = Netlink.open({ netns: peer.name });
    kernel = new NetlinkKernel(nlRw);

    for (const x of fams) {
      const [me, them] = x.outer;
      const anyNet = { addr: x.any, len: 0 };
      const rwHost = { addr: x.inner[0], len: x.host };
      const aead = { name: 'rfc4106(gcm(aes))', key, icvBits: 128 };
      // road warrior → peer: the outbound SA marks the ESP packets (XFRMA_SET_MARK 0x6/0xffffffff)
      await nlRw.addSA({ src: me, dst: them, spi: x.spiOut, mode: 'tunnel', reqid: 1, ifId: IF_ID, aead, setMark: { value: MARK, mask: 0xffffffff } });
      await nlRw.addSA({ src: them, dst: me, spi: x.spiIn, mode: 'tunnel', reqid: 1, ifId: IF_ID, aead });
      await nlRw.addPolicy({ dir: 'out', sel: { family: x.f, src: rwHost, dst: anyNet }, ifId: IF_ID, tmpls: [{ src: me, dst: them, mode: 'tunnel', reqid: 1 }] });
      await nlRw.addPolicy({ dir: 'in', sel: { family: x.f, src: anyNet, dst: rwHost }, ifId: IF_ID, tmpls: [{ src: them, dst: me, mode: 'tunnel', reqid: 1 }] });
      await nlPeer.addSA({ src: me, dst: them, spi: x.spiOut, mode: 'tunnel', reqid: 1, ifId: IF_ID, aead });
      await nlPeer.addSA({ src: them, dst: me, spi: x.spiIn, mode: 'tunnel', reqid: 1, ifId: IF_ID, aead });
      await nlPeer.addPolicy({ dir: 'out', sel: { family: x.f, src: anyNet, dst: rwHost }, ifId: IF_ID, tmpls: [{ src: them, dst: me, mode: 'tunnel', reqid: 1 }] });
      await nlPeer.addPolicy({ dir: 'in', sel: { family: x.f, src: rwHost, dst: anyNet }, ifId: IF_ID, tmpls: [{ src: me, dst: them, mode: 'tunnel', reqid: 1 }] });
    }
  });

  afterAll(() => {
    nlRw?.close();
    nlPeer?.close();
    rw?.destroy();
    peer?.destroy();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  const sa = (list: SAInfo[], spi: number): SAInfo => {
    const s = list.find((x) => x.spi === spi);
    if (!s) throw new Error(`no SA 0x${spi.toString(16)}`);
    return s;
  };
  const stats = (l: JLink | undefined) => ({ tx: l?.stats64?.tx.packets ?? -1, collisions: l?.stats64?.tx.collisions ?? -1 });

  it('xfrmd apply builds the xfrm interface on the veth, its table 10001, default routes and rules', async () => {
    const report = await applyNetworkFile(NETWORK, { kernel, store });
    expect(report).toMatchObject({ up: ['rw0'], failed: [] });
    const s = snapshot(rw);
    const l = linkOf(s, 'rw0');
    expect(l?.linkinfo?.info_kind).toBe('xfrm');
    expect(ifIdOf(l)).toBe(IF_ID);
    expect(l?.link).toBe('u0');
    expect(addrsOf(s, 'rw0').sort()).toEqual(['10.9.0.2/32', 'fd09::2/128']);
    const mine = ourObjects(s);
    const ruleText = (r: (typeof mine.rules)[number]) =>
      [r.priority, r.fwmark ? `fwmark ${r.fwmark}` : '', r.suppress_prefixlen !== undefined ? `suppress ${r.suppress_prefixlen}` : '', `lookup ${r.table}`].filter(Boolean).join(' ');
    const four = s.rules.filter((r) => r.protocol === '88').map(ruleText);
    const six = s.rules6.filter((r) => r.protocol === '88').map(ruleText);
    for (const list of [four, six]) expect(list).toEqual(['99 fwmark 0x6 lookup main', '101 suppress 0 lookup main', '102 lookup 10001']);
    expect(mine.routes.map((r) => `${r.dst} ${r.dev} ${r.table} ${r.prefsrc}`).sort()).toEqual(['default rw0 10001 10.9.0.2', 'default rw0 10001 fd09::2']);
  });

  it.each(fams)('IPv$f: ping to the peer’s inner address crosses the tunnel; the ESP leaves by the veth', async (x) => {
    const beforeRw = await nlRw.dumpSAs({ ifId: IF_ID });
    const beforeLinks = snapshot(rw, { stats: true });
    const r = ping(rw, x.inner[1], 2);
    expect(r.ok, r.stdout + r.stderr).toBe(true);
    const afterRw = await nlRw.dumpSAs({ ifId: IF_ID });
    const afterPeer = await nlPeer.dumpSAs({ ifId: IF_ID });
    const afterLinks = snapshot(rw, { stats: true });
    expect(sa(afterRw, x.spiOut).setMark).toEqual({ value: MARK, mask: 0xffffffff });
    // the road warrior's outbound SA and the peer's inbound one (same SPI) counted the pings, and back
    for (const [list, spi] of [[afterRw, x.spiOut], [afterPeer, x.spiOut], [afterPeer, x.spiIn], [afterRw, x.spiIn]] as const) {
      expect(sa(list, spi).packets).toBeGreaterThanOrEqual(2);
    }
    expect(sa(afterRw, x.spiOut).packets - sa(beforeRw, x.spiOut).packets).toBe(2);
    const xb = stats(linkOf(beforeLinks, 'rw0'));
    const xa = stats(linkOf(afterLinks, 'rw0'));
    const ub = stats(linkOf(beforeLinks, 'u0'));
    const ua = stats(linkOf(afterLinks, 'u0'));
    expect(xa.tx - xb.tx).toBeGreaterThanOrEqual(2);
    expect(xa.collisions).toBe(xb.collisions);
    expect(ua.tx - ub.tx).toBeGreaterThanOrEqual(2);
  });

  it.each(fams)('IPv$f: without the exempt rule the ESP is routed into the tunnel again: loop, no ping', async (x) => {
    const flag = x.f === 4 ? '-4' : '-6';
    const before = stats(linkOf(snapshot(rw, { stats: true }), 'rw0'));
    rw.ip(flag, 'rule', 'del', 'priority', '99');
    const r = ping(rw, x.inner[1], 1);
    expect(r.ok).toBe(false);
    const after = stats(linkOf(snapshot(rw, { stats: true }), 'rw0'));
    expect(after.collisions).toBeGreaterThan(before.collisions);
    // the other family is not affected (its rule is still there) until its own turn
    if (x.f === 4) expect(ping(rw, fams[1]!.inner[1], 1).ok).toBe(true);
  });

  // applyNetworkFile dumps our tagged routes/rules once and passes them to applyPlan, so a
  // hand-deleted exempt rule is seen as missing and put back.
  it('xfrmd apply again puts the exempt rules back; the tunnel works again', async () => {
    const report = await applyNetworkFile(NETWORK, { kernel, store });
    expect(report).toMatchObject({ up: ['rw0'], failed: [] });
    const s = snapshot(rw);
    expect(s.rules.filter((r) => r.protocol === '88' && r.priority === 99)).toHaveLength(1);
    expect(s.rules6.filter((r) => r.protocol === '88' && r.priority === 99)).toHaveLength(1);
    expect(ping(rw, fams[0]!.inner[1], 1).ok).toBe(true);
  });

  it('xfrmd down removes everything it installed (also with its exempt rules already gone); the rest stays', async () => {
    expect(await downAll(kernel, store)).toEqual(['rw0']);
    const s = snapshot(rw);
    expect(ourObjects(s)).toEqual({ xfrm: [], rules: [], routes: [] });
    expect(s.links.map((l) => l.ifname).sort()).toEqual(['lo', 'u0']);
    expect(s.routes.filter((r) => r.table === undefined || r.table === 'main').map((r) => r.dst)).toEqual(['default']);
    expect(store.all()).toEqual([]);
  });
});
