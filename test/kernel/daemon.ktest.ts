// The daemon on a real kernel: startDaemon() with our netlink Kernel opened in a fresh namespace,
// the test broker and the fake netifd in this process (test/support). Then the built daemon as a
// child process, SIGKILLed and started again (adoption and cleanup after a crash).
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { silentLogger } from '../../src/log.ts';
import { startDaemon, type Daemon } from '../../src/daemon/daemon.ts';
import { Netlink } from '../../src/netlink/index.ts';
import { NetlinkKernel } from '../../src/netlink/kernel.ts';
import type { Kernel } from '../../src/reconcile/kernel.ts';
import type { FakeIface } from '../support/fake-netifd.ts';
import { Netns } from './lib.ts';
import { addrsOf, ifIdOf, linkOf, ourObjects, snapshot, startBus, until, type Bus } from './support-xfrmd.ts';

const repo = resolve(import.meta.dirname, '../..');

// Everything a test opened, closed in afterEach whatever happened.
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) {
    try {
      await c();
    } catch {
      // keep cleaning
    }
  }
});

function netns(): Netns {
  const ns = new Netns('xk-dmn');
  cleanups.push(() => ns.destroy());
  return ns;
}

async function bus(): Promise<Bus> {
  const b = await startBus();
  cleanups.push(() => b.close());
  return b;
}

function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'xfrmd-kstate-'));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** The daemon in this process, on a Kernel opened in `ns` (optionally wrapped). */
async function daemonIn(ns: Netns, b: Bus, o: { wrap?: (k: NetlinkKernel) => Kernel; retryMs?: number; realProbe?: boolean } = {}): Promise<Daemon> {
  const kernel = new NetlinkKernel(Netlink.open({ netns: ns.name }));
  cleanups.push(() => kernel.close());
  const caps = o.realProbe ? undefined : { kernel: process.env.XFRMD_GUEST_KERNEL_RELEASE ?? '6.1', xfrmInterface: true, collectMetadata: true, packetOffloadApi: false };
  const d = await startDaemon({
    socketPath: b.broker.socketPath,
    kernel: o.wrap ? o.wrap(kernel) : kernel,
    stateDir: stateDir(),
    log: silentLogger,
    retryMs: o.retryMs ?? 600_000,
    ...(caps ? { probe: () => Promise.resolve(caps) } : {}),
  });
  cleanups.push(() => d.close());
  await d.ready;
  return d;
}

const upAll = (...ifs: FakeIface[]) => until(() => ifs.every((f) => f.state === 'up'), `${ifs.map((f) => f.name).join(', ')} up`);
const downAll = (...ifs: FakeIface[]) => until(() => ifs.every((f) => f.state === 'down'), `${ifs.map((f) => f.name).join(', ')} down`);
const failed = (f: FakeIface) => until(() => f.errors.length > 0 && f.state === 'down', `${f.name} failed`);

describe('xfrmd daemon on a real kernel (in-process, fake netifd)', () => {
  it('sets up xfrm devices with a tunlink parent, a device parent and none; follows the tunlink to a new device; tears down to nothing', async () => {
    const ns = netns();
    ns.batch(['link add d0 type dummy', 'link add d1 type dummy', 'link add d2 type dummy', 'link set d0 up', 'link set d1 up', 'link set d2 up']);
    const b = await bus();
    const n = b.netifd;
    n.addInterface('wan', 'static', {}, { device: 'd0' });
    const v0 = n.addInterface('vpn0', 'xfrm', { ifid: '5', tunlink: 'wan', ipaddr: ['10.9.0.2/32'], route: ['10.20.0.0/16'], zone: 'vpn' });
    const v1 = n.addInterface('vpn1', 'xfrm', { ifid: '0x6', ipaddr: ['10.9.1.2/24'], ip6addr: ['fd09:1::2/64'], mtu: '1400' });
    const v2 = n.addInterface('vpn2', 'xfrm', { ifid: '7', parent_device: 'd1', ipaddr: ['10.9.2.2/32'], exempt_mark: '0x6', route: ['10.40.0.0/16'] });
    await n.start();
    const d = await daemonIn(ns, b, { realProbe: true });
    expect(d.manager.capabilities).toMatchObject({ xfrmInterface: true, collectMetadata: true });
    await n.setStaticUp('wan', 'd0');
    await n.ifup('vpn0');
    await n.ifup('vpn1');
    await n.ifup('vpn2');
    await upAll(v0, v1, v2);

    const s = snapshot(ns);
    const [l0, l1, l2] = [linkOf(s, 'vpn0'), linkOf(s, 'vpn1'), linkOf(s, 'vpn2')];
    for (const [l, id] of [[l0, 5], [l1, 6], [l2, 7]] as const) {
      expect(l?.linkinfo?.info_kind).toBe('xfrm');
      expect(ifIdOf(l)).toBe(id);
      expect(l?.flags).toContain('UP');
    }
    expect(l0?.link).toBe('d0');
    expect(l1?.link ?? null).toBeNull();
    expect(l2?.link).toBe('d1');
    expect([l0?.mtu, l1?.mtu, l2?.mtu]).toEqual([1280, 1400, 1280]);
    expect(addrsOf(s, 'vpn0')).toEqual(['10.9.0.2/32']);
    expect(addrsOf(s, 'vpn1').sort()).toEqual(['10.9.1.2/24', 'fd09:1::2/64']);
    // vpn0: its route in main; vpn2 (exempt_mark): table 10007 and the two rules, all tagged 88
    const mine = ourObjects(s);
    expect(mine.routes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ dst: '10.20.0.0/16', dev: 'vpn0', prefsrc: '10.9.0.2' }),
        expect.objectContaining({ dst: '10.40.0.0/16', dev: 'vpn2', table: '10007' }),
      ]),
    );
    expect(mine.rules.map((r) => `${r.priority} ${r.fwmark ?? `${r.dst}/${r.dstlen}`} ${r.table}`).sort()).toEqual(['100 10.40.0.0/16 10007', '99 0x6 main']);

    // what netifd was told (parsed with netifd's own policy by the fake)
    const up0 = v0.notifications.find((x) => x.action === 0);
    expect(up0?.fields).toMatchObject({ action: 0, 'link-up': true, ifname: 'vpn0', ipaddr: [{ ipaddr: '10.9.0.2', mask: '32' }] });
    expect(v0.data).toMatchObject({ ifid: 5, zone: 'vpn', parent: 'd0', tunlink: 'wan' });
    expect(v1.ip6addr).toEqual([{ ipaddr: 'fd09:1::2', mask: '64' }]);
    expect(v1.data.parent).toBeUndefined();
    expect(v2.data).toMatchObject({ ifid: 7, parent: 'd1' });
    const [st] = await b.client.call('xfrmd', 'status', { interface: 'vpn0' });
    expect(st).toMatchObject({ phase: 'up', device: 'vpn0', ifindex: l0?.ifindex, ifid: 5, parent: { interface: 'wan', device: 'd0', ifindex: linkOf(s, 'd0')?.ifindex } });

    // PPPoE-style reconnect: wan's L3 device is now d2 → vpn0 recreated on d2, its route back
    await n.setStaticUp('wan', 'd2');
    await until(() => d.manager.status('vpn0')[0]?.ifindex !== l0?.ifindex && v0.data.parent === 'd2' && v0.state === 'up', 'vpn0 recreated on d2');
    const s2 = snapshot(ns);
    const n0 = linkOf(s2, 'vpn0');
    expect(n0?.ifindex).not.toBe(l0?.ifindex);
    expect(n0?.link).toBe('d2');
    expect(ifIdOf(n0)).toBe(5);
    expect(n0?.flags).toContain('UP');
    expect(addrsOf(s2, 'vpn0')).toEqual(['10.9.0.2/32']);
    expect(ourObjects(s2).routes).toEqual(expect.arrayContaining([expect.objectContaining({ dst: '10.20.0.0/16', dev: 'vpn0' })]));
    // the others did not move
    expect(linkOf(s2, 'vpn1')?.ifindex).toBe(l1?.ifindex);
    expect(linkOf(s2, 'vpn2')?.ifindex).toBe(l2?.ifindex);

    await n.ifdown('vpn0');
    await n.ifdown('vpn1');
    await n.ifdown('vpn2');
    await downAll(v0, v1, v2);
    const s3 = snapshot(ns);
    expect(ourObjects(s3)).toEqual({ xfrm: [], rules: [], routes: [] });
    expect(s3.links.map((l) => l.ifname).sort()).toEqual(['d0', 'd1', 'd2', 'lo']);
  });

  it('adopts a matching device and leaves it at teardown; refuses a foreign one with our name (DEVICE_EXISTS) and a taken if_id (DUPLICATE_IFID) without touching anything', async () => {
    const ns = netns();
    ns.batch([
      'link add d0 type dummy',
      'link set d0 up',
      'link add vpn0 type xfrm dev d0 if_id 5',
      'link add vpn1 type xfrm if_id 16',
      'link add other type xfrm if_id 9',
      'rule add priority 500 fwmark 0x99 lookup 77',
      'route add 10.77.0.0/16 dev d0 table 77',
    ]);
    const before = snapshot(ns);
    const b = await bus();
    const n = b.netifd;
    const v0 = n.addInterface('vpn0', 'xfrm', { ifid: '5', parent_device: 'd0', ipaddr: ['10.9.0.2/32'], route: ['10.20.0.0/16'] });
    const v1 = n.addInterface('vpn1', 'xfrm', { ifid: '8', ipaddr: ['10.9.1.2/32'] });
    const v2 = n.addInterface('vpn2', 'xfrm', { ifid: '9', ipaddr: ['10.9.2.2/32'], exempt_mark: '0x6', full_tunnel: '1' });
    await n.start();
    await daemonIn(ns, b);

    await n.ifup('vpn1');
    await n.ifup('vpn2');
    await failed(v1);
    await failed(v2);
    expect(v1.errors[0]?.code).toBe('DEVICE_EXISTS');
    expect(v2.errors[0]?.code).toBe('DUPLICATE_IFID');
    expect(v2.errors[0]?.data.join(' ')).toContain('other');
    expect(v1.autostart).toBe(false); // blocked: a retry cannot help
    expect(v2.autostart).toBe(false);
    // nothing at all changed in the namespace
    expect(snapshot(ns).raw).toBe(before.raw);

    await n.ifup('vpn0');
    await upAll(v0);
    const s = snapshot(ns);
    expect(linkOf(s, 'vpn0')?.ifindex).toBe(linkOf(before, 'vpn0')?.ifindex);
    expect(linkOf(s, 'vpn0')?.flags).toContain('UP');
    expect(addrsOf(s, 'vpn0')).toEqual(['10.9.0.2/32']);
    expect(ourObjects(s).routes.map((r) => `${r.dst} ${r.dev}`)).toEqual(['10.20.0.0/16 vpn0']);

    await n.ifdown('vpn0');
    await downAll(v0);
    const after = snapshot(ns);
    // the adopted device stays (same ifindex), without what we added to it
    expect(linkOf(after, 'vpn0')?.ifindex).toBe(linkOf(before, 'vpn0')?.ifindex);
    expect(addrsOf(after, 'vpn0')).toEqual([]);
    expect(ourObjects(after).rules).toEqual([]);
    expect(ourObjects(after).routes).toEqual([]);
    for (const name of ['vpn1', 'other', 'd0', 'lo']) expect(linkOf(after, name)).toEqual(linkOf(before, name));
    expect(JSON.stringify([after.rules, after.rules6])).toBe(JSON.stringify([before.rules, before.rules6]));
    expect(JSON.stringify([after.routes, after.routes6].map((t) => t.filter((r) => r.dev !== 'vpn0')))).toBe(
      JSON.stringify([before.routes, before.routes6].map((t) => t.filter((r) => r.dev !== 'vpn0'))),
    );
  });

  it('a failure halfway (2nd rule refused) rolls everything back: links, addresses, rules and routes exactly as before', async () => {
    const ns = netns();
    ns.batch(['link add d0 type dummy', 'link set d0 up', 'rule add priority 500 fwmark 0x99 lookup 77', 'route add 10.77.0.0/16 dev d0 table 77']);
    const before = snapshot(ns);
    const b = await bus();
    const n = b.netifd;
    const v0 = n.addInterface('vpn0', 'xfrm', {
      ifid: '5',
      device: 'd0',
      ipaddr: ['10.9.0.2/32'],
      ip6addr: ['fd09::2/128'],
      route: ['10.20.0.0/16'],
      full_tunnel: '1',
      exempt_mark: '0x6',
    });
    await n.start();
    let rules = 0;
    const injected = Object.assign(new Error('injected: rule refused'), { code: 'EIO' });
    await daemonIn(ns, b, {
      wrap: (k) => {
        const w = Object.create(k) as NetlinkKernel;
        w.addRule = (r) => (++rules === 2 ? Promise.reject(injected) : k.addRule(r));
        return w;
      },
    });
    await n.ifup('vpn0');
    await failed(v0);
    expect(rules).toBe(2);
    expect(v0.errors[0]).toMatchObject({ code: 'KERNEL_ERROR' });
    expect(v0.errors[0]?.data.join(' ')).toContain('injected');
    const after = snapshot(ns);
    expect(after.links.map((l) => l.ifname)).toEqual(before.links.map((l) => l.ifname));
    expect(after.raw).toBe(before.raw);
  });
});

/** The daemon as shipped, run as its own process inside the namespace. */
async function daemonScript(): Promise<string> {
  const dist = join(repo, 'dist/xfrmd.mjs');
  if (existsSync(dist)) return dist;
  // No bundle (npm run build not run): bundle the `run` command alone, as scripts/bundle.ts does,
  // inside the checkout so that the external `netlink` package resolves from node_modules.
  const { build } = await import('esbuild');
  mkdirSync(join(repo, '.cache'), { recursive: true });
  const dir = mkdtempSync(join(repo, '.cache', 'kernel-daemon-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const outfile = join(dir, 'xfrmd.mjs');
  await build({
    stdin: {
      contents: "import { main } from './src/cli/run.ts';\nmain(process.argv.slice(3)).then((c) => process.exit(c), (e) => { console.error(e); process.exit(1); });\n",
      resolveDir: repo,
      sourcefile: 'xfrmd-run-entry.ts',
      loader: 'ts',
    },
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'warning',
  });
  return outfile;
}

interface Child {
  proc: ChildProcess;
  exited: Promise<number | null>;
  log: () => string;
}

function spawnDaemon(ns: Netns, script: string, sock: string, state: string, logFile: string): Child {
  const fd = openSync(logFile, 'a');
  const proc = spawn('ip', ['netns', 'exec', ns.name, process.execPath, script, 'run', '-s', sock, '--state-dir', state], {
    stdio: ['ignore', fd, fd],
    env: { ...process.env, XFRMD_LOG_LEVEL: 'info', XFRMD_NETLINK_ADDON: join(repo, 'native/build/Release/xfrmd_netlink.node') },
  });
  closeSync(fd);
  const exited = new Promise<number | null>((r) => proc.once('exit', (code, sig) => r(sig ? -1 : code)));
  cleanups.push(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    return exited;
  });
  return { proc, exited, log: () => readFileSync(logFile, 'utf8') };
}

const count = (text: string, s: string) => text.split(s).length - 1;

describe('xfrmd daemon process: crash and restart', () => {
  it('after kill -9: adopts what netifd still has up (same ifindex, lost route put back), removes what it no longer has; recreates a device deleted by hand; tears down to nothing', async () => {
    const ns = netns();
    ns.batch(['link add d0 type dummy', 'link set d0 up']);
    const script = await daemonScript();
    const b = await bus();
    const n = b.netifd;
    const v0 = n.addInterface('vpn0', 'xfrm', { ifid: '5', parent_device: 'd0', ipaddr: ['10.9.0.2/32'], route: ['10.20.0.0/16'] });
    const v1 = n.addInterface('vpn1', 'xfrm', { ifid: '6', ipaddr: ['10.9.1.2/32'], exempt_mark: '0x6', route: ['10.30.0.0/16'] });
    await n.start();
    const state = stateDir();
    const logFile = join(state, 'daemon.log');
    const first = spawnDaemon(ns, script, b.broker.socketPath, state, logFile);
    await until(() => count(first.log(), 'resync done') >= 1 || first.proc.exitCode !== null, 'daemon ready', 120_000);
    expect(first.proc.exitCode, first.log()).toBeNull();
    await n.ifup('vpn0');
    await n.ifup('vpn1');
    await upAll(v0, v1);
    const s = snapshot(ns);
    const index = linkOf(s, 'vpn0')?.ifindex;
    expect(linkOf(s, 'vpn1')?.linkinfo?.info_kind).toBe('xfrm');
    expect(ourObjects(s).rules.length).toBe(2);
    expect(ourObjects(s).routes.map((r) => r.dst).sort()).toEqual(['10.20.0.0/16', '10.30.0.0/16']);

    first.proc.kill('SIGKILL');
    expect(await first.exited).toBe(-1);
    // While it is away netifd forgets vpn1 (section deleted, network reloaded), and someone deletes
    // vpn0's route by hand: the restart must put it back (its state file still lists it).
    n.ifaces.delete('vpn1');
    ns.ip('route', 'del', '10.20.0.0/16', 'dev', 'vpn0');

    const second = spawnDaemon(ns, script, b.broker.socketPath, state, logFile);
    await until(() => count(second.log(), 'resync done') >= 2 || second.proc.exitCode !== null, 'daemon resynced', 120_000);
    expect(second.proc.exitCode, second.log()).toBeNull();
    const s2 = snapshot(ns);
    expect(linkOf(s2, 'vpn0')?.ifindex).toBe(index);
    expect(linkOf(s2, 'vpn0')?.flags).toContain('UP');
    expect(addrsOf(s2, 'vpn0')).toEqual(['10.9.0.2/32']);
    expect(linkOf(s2, 'vpn1')).toBeUndefined();
    const left = ourObjects(s2);
    expect(left.xfrm).toEqual(['vpn0']);
    expect(left.rules).toEqual([]);
    expect(left.routes.map((r) => `${r.dst} ${r.dev}`)).toEqual(['10.20.0.0/16 vpn0']);
    expect(v0.state).toBe('up');

    // Someone deletes the device by hand: the daemon (kernel link events) recreates it, whole.
    ns.ip('link', 'del', 'vpn0');
    await until(() => {
      const r = ns.tryIp('-j', 'link', 'show', 'dev', 'vpn0');
      const l = r.code === 0 ? (JSON.parse(r.stdout) as Array<{ ifindex: number; flags: string[] }>)[0] : undefined;
      return l !== undefined && l.ifindex !== index && l.flags.includes('UP');
    }, 'vpn0 recreated after ip link del');
    await until(() => v0.state === 'up', 'vpn0 up again in netifd');
    const s3 = snapshot(ns);
    expect(addrsOf(s3, 'vpn0')).toEqual(['10.9.0.2/32']);
    expect(ourObjects(s3).routes.map((r) => `${r.dst} ${r.dev}`)).toEqual(['10.20.0.0/16 vpn0']);

    await n.ifdown('vpn0');
    await downAll(v0);
    expect(ourObjects(snapshot(ns))).toEqual({ xfrm: [], rules: [], routes: [] });
    second.proc.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });
});
