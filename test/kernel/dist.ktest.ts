// The release tarball on a kernel with XFRM interfaces: unpacked into an empty directory, the
// addon compiled from it (native/Makefile, as the OpenWrt package does), the daemon started
// from there with nothing but `node` under OpenWrt's real ubusd, and `xfrmd apply` / `down`
// of a UCI file with one xfrm section in a fresh namespace. The tarball is `make dist`'s
// (make test-kernel makes it first); what needs no XFRM interfaces is on the host, test/dist/.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildAddon, bareEnv, installAddon, nodeModulesAbove, packageVersion, REPO, startDaemonFrom, Ubusd, unpack, until, type Proc } from '../dist/support.ts';
import { Netns, run, type RunResult } from './lib.ts';
import { ifIdOf, type JLink } from './support-xfrmd.ts';

const tarball = join(REPO, 'dist', `xfrmd-${packageVersion()}.tar.gz`);
// /tmp is the guest's own tmpfs: ubusd's socket cannot live on the 9p share
const dir = mkdtempSync(join(tmpdir(), 'xfrmd-kdist-'));
const cleanups: Array<() => unknown> = [];

afterAll(async () => {
  for (const c of cleanups.reverse()) {
    try {
      await c();
    } catch {
      // keep cleaning
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

/** `node xfrmd.cjs <args…>` from the unpacked tree, inside `ns`. */
function xfrmd(root: string, ns: Netns, ...args: string[]): RunResult {
  const env = Object.entries(bareEnv()).map(([k, v]) => `${k}=${v}`);
  return run('ip', ['netns', 'exec', ns.name, 'env', '-i', ...env, process.execPath, join(root, 'xfrmd.cjs'), ...args]);
}

describe('release tarball on a real kernel', () => {
  let root = '';
  let bus: Ubusd;
  let daemon: Proc;

  it('unpacks into an empty directory and its addon builds there with the C compiler alone', () => {
    expect(existsSync(tarball), `${tarball} missing: run make dist`).toBe(true);
    root = unpack(tarball, dir);
    expect(nodeModulesAbove(root)).toEqual([]);
    const r = buildAddon(join(root, 'native'));
    expect(r.code, r.stderr).toBe(0);
    installAddon(root, r.path);
  });

  it('the daemon from there registers xfrmd under the real ubusd and finds XFRM interfaces', async () => {
    bus = await Ubusd.start(dir);
    cleanups.push(() => bus.stop());
    const ns = new Netns('xk-dist-d');
    cleanups.push(() => ns.destroy());
    daemon = startDaemonFrom(root, bus, ns.name, join(dir, 'daemon-state'));
    cleanups.push(() => daemon.stop());
    await until(() => bus.objects().includes('xfrmd') || daemon.proc.exitCode !== null, 'xfrmd on ubus', 120_000);
    expect(daemon.proc.exitCode, daemon.log()).toBeNull();
    const st = bus.ubus('call', 'xfrmd', 'status');
    expect(st.code, st.stderr).toBe(0);
    expect(JSON.parse(st.stdout)).toMatchObject({ capabilities: { xfrmInterface: true }, interfaces: [] });
    expect(await daemon.stop(), daemon.log()).toBe(0);
  });

  it('xfrmd apply creates the section\'s device with its if_id, address and route; xfrmd down removes it', () => {
    const ns = new Netns('xk-dist-a');
    cleanups.push(() => ns.destroy());
    const state = join(dir, 'apply-state');
    const network = join(dir, 'network');
    writeFileSync(network, ["config interface 'vpn0'", "\toption proto 'xfrm'", "\toption ifid '0x2a'", "\tlist ipaddr '10.9.0.2/32'", "\tlist route '10.20.0.0/16'", ''].join('\n'));

    const up = xfrmd(root, ns, 'apply', '--state-dir', state, network);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toBe('vpn0: up\n');
    const [link] = JSON.parse(ns.ip('-d', '-j', 'link', 'show', 'dev', 'vpn0')) as JLink[];
    expect(link?.linkinfo?.info_kind).toBe('xfrm');
    expect(ifIdOf(link)).toBe(42);
    expect(link?.flags).toContain('UP');
    expect(ns.ip('-4', '-o', 'addr', 'show', 'dev', 'vpn0')).toContain('inet 10.9.0.2/32');
    expect(ns.ip('route', 'show', '10.20.0.0/16')).toMatch(/^10\.20\.0\.0\/16 dev vpn0 proto 88 scope link src 10\.9\.0\.2/);

    const down = xfrmd(root, ns, 'down', '--state-dir', state);
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toBe('vpn0: removed\n');
    expect(ns.tryIp('link', 'show', 'dev', 'vpn0').code).not.toBe(0);
    expect(ns.ip('route', 'show', 'proto', '88')).toBe('');
  });
});
