// End to end through our own netlink layer: xfrm interfaces, ESP SAs and policies keyed by if_id
// installed with src/netlink (iproute2 only for the veth underlay and the inner addresses/routes),
// a ping across, and our SA dump showing the packet and byte counters going up. Then ethtool's
// ESP offload features of the devices involved.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { resolveFamily, getFeatures } from '../../src/netlink/ethtool.ts';
import { NetlinkError } from '../../src/netlink/errors.ts';
import { createXfrmLink, getLink, setLink } from '../../src/netlink/links.ts';
import { NETLINK_GENERIC, NETLINK_ROUTE, NETLINK_XFRM, NlSocket } from '../../src/netlink/socket.ts';
import { addPolicy, addSA, deletePolicy, deleteSA, dumpPolicies, dumpSAs, type SAInfo, type XfrmSelector } from '../../src/netlink/xfrm.ts';
import { Netns, ping, saCounters } from './lib.ts';

const IF_ID = 0x77;
const outer = ['198.51.100.1', '198.51.100.2'] as const;
const inner = ['10.77.0.1', '10.77.0.2'] as const;
const any: XfrmSelector = { family: 4, src: { addr: '0.0.0.0', len: 0 }, dst: { addr: '0.0.0.0', len: 0 } };
const key = randomBytes(20);
const spiAB = 0x7000 + Math.floor(Math.random() * 0x800);
const spiBA = spiAB + 0x800;

interface Side {
  ns: Netns;
  rt: NlSocket;
  xfrm: NlSocket;
  me: 0 | 1;
}

describe('netlink: ESP between two namespaces through xfrm interfaces', () => {
  const sides: Side[] = [];
  let a: Side;
  let b: Side;

  beforeAll(async () => {
    const nsA = new Netns('xk-nla');
    const nsB = new Netns('xk-nlb');
    nsA.ip('link', 'add', 'u0', 'type', 'veth', 'peer', 'name', 'u0', 'netns', nsB.name);
    for (const [i, ns] of [nsA, nsB].entries()) {
      const me = i as 0 | 1;
      const s: Side = { ns, rt: new NlSocket(NETLINK_ROUTE, { netns: ns.name }), xfrm: new NlSocket(NETLINK_XFRM, { netns: ns.name }), me };
      sides.push(s);
      ns.batch([`addr add ${outer[me]}/24 dev u0`, 'link set u0 up']);
      const parent = await getLink(s.rt, 'u0');
      const x = await createXfrmLink(s.rt, { name: 'ipsec7', ifId: IF_ID, link: parent!.index, collectMetadata: false, mtu: 1400, multicast: false });
      await setLink(s.rt, x.index, { up: true });
      ns.batch([`addr add ${inner[me]} dev ipsec7`, `route add ${inner[1 - me]} dev ipsec7`]);
      const peer = (1 - me) as 0 | 1;
      const sa = (src: string, dst: string, spi: number) =>
        addSA(s.xfrm, { src, dst, spi, mode: 'tunnel', reqid: 7, ifId: IF_ID, aead: { name: 'rfc4106(gcm(aes))', key, icvBits: 128 } });
      await sa(outer[me], outer[peer], me === 0 ? spiAB : spiBA);
      await sa(outer[peer], outer[me], me === 0 ? spiBA : spiAB);
      for (const dir of ['out', 'in'] as const) {
        const [src, dst] = dir === 'out' ? [outer[me], outer[peer]] : [outer[peer], outer[me]];
        await addPolicy(s.xfrm, { dir, sel: any, ifId: IF_ID, tmpls: [{ src, dst, mode: 'tunnel', reqid: 7 }] });
      }
    }
    [a, b] = sides as [Side, Side];
  });

  afterAll(() => {
    for (const s of sides) {
      s.rt.close();
      s.xfrm.close();
      s.ns.destroy();
    }
  });

  const bySpi = (list: SAInfo[], spi: number): SAInfo => {
    const sa = list.find((x) => x.spi === spi);
    if (!sa) throw new Error(`no SA 0x${spi.toString(16)} in the dump`);
    return sa;
  };

  it('dumps the SAs and policies it installed, keyed by if_id', async () => {
    const sas = await dumpSAs(a.xfrm, { ifId: IF_ID });
    expect(sas).toHaveLength(2);
    const out = bySpi(sas, spiAB);
    expect(out).toMatchObject({ family: 4, src: outer[0], dst: outer[1], mode: 'tunnel', reqid: 7, ifId: IF_ID, packets: 0, bytes: 0 });
    expect(bySpi(sas, spiBA)).toMatchObject({ src: outer[1], dst: outer[0], ifId: IF_ID });
    expect(await dumpSAs(a.xfrm, { ifId: IF_ID + 1 })).toEqual([]);

    const pols = await dumpPolicies(a.xfrm, { ifId: IF_ID });
    expect(pols.map((p) => p.dir).sort()).toEqual(['in', 'out']);
    const outPol = pols.find((p) => p.dir === 'out');
    expect(outPol?.tmpls[0]).toMatchObject({ src: outer[0], dst: outer[1], mode: 'tunnel', reqid: 7 });
  });

  it('a ping crosses the tunnel and our SA dump shows packets and bytes going up', async () => {
    const r = ping(a.ns, inner[1], 3);
    expect(r.ok, r.stdout + r.stderr).toBe(true);

    const afterA = await dumpSAs(a.xfrm, { ifId: IF_ID });
    const afterB = await dumpSAs(b.xfrm, { ifId: IF_ID });
    for (const sa of [bySpi(afterA, spiAB), bySpi(afterA, spiBA), bySpi(afterB, spiAB), bySpi(afterB, spiBA)]) {
      expect(sa.packets).toBeGreaterThanOrEqual(3);
      expect(sa.bytes).toBeGreaterThan(sa.packets * 20);
      expect(sa.stats.integrityFailed).toBe(0);
    }
    // the same numbers iproute2 prints
    const ip = saCounters(a.ns, spiAB);
    expect({ packets: bySpi(afterA, spiAB).packets, bytes: bySpi(afterA, spiAB).bytes }).toEqual({ packets: ip.packets, bytes: ip.bytes });

    const more = ping(a.ns, inner[1], 2);
    expect(more.ok).toBe(true);
    const again = bySpi(await dumpSAs(a.xfrm, { ifId: IF_ID }), spiAB);
    expect(again.packets).toBeGreaterThanOrEqual(bySpi(afterA, spiAB).packets + 2);
    expect(again.bytes).toBeGreaterThan(bySpi(afterA, spiAB).bytes);
  });

  it('ethtool reports the ESP offload features (none on veth or the xfrm interface)', async () => {
    const g = new NlSocket(NETLINK_GENERIC, { netns: a.ns.name });
    try {
      const family = await resolveFamily(g, 'ethtool');
      expect(family).toBeGreaterThan(0);
      for (const dev of ['u0', 'ipsec7']) {
        const f = await getFeatures(g, family!, dev);
        expect(f.active.size).toBeGreaterThan(0);
        expect(f.esp['esp-hw-offload']).toEqual({ hw: false, wanted: false, active: false });
        expect(f.esp['esp-tx-csum-hw-offload'].active).toBe(false);
      }
      await expect(getFeatures(g, family!, 'nope0')).rejects.toBeInstanceOf(NetlinkError);
    } finally {
      g.close();
    }
  });

  it('without its SAs and policies the tunnel stops; deleting twice is ESRCH/ENOENT', async () => {
    for (const s of [a, b]) {
      for (const spi of [spiAB, spiBA]) {
        const dst = spi === spiAB ? outer[1] : outer[0];
        await deleteSA(s.xfrm, { dst, spi, ifId: IF_ID });
      }
      for (const dir of ['out', 'in'] as const) await deletePolicy(s.xfrm, { dir, sel: any, ifId: IF_ID });
      expect(await dumpSAs(s.xfrm, { ifId: IF_ID })).toEqual([]);
      expect(await dumpPolicies(s.xfrm, { ifId: IF_ID })).toEqual([]);
    }
    expect(ping(a.ns, inner[1], 1).ok).toBe(false);
    const again = await deleteSA(a.xfrm, { dst: outer[1], spi: spiAB, ifId: IF_ID }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(again).toBeInstanceOf(NetlinkError);
    expect(['ESRCH', 'ENOENT']).toContain((again as NetlinkError).code);
  });
});
