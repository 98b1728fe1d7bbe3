// libreswan 4.10 (Debian's, unpacked by setup-ike.sh) on the router with `ipsec-interface=2` over
// the device xfrmd made for the section `ipsec2`, the other end a plain strongSwan responder:
// the README's ipsec.conf (examples/ike/libreswan/) keeps _updown away from xfrmd's routes; without
// that advice _updown replaces the route when the tunnel comes up and deletes it on `ipsec stop`,
// and xfrmd takes it back / puts it back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { esp, example, linkStats, newPsk, pingFrom, Pluto, Scenario, SITE, sum } from './ike.ts';
import { kernelState, ours, type KernelState } from './kernel-state.ts';
import { until, WAN } from './netifd-stack.ts';

const ROUTER = '192.0.2.1';
const IFID = 2;

interface Status {
  phase: string;
  error?: { code: string };
  routes: Array<{ route: string; present: boolean; replaced_by?: number }>;
  sas: Array<{ spi: string; dir?: string; src: string; dst: string; output_mark?: string }>;
  hints: Array<{ code: string; message: string }>;
}

describe('libreswan with ipsec-interface=2 on the device xfrmd made (ipsec2)', () => {
  const psk = newPsk();
  let sc: Scenario;
  let pluto: Pluto;
  let before: KernelState;
  const status = async () => (await sc.stack.xfrmdStatus('ipsec2')) as unknown as Status;

  beforeAll(async () => {
    sc = await Scenario.start({
      name: 'lsw',
      label: 'libreswan, site to site',
      net: SITE,
      network: example('libreswan', 'network'),
      up: ['ipsec2'],
      // the strongSwan gateway of the site-to-site scenario: its child takes either family
      peers: [example('site-to-site', 'peer-swanctl.conf', { PSK: psk })],
    });
    before = await kernelState(sc.nl);
  });

  afterAll(() => sc?.close());

  it("pluto takes xfrmd's ipsec2 as it is (same ifindex, nothing added or removed); both families come up with if_id 2 and output mark 2", async () => {
    pluto = sc.own(await Pluto.start({ ns: sc.net.router, name: 'lsw-router', conf: example('libreswan', 'ipsec.conf'), secrets: example('libreswan', 'ipsec.secrets', { PSK: psk }) }));
    await pluto.established('site-v4');
    await pluto.established('site-v6');
    const now = await kernelState(sc.nl);
    expect(ours(now)).toEqual(ours(before));
    expect(now.ifindex.get('ipsec2')).toBe(before.ifindex.get('ipsec2'));
    expect(pluto.logText()).not.toMatch(/device name conflict|ipsec-interface=\d+ not supported/);
    const sas = await esp(sc.nl, IFID);
    expect(sas.length).toBe(4);
    for (const s of sas) expect(s.setMark, `${s.src}>${s.dst}`).toEqual({ value: IFID, mask: 0xffffffff });
    const st = await status();
    expect(st.phase).toBe('up');
    expect(st.sas.map((s) => `${s.dir} ${s.src}>${s.dst} ${s.output_mark}`).sort()).toEqual([
      `in 203.0.113.2>${ROUTER} 0x2/0xffffffff`,
      `in 203.0.113.2>${ROUTER} 0x2/0xffffffff`,
      `out ${ROUTER}>203.0.113.2 0x2/0xffffffff`,
      `out ${ROUTER}>203.0.113.2 0x2/0xffffffff`,
    ]);
    expect(st.hints).toEqual([]);
    expect(st.routes.every((r) => r.present)).toBe(true);
  });

  it('ping from the LAN host in both families; counters rise; no routing loop', async () => {
    const b = await esp(sc.nl, IFID);
    const v4 = pingFrom(sc.net.lan!, '10.20.0.1', { count: 2 });
    const v6 = pingFrom(sc.net.lan!, 'fd00:20::1', { count: 2 });
    expect(v4.ok, v4.stdout + v4.stderr).toBe(true);
    expect(v6.ok, v6.stdout + v6.stderr).toBe(true);
    const a = await esp(sc.nl, IFID);
    const o = (l: typeof a) => sum(l, (s) => s.src === ROUTER).packets;
    expect(o(a) - o(b)).toBe(4);
    expect(linkStats(sc.net.router, 'ipsec2').collisions).toBe(0);
    expect(sc.newLoops()).toBe(0);
  });

  it("`ipsec stop` and a new start leave the device (same ifindex) and xfrmd's routes as they were (leftupdown=%disabled)", async () => {
    await pluto.shutdown();
    expect(pluto.logText()).toMatch(/not created by pluto|cannot delete/);
    let now = await kernelState(sc.nl);
    expect(ours(now)).toEqual(ours(before));
    expect(now.ifindex.get('ipsec2')).toBe(before.ifindex.get('ipsec2'));
    await pluto.start();
    await pluto.established('site-v4', 2);
    now = await kernelState(sc.nl);
    expect(ours(now)).toEqual(ours(before));
    expect(pingFrom(sc.net.lan!, '10.20.0.1', { count: 1 }).ok).toBe(true);
  });

  it("without leftupdown=%disabled: _updown replaces xfrmd's route when the tunnel comes up and xfrmd takes it back; `ipsec stop` deletes it and xfrmd puts it back; no ROUTE_EXISTS on ifup", async () => {
    await pluto.shutdown();
    pluto.setConf(example('libreswan', 'ipsec.conf').replace(/^\s*leftupdown=.*$/m, ''));
    await pluto.start();
    await pluto.established('site-v4', 3);
    await pluto.established('site-v6', 3);
    // _updown ran `ip route replace 10.20.0.0/24 dev ipsec2`: the route is xfrmd's again afterwards
    await until(async () => ours(await kernelState(sc.nl)).join('\n') === ours(before).join('\n'), "xfrmd's routes as before", 30_000, 200);
    expect(sc.stack.daemonLog()).toMatch(/took over the equivalent route 10\.20\.0\.0\/24/);
    // and _updown's IPv6 route handling runs `ip -4 route` (libreswan 4.10)
    expect(pluto.logText()).toMatch(/doroute "ip -4 route replace fd00:20::\/64 [^"]*" failed \(Error: inet prefix is expected/);
    const st = await status();
    expect(st.phase).toBe('up');
    expect(st.routes.every((r) => r.present)).toBe(true);
    expect(pingFrom(sc.net.lan!, '10.20.0.1', { count: 1 }).ok).toBe(true);
    // a new setup of the section (as after a config change) is not refused
    await sc.stack.ifup('ipsec2');
    await sc.stack.waitUp(['ipsec2']);
    expect((await sc.stack.dump()).get('ipsec2')?.errors ?? []).toEqual([]);
    // `ipsec stop`: _updown deletes the route through ipsec2 (ours); it is put back
    await pluto.shutdown();
    await until(async () => ours(await kernelState(sc.nl)).join('\n') === ours(before).join('\n'), "xfrmd's routes back after ipsec stop", 30_000, 200);
    expect((await kernelState(sc.nl)).ifindex.get('ipsec2')).toBe(before.ifindex.get('ipsec2'));
  });

  it("ifdown removes everything of xfrmd's while pluto keeps running; ifup makes the device again and traffic flows", async () => {
    pluto.setConf(example('libreswan', 'ipsec.conf'));
    await pluto.start();
    await pluto.established('site-v4', 4);
    await sc.stack.ifdown('ipsec2');
    await sc.stack.waitDown(['ipsec2']);
    await until(async () => ours(await kernelState(sc.nl)).length === 0, 'nothing of xfrmd left', 60_000, 200);
    expect(pluto.running).toBe(true);
    await sc.stack.ifup('ipsec2');
    await sc.stack.waitUp(['ipsec2']);
    await until(async () => ours(await kernelState(sc.nl)).length === ours(before).length, "xfrmd's objects back", 60_000, 200);
    const v4 = pingFrom(sc.net.lan!, '10.20.0.1', { count: 2 });
    expect(v4.ok, v4.stdout + v4.stderr).toBe(true);
    expect(sc.newLoops()).toBe(0);
  });

  it("the ipsec1 trap of libreswan up to 5.0, seen: with a section ipsec1, pluto cannot use ipsec2 either (status: LIBRESWAN_IPSEC1) and `ipsec stop` deletes ipsec1; xfrmd makes it again", async () => {
    await pluto.shutdown();
    const ipsec1 = "\nconfig interface 'ipsec1'\n\toption proto 'xfrm'\n\toption ifid '1'\n\toption tunlink 'wan'\n";
    sc.stack.writeNetwork(WAN + example('libreswan', 'network') + ipsec1);
    await sc.stack.reload();
    await sc.stack.waitUp(['ipsec1', 'ipsec2']);
    const idx = (await kernelState(sc.nl)).ifindex.get('ipsec1');
    const st = (await sc.stack.xfrmdStatus('ipsec1')) as unknown as Status;
    expect(st.hints.map((h) => h.code)).toEqual(['LIBRESWAN_IPSEC1']);
    const from = pluto.logText().length;
    await pluto.start();
    await until(() => /failed to add connection: ipsec-interface=2 not supported/.test(pluto.logText().slice(from)), 'pluto refusing the connections', 20_000, 100);
    expect(pluto.logText().slice(from)).toMatch(/conflict ipsec1 already exist/);
    await pluto.shutdown();
    await until(async () => {
      const i = (await kernelState(sc.nl)).ifindex.get('ipsec1');
      return i !== undefined && i !== idx;
    }, 'ipsec1 made again by xfrmd', 30_000, 200);
    expect(sc.stack.daemonLog()).toMatch(/"iface":"ipsec1"[^\n]*device removed by someone else/);
    expect((await sc.stack.dump()).get('ipsec1')?.up).toBe(true);
  });

  it("the name trap, seen: if_id 2 on a section named lsw2 makes pluto create ipsec2 itself, which the kernel refuses (one device per if_id); the child fails, no SA is left, xfrmd's device stays as it was", async () => {
    const renamed = example('libreswan', 'network').replaceAll("'ipsec2'", "'lsw2'");
    sc.stack.writeNetwork(WAN + renamed);
    await sc.stack.reload();
    await sc.stack.waitUp(['lsw2']);
    const idx = (await kernelState(sc.nl)).ifindex.get('lsw2');
    const from = pluto.logText().length;
    await pluto.start();
    await until(() => /ip_kink_add_xfrmi\(\) dev ipsec2: File exists/.test(pluto.logText().slice(from)), 'pluto failing to make ipsec2', 45_000, 200);
    await pluto.shutdown();
    expect(pluto.logText().slice(from)).not.toMatch(/CHILD_SA[^\n]*established|IPsec SA established/);
    expect(await esp(sc.nl, IFID)).toEqual([]);
    const now = await kernelState(sc.nl);
    expect(now.ifindex.get('lsw2')).toBe(idx);
    expect(now.ifindex.has('ipsec2')).toBe(false);
    expect(((await sc.stack.xfrmdStatus('lsw2')) as unknown as Status).phase).toBe('up');
  });
});
