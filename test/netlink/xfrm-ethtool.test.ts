// XFRM policies (work on this host), SAs (the host has no ESP: the kernel's
// refusal is checked, the codec round-trips), ethtool features of a veth.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitMessages } from '../../src/netlink/attrs.ts';
import { w64 } from '../../src/netlink/host.ts';
import { Netlink, NetlinkError, type PolicyConfig } from '../../src/netlink/index.ts';
import { decodeSA, saMessage } from '../../src/netlink/xfrm.ts';
import { ipn, makeNetns, removeNetns } from './netns.ts';

let ns: string;
let nl: Netlink;
beforeAll(async () => {
  ns = makeNetns('xfrm');
  nl = Netlink.open({ netns: ns });
  await nl.createLink('nic0', 'veth', { peer: 'nic1', up: true });
});
afterAll(() => {
  nl?.close();
  removeNetns(ns);
});

const out: PolicyConfig = {
  dir: 'out',
  sel: { family: 4, src: { addr: '0.0.0.0', len: 0 }, dst: { addr: '10.20.0.0', len: 16 } },
  priority: 100,
  ifId: 7,
  mark: { value: 0x10, mask: 0xf0 },
  tmpls: [{ src: '192.0.2.1', dst: '198.51.100.1', mode: 'tunnel', reqid: 7 }],
};

describe('xfrm policies', () => {
  it('adds policies keyed by if_id, dumps and filters them by if_id, decodes mark and template', async () => {
    await nl.addPolicy(out);
    await nl.addPolicy({ ...out, dir: 'in', sel: { family: 4, src: { addr: '10.20.0.0', len: 16 }, dst: { addr: '0.0.0.0', len: 0 } }, tmpls: [{ src: '198.51.100.1', dst: '192.0.2.1', mode: 'tunnel', reqid: 7 }] });
    await nl.addPolicy({ dir: 'out', sel: { family: 6, src: { addr: '::', len: 0 }, dst: { addr: 'fd00:20::', len: 48 } }, ifId: 8, tmpls: [{ src: '2001:db8::1', dst: '2001:db8::2', mode: 'tunnel' }] });
    const shown = ipn(ns, 'xfrm', 'policy', 'show');
    expect(shown).toContain('dst 10.20.0.0/16');
    expect(shown).toMatch(/if_id 0x7/);
    const seven = await nl.dumpPolicies({ ifId: 7 });
    expect(seven).toHaveLength(2);
    const o = seven.find((p) => p.dir === 'out');
    expect(o).toMatchObject({ sel: { family: 4, dst: { addr: '10.20.0.0', len: 16 } }, priority: 100, ifId: 7, mark: { value: 0x10, mask: 0xf0 }, action: 'allow' });
    expect(o?.tmpls).toEqual([{ src: '192.0.2.1', dst: '198.51.100.1', mode: 'tunnel', reqid: 7, proto: 50, spi: 0 }]);
    expect((await nl.dumpPolicies({ ifId: 8 }))[0]?.sel.dst).toEqual({ addr: 'fd00:20::', len: 48 });
  });

  it('EEXIST on a duplicate; deletes by selector, dir, mark and if_id; ENOENT after', async () => {
    await expect(nl.addPolicy(out)).rejects.toMatchObject({ code: 'EEXIST' });
    await nl.deletePolicy(out);
    expect((await nl.dumpPolicies({ ifId: 7 })).map((p) => p.dir)).toEqual(['in']);
    await expect(nl.deletePolicy(out)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('xfrm SAs', () => {
  const sa = {
    src: '192.0.2.1',
    dst: '198.51.100.1',
    spi: 0xc0ffee01,
    mode: 'tunnel' as const,
    reqid: 7,
    ifId: 7,
    mark: { value: 1, mask: 0xff },
    setMark: { value: 6, mask: 0xffffffff },
    aead: { name: 'rfc4106(gcm(aes))', key: Buffer.alloc(20, 7), icvBits: 128 },
  };

  it('this host has no ESP: the kernel refuses with its own words', async () => {
    const e = await nl.addSA(sa).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(NetlinkError);
    expect((e as NetlinkError).extack).toMatch(/algorithm not found|type not found/);
    expect(await nl.dumpSAs()).toEqual([]);
  });

  it('the SA codec round-trips if_id, marks, output mark, SPI (network order) and counters', () => {
    const buf = saMessage(sa).finish(1);
    // a dumped SA has the same layout: put counters in, as the kernel would (host order)
    w64(buf, 123456789n, 16 + 160);
    w64(buf, 42n, 16 + 168);
    const [m] = splitMessages(buf);
    const d = m && decodeSA(m);
    expect(d).toMatchObject({ src: sa.src, dst: sa.dst, spi: 0xc0ffee01, proto: 50, mode: 'tunnel', reqid: 7, ifId: 7, mark: sa.mark, setMark: sa.setMark, bytes: 123456789, packets: 42 });
    expect(buf.readUInt32BE(16 + 72)).toBe(0xc0ffee01);
  });
});

describe('ethtool features', () => {
  it('a veth: generic features present, ESP offload absent', async () => {
    const f = await nl.features('nic0');
    expect(f).toBeDefined();
    expect(f?.hw.has('tx-checksum-ip-generic')).toBe(true);
    expect(f?.active.has('tx-checksum-ip-generic')).toBe(true);
    expect(f?.esp).toEqual({
      'esp-hw-offload': { hw: false, wanted: false, active: false },
      'esp-tx-csum-hw-offload': { hw: false, wanted: false, active: false },
    });
  });

  it('a missing device: ENODEV with the kernel text', async () => {
    await expect(nl.features('nosuch0')).rejects.toMatchObject({ code: 'ENODEV', extack: 'no device matches name' });
  });
});
