// ESP hardware offload through the bound parent, proven with netdevsim (6.12 only: netdevsim is
// built for it by setup-ike.sh, and only 6.10+ links two ports across namespaces), under the real
// netifd with strongSwan's child `hw_offload = yes` (the README's examples/ike/offload/). Refusals
// that need no offload NIC run on both kernels.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netlink } from '../../src/netlink/index.ts';
import { esp, example, newPsk, pingFrom, Scenario, SITE, sum, type Charon } from './ike.ts';
import { kernelState, ours } from './kernel-state.ts';
import { Netns } from './lib.ts';
import { loadNetdevsim, Nsim } from './netdevsim.ts';
import { NetifdStack, until, WAN } from './netifd-stack.ts';

const KERNEL = process.env.XFRMD_GUEST_KERNEL;
const ROUTER = '192.0.2.1';

interface Status {
  phase: string;
  error?: { code: string; message: string };
  parent?: { device: string; ifindex: number };
  offload?: { mode: string; esp_hw_offload?: boolean };
  routes: Array<{ route: string; present: boolean }>;
  sas: Array<{ spi: string; dir?: string; src: string; dst: string; packets: number; offload?: { dev: string; dir: string; packet: boolean } }>;
  hints: Array<{ code: string; message: string }>;
}

describe('offload where it cannot work: refused with a code', () => {
  let ns: Netns;
  let stack: NetifdStack;

  beforeAll(async () => {
    ns = new Netns('xk-offl');
    ns.batch(['link set lo up', 'link add wan0 type veth peer name wan0p', 'link set wan0 up', 'link set wan0p up']);
    const sections = ['crypto', 'packet']
      .map((mode, i) => `\nconfig interface '${mode}0'\n\toption proto 'xfrm'\n\toption ifid '${i + 1}'\n\toption tunlink 'wan'\n\toption offload '${mode}'\n\tlist route '10.${20 + i}.0.0/24'\n`)
      .join('');
    stack = await NetifdStack.start({ ns, network: WAN + sections, logName: 'offload-refused' });
  });

  afterAll(async () => {
    await stack?.close();
    ns?.destroy();
  });

  it('offload crypto on a veth parent: OFFLOAD_UNSUPPORTED naming the NIC; offload packet: the kernel (6.1) or the NIC (6.12)', async () => {
    const d = await stack.waitFor('both refused', (m) => ['crypto0', 'packet0'].every((n) => (m.get(n)?.errors?.length ?? 0) > 0 && !m.get(n)?.pending));
    expect(d.get('crypto0')?.errors?.[0]).toMatchObject({ code: 'OFFLOAD_UNSUPPORTED' });
    expect(d.get('packet0')?.errors?.[0]).toMatchObject({ code: 'OFFLOAD_UNSUPPORTED' });
    // not retried: netifd's restarts are blocked until the configuration changes
    expect(d.get('crypto0')?.autostart).toBe(false);
    const crypto = (await stack.xfrmdStatus('crypto0')) as unknown as Status;
    expect(crypto.error?.message).toContain('wan0 has no esp-hw-offload');
    const packet = (await stack.xfrmdStatus('packet0')) as unknown as Status;
    expect(packet.error?.message).toContain(KERNEL === '6.1' ? 'needs Linux 6.2' : 'wan0 has no esp-hw-offload');
    const nl = Netlink.open({ netns: ns.name });
    expect(ours(await kernelState(nl))).toEqual([]);
    nl.close();
  });
});

describe.runIf(KERNEL === '6.12')('ESP offload to the bound parent, with netdevsim (6.12)', () => {
  const psk = newPsk();
  let sc: Scenario;
  let charon: Charon;
  let wan: Nsim;
  let inetNic: Nsim;
  let inetNl: Netlink;
  const status = async (n = 'vpn') => (await sc.stack.xfrmdStatus(n)) as unknown as Status;

  /** The router's WAN NIC (netdevsim) linked to the internet's, as if by a cable. */
  async function plugWan(): Promise<Nsim> {
    const n = await Nsim.create(sc.net.router, sc.nl, 'wan0', wan?.id);
    n.link(inetNic);
    return n;
  }

  beforeAll(async () => {
    loadNetdevsim();
    sc = await Scenario.start({
      name: 'offload',
      label: 'offload with netdevsim (strongSwan)',
      net: { ...SITE, wan: 'external' },
      network:
        example('offload', 'network') +
        // the same with `offload packet` (Linux 6.2+): what netdevsim does with it
        "\nconfig interface 'pkt'\n\toption proto 'xfrm'\n\toption ifid '8'\n\toption tunlink 'wan'\n\toption offload 'packet'\n\tlist route '10.21.0.0/24'\n",
      up: ['vpn', 'pkt'],
      peers: [example('site-to-site', 'peer-swanctl.conf', { PSK: psk })],
      prepare: async (net, nl) => {
        inetNl = Netlink.open({ netns: net.inet.name });
        inetNic = await Nsim.create(net.inet, inetNl, 'r0');
        net.inet.batch(['address add 192.0.2.254/24 dev r0']);
        wan = await Nsim.create(net.router, nl, 'wan0');
        wan.link(inetNic);
      },
    });
    charon = await sc.charon('offload', { PSK: psk });
  });

  afterAll(async () => {
    await sc?.close();
    inetNl?.close();
    for (const n of [wan, inetNic]) {
      try {
        n?.remove();
      } catch {
        // already gone
      }
    }
  });

  it('the section comes up bound to the netdevsim NIC; status: esp_hw_offload', async () => {
    const st = await status();
    expect(st).toMatchObject({ phase: 'up', parent: { device: 'wan0', ifindex: wan.ifindex }, offload: { mode: 'crypto', esp_hw_offload: true } });
    expect((await kernelState(sc.nl)).lines).toContain('link vpn xfrm UP mtu 1280 if_id 7 parent wan0');
  });

  it('strongSwan with hw_offload = yes: both SAs offloaded to wan0 (the driver holds them; status and netifd say so)', async () => {
    await charon.established('vpn_net');
    const sas = await esp(sc.nl, 7);
    expect(sas.map((s) => s.offload?.ifindex)).toEqual([wan.ifindex, wan.ifindex]);
    const listing = wan.ipsec();
    expect(listing.count).toBe(2);
    expect(listing.sas.map((s) => s.spi).sort()).toEqual(sas.map((s) => `0x${s.spi.toString(16).padStart(8, '0')}`).sort());
    const st = await status();
    expect(st.sas.map((s) => `${s.dir} ${JSON.stringify(s.offload)}`).sort()).toEqual(['in {"dev":"wan0","dir":"in","packet":false}', 'out {"dev":"wan0","dir":"out","packet":false}']);
    expect(st.hints).toEqual([]);
    await until(async () => JSON.stringify((await sc.stack.dump()).get('vpn')?.data ?? {}).includes('"sa_offloaded":2'), "netifd's data: 2 SAs offloaded", 10_000, 200);
    // what an admin sees on the router
    const ipx = sc.net.router.ip('xfrm', 'state');
    expect(ipx).toMatch(/crypto offload parameters: dev wan0 dir out/);
    expect(ipx).toMatch(/crypto offload parameters: dev wan0 dir in/);
  });

  it('packets into the XFRM interface reach the driver with their SA (tx counter); netdevsim encrypts nothing, so the peer drops them', async () => {
    const l0 = wan.ipsec();
    const o0 = sum(await esp(sc.nl, 7), (s) => s.src === ROUTER).packets;
    const r = pingFrom(sc.net.lan!, '10.20.0.1', { count: 3 });
    const l1 = wan.ipsec();
    const o1 = sum(await esp(sc.nl, 7), (s) => s.src === ROUTER).packets;
    const peerIn = (await esp(sc.peerNl[0]!)).find((s) => s.src === ROUTER);
    console.log(`netdevsim driver: before "SA count=${l0.count} tx=${l0.tx}", after 3 pings "SA count=${l1.count} tx=${l1.tx}"; out SA packets +${o1 - o0}; ping ${r.received}/${r.sent}; peer's inbound SA: ${peerIn?.packets} packets, integrity failures ${peerIn?.stats.integrityFailed}`);
    expect(l1.tx - l0.tx).toBe(3);
    expect(o1 - o0).toBe(3);
    expect(r.received).toBe(0);
    expect(peerIn?.stats.integrityFailed).toBeGreaterThanOrEqual(3);
  });

  it('the child without hw_offload: SAs in software, and status points at it (OFFLOAD_NOT_USED)', async () => {
    const n = charon.count('vpn_net');
    charon.setSwanctl(example('offload', 'swanctl.conf', { PSK: psk }).replace(/^\s*hw_offload = yes$/m, ''));
    charon.swanctl('--terminate', '--ike', 'vpn');
    charon.swanctl('--load-all', '--noprompt');
    await charon.established('vpn_net', n + 1);
    expect((await esp(sc.nl, 7)).map((s) => s.offload)).toEqual([undefined, undefined]);
    expect(wan.ipsec().count).toBe(0);
    const st = await status();
    expect(st.hints.map((h) => h.code)).toEqual(['OFFLOAD_NOT_USED']);
    expect(st.hints[0]?.message).toContain('hw_offload');
    // back to the README's child
    charon.setSwanctl(example('offload', 'swanctl.conf', { PSK: psk }));
    charon.swanctl('--terminate', '--ike', 'vpn');
    charon.swanctl('--load-all', '--noprompt');
    await charon.established('vpn_net', n + 2);
    expect(wan.ipsec().count).toBe(2);
  });

  it('the NIC unplugged and plugged again (new ifindex): the device is rebound, its routes are back, and new SAs are offloaded to the new NIC', async () => {
    const was = await kernelState(sc.nl);
    const old = wan.ifindex;
    wan.remove();
    // netifd takes wan and the tunnels down; the kernel drops the SAs offloaded to the vanished NIC
    // (charon, roaming, may put the outbound one back in software: none stays on the NIC)
    await sc.stack.waitDown(['vpn', 'pkt']);
    await until(async () => (await esp(sc.nl, 7)).every((s) => !s.offload), 'no SA offloaded to the vanished NIC', 20_000, 200);
    await until(async () => !ours(await kernelState(sc.nl)).some((l) => l.includes(' vpn ')), 'nothing of vpn left', 60_000, 200);
    wan = await plugWan();
    expect(wan.ifindex).not.toBe(old);
    await sc.stack.waitUp(['wan', 'vpn', 'pkt']);
    await until(async () => ours(await kernelState(sc.nl)).join('\n') === ours(was).join('\n'), 'the same routes and device as before', 60_000, 200);
    expect((await status()).parent).toMatchObject({ device: 'wan0', ifindex: wan.ifindex });
    // charon does not hear of SAs the kernel dropped: the admin (or DPD) starts the child again
    const n = charon.count('vpn_net');
    charon.swanctl('--terminate', '--ike', 'vpn');
    charon.swanctl('--initiate', '--child', 'vpn_net', '--timeout', '30');
    await charon.established('vpn_net', n + 1);
    const sas = await esp(sc.nl, 7);
    expect(sas.map((s) => s.offload?.ifindex)).toEqual([wan.ifindex, wan.ifindex]);
    expect(wan.ipsec().count).toBe(2);
    const t0 = wan.ipsec().tx;
    pingFrom(sc.net.lan!, '10.20.0.1', { count: 2 });
    expect(wan.ipsec().tx - t0).toBe(2);
  });

  it('offload packet: accepted on 6.12 with an esp-hw-offload NIC; netdevsim itself refuses packet-offload SAs (crypto only), and says so', async () => {
    expect(await status('pkt')).toMatchObject({ phase: 'up', offload: { mode: 'packet', esp_hw_offload: true } });
    const key = Buffer.alloc(20, 7);
    const sa = (packet: boolean) =>
      sc.nl.addSA({ src: ROUTER, dst: '203.0.113.9', spi: packet ? 0x9001 : 0x9002, mode: 'tunnel', ifId: 8, reqid: 9, aead: { name: 'rfc4106(gcm(aes))', key, icvBits: 128 }, offload: { ifindex: wan.ifindex, packet } });
    const err = await sa(true).then(
      () => undefined,
      (e: Error) => e,
    );
    console.log(`packet offload SA on netdevsim: ${err ? err.message : 'accepted'}`);
    expect(err?.message).toMatch(/Unsupported ipsec offload type/);
    await sa(false);
    expect((await esp(sc.nl, 8)).map((s) => s.offload?.ifindex)).toEqual([wan.ifindex]);
    expect((await status('pkt')).sas.map((s) => s.offload)).toEqual([{ dev: 'wan0', dir: 'out', packet: false }]);
    await sc.nl.deleteSA({ dst: '203.0.113.9', spi: 0x9002, proto: 50 });
  });

  it('an SA with the section\'s if_id offloaded to another NIC than the bound parent: status says so (OFFLOAD_OTHER_DEVICE)', async () => {
    const other = await Nsim.create(sc.net.router, sc.nl, 'spare0');
    try {
      const key = Buffer.alloc(20, 9);
      await sc.nl.addSA({ src: ROUTER, dst: '203.0.113.9', spi: 0x9003, mode: 'tunnel', ifId: 8, reqid: 9, aead: { name: 'rfc4106(gcm(aes))', key, icvBits: 128 }, offload: { ifindex: other.ifindex, packet: false } });
      expect(other.ipsec().count).toBe(1);
      const st = await status('pkt');
      expect(st.sas.map((s) => s.offload)).toEqual([{ dev: 'spare0', dir: 'out', packet: false }]);
      expect(st.hints.map((h) => h.code)).toEqual(['OFFLOAD_OTHER_DEVICE']);
      expect(st.hints[0]?.message).toContain('spare0');
      expect(st.hints[0]?.message).toContain('wan0');
      await sc.nl.deleteSA({ dst: '203.0.113.9', spi: 0x9003, proto: 50 });
      expect((await status('pkt')).hints).toEqual([]);
    } finally {
      other.remove();
    }
  });
});

describe.runIf(KERNEL === '6.12')('the same child over a WAN without ESP offload (veth)', () => {
  const psk = newPsk();
  let sc: Scenario;
  let charon: Charon;

  beforeAll(async () => {
    sc = await Scenario.start({
      name: 'nooffload',
      label: 'offload child over a veth WAN (strongSwan)',
      net: SITE,
      // `offload crypto` is refused on this NIC (above): the section asks for none
      network: example('offload', 'network').replace("option offload 'crypto'", "option offload 'off'"),
      up: ['vpn'],
      peers: [example('site-to-site', 'peer-swanctl.conf', { PSK: psk })],
    });
  });

  afterAll(() => sc?.close());

  it('hw_offload = yes: charon cannot offload to wan0 and the CHILD_SA fails; nothing is installed', async () => {
    charon = await sc.charon('offload', { PSK: psk });
    await expect(charon.established('vpn_net')).rejects.toThrow(/unable to install [^\n]*IPsec SA/);
    expect(await esp(sc.nl, 7)).toEqual([]);
  });

  it('hw_offload = auto: the same SAs in software, traffic flows; status shows neither offload nor a hint', async () => {
    charon.forgetFailures();
    const n = charon.count('vpn_net');
    charon.setSwanctl(example('offload', 'swanctl.conf', { PSK: psk }).replace('hw_offload = yes', 'hw_offload = auto'));
    charon.swanctl('--terminate', '--ike', 'vpn');
    charon.swanctl('--load-all', '--noprompt');
    await charon.established('vpn_net', n + 1);
    expect((await esp(sc.nl, 7)).map((s) => s.offload)).toEqual([undefined, undefined]);
    const r = pingFrom(sc.net.lan!, '10.20.0.1', { count: 2 });
    expect(r.ok, r.stdout + r.stderr).toBe(true);
    const st = (await sc.stack.xfrmdStatus('vpn')) as unknown as Status;
    expect(st.offload).toEqual({ mode: 'off', esp_hw_offload: false, esp_tx_csum_hw_offload: false });
    expect(st.sas.map((s) => s.offload)).toEqual([undefined, undefined]);
    expect(st.hints).toEqual([]);
  });
});
