// The release tarball (`make dist`, scripts/dist.ts) and the OpenWrt package built from it:
// reproducible; the addon compiles without a warning for the routers' architectures from the
// tarball alone; openwrt/xfrmd/Makefile installs exactly what the tarball ships; the daemon
// starts from the unpacked tarball with nothing but `node` and registers under OpenWrt's real
// ubusd. Applying a section needs XFRM interfaces: test/kernel/dist.ktest.ts, in the guest.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { makeDist, OPENWRT_MAKEFILE, type DistResult } from '../../scripts/dist.ts';
import { makeNetns, removeNetns } from '../netlink/netns.ts';
import { buildAddon, installAddon, nodeModulesAbove, packageVersion, REPO, run, sh, startDaemonFrom, Ubusd, unpack, until, type RunResult } from './support.ts';

let tmp: string;
let dist: DistResult;
/** the unpacked tarball */
let root: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'xfrmd-disttest-'));
  dist = await makeDist(join(tmp, 'out'));
  mkdirSync(join(tmp, 'unpacked'));
  root = unpack(dist.tarball, join(tmp, 'unpacked'));
}, 120_000);

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Every regular file in a tree, relative, sorted. */
function filesIn(dir: string): string[] {
  return sh('find', [dir, '-type', 'f'])
    .split('\n')
    .filter(Boolean)
    .map((f) => relative(dir, f))
    .sort();
}

describe('release tarball', () => {
  it('is the same bytes when made again under another umask and time zone; gzip -n, owner 0/0, one mtime', () => {
    const again = join(tmp, 'again');
    // a child process, so the umask (files copied 0600/0700) and TZ really differ
    sh('sh', ['-c', `umask 077 && exec "${process.execPath}" --import tsx scripts/dist.ts --out "${again}"`], {
      cwd: REPO,
      env: { ...process.env, TZ: 'Pacific/Kiritimati' },
    });
    const a = readFileSync(dist.tarball);
    const b = readFileSync(join(again, `${dist.name}.tar.gz`));
    expect(b.equals(a)).toBe(true);
    // gzip header: no file name (FLG.FNAME) and MTIME 0
    expect(a[3]! & 0x08).toBe(0);
    expect(a.readUInt32LE(4)).toBe(0);
    const listing = sh('tar', ['-tvzf', dist.tarball, '--numeric-owner', '--full-time']).split('\n').filter(Boolean);
    const stamp = new Date(dist.epoch * 1000).toISOString().replace('T', ' ').slice(0, 19);
    for (const line of listing) {
      const [mode, owner, , date, time] = line.split(/\s+/);
      expect(owner, line).toBe('0/0');
      expect(`${date} ${time}`, line).toBe(stamp);
      expect(mode, line).toMatch(/^(d|-)r[w-][x-]r-[x-]r-[x-]$/);
    }
    const executables = listing.filter((l) => /^-rwxr-xr-x/.test(l)).map((l) => l.split(/\s+/).pop());
    expect(executables.sort()).toEqual([`${dist.name}/files/etc/init.d/xfrmd`, `${dist.name}/files/lib/netifd/proto/xfrm.sh`, `${dist.name}/xfrmd.cjs`]);
  }, 60_000);

  it('holds the bundle, the addon source with its headers, files/, LICENSE and VERSION', () => {
    expect(dist.name).toBe(`xfrmd-${packageVersion()}`);
    expect(readFileSync(join(root, 'VERSION'), 'utf8')).toBe(`${packageVersion()}\n`);
    expect(readFileSync(join(root, 'LICENSE'), 'utf8')).toContain('GNU GENERAL PUBLIC LICENSE\n                       Version 2, June 1991');
    expect(readFileSync(join(root, 'xfrmd.cjs'), 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
    expect(readFileSync(join(root, 'native/nlsock.c'))).toEqual(readFileSync(join(REPO, 'native/nlsock.c')));
    for (const f of filesIn(join(REPO, 'files'))) {
      expect(readFileSync(join(root, 'files', f)), f).toEqual(readFileSync(join(REPO, 'files', f)));
    }
    expect(filesIn(join(root, 'native/include'))).toEqual(
      ['LICENSE.node-api-headers', 'SOURCES', 'js_native_api.h', 'js_native_api_types.h', 'node_api.h', 'node_api_types.h', 'uv.h', 'uv/errno.h', 'uv/linux.h', 'uv/threadpool.h', 'uv/unix.h', 'uv/version.h'],
    );
    expect(readFileSync(join(root, 'native/include/SOURCES'), 'utf8')).toMatch(/node-api-headers \d+\.\d+\.\d+[\s\S]*libuv 1\.\d+\.\d+/);
  });
});

// The routers' architectures, each with Debian's cross compiler; -Werror: not one warning.
const targets = [
  { arch: 'aarch64', cc: 'aarch64-linux-gnu-gcc', cls: 'ELF64', machine: 'AArch64', libc: 'libc.so.6' },
  { arch: 'armhf', cc: 'arm-linux-gnueabihf-gcc', cls: 'ELF32', machine: 'ARM', libc: 'libc.so.6', flags: /hard-float ABI/ },
  { arch: 'mipsel', cc: 'mipsel-linux-gnu-gcc', cls: 'ELF32', machine: 'MIPS R3000', libc: 'libc.so.6' },
  { arch: 'x86_64-musl', cc: 'musl-gcc', cls: 'ELF64', machine: 'Advanced Micro Devices X86-64', libc: 'libc.so', musl: true },
];

/** Kernel uapi headers for musl-gcc, which sees only musl's own include directory (OpenWrt's sysroot has them). */
function muslUapi(): string {
  const dir = join(tmp, 'musl-uapi');
  mkdirSync(dir, { recursive: true });
  const multiarch = sh('gcc', ['-print-multiarch']).trim();
  for (const [name, target] of [['linux', '/usr/include/linux'], ['asm-generic', '/usr/include/asm-generic'], ['asm', `/usr/include/${multiarch}/asm`]] as const) {
    try {
      symlinkSync(target, join(dir, name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  return dir;
}

describe('the addon from the tarball alone (native/Makefile, as the OpenWrt package builds it)', () => {
  it.each(targets)('$arch: $cc -Werror, a Node-API shared object for $machine', (t) => {
    const dir = join(tmp, `native-${t.arch}`);
    cpSync(join(root, 'native'), dir, { recursive: true });
    const vars: Record<string, string> = { CC: t.cc, EXTRA_CFLAGS: '-Werror' };
    if (t.musl) vars.CPPFLAGS = `-isystem ${muslUapi()}`;
    const r = buildAddon(dir, vars);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/warning/i);
    const header = sh('readelf', ['-h', r.path]);
    expect(header).toMatch(new RegExp(`Class:\\s+${t.cls}\\n`));
    expect(header).toMatch(/Data:\s+2's complement, little endian/);
    expect(header).toMatch(/Type:\s+DYN/);
    expect(header).toMatch(new RegExp(`Machine:\\s+${t.machine}\\n`));
    if (t.flags) expect(header).toMatch(t.flags);
    const needed = [...sh('readelf', ['-d', r.path]).matchAll(/\(NEEDED\)\s+Shared library: \[(.+)\]/g)].map((m) => m[1]);
    expect(needed).toEqual([t.libc]);
    // Node finds the module through this symbol; napi_* and uv_* come from the node binary.
    const syms = sh('readelf', ['--dyn-syms', '-W', r.path]);
    expect(syms).toMatch(/GLOBAL\s+DEFAULT\s+\d+\s+napi_register_module_v1\n/);
    expect(syms).toMatch(/UND napi_create_external\n/);
    expect(syms).toMatch(/UND uv_poll_start\n/);
    console.log(`${t.arch}: ${statSync(r.path).size} bytes`);
  });
});

/** The body of `define <name>` … `endef` in the OpenWrt Makefile. */
function block(mk: string, name: string): string {
  const m = new RegExp(`^define ${name}\\n([\\s\\S]*?)^endef$`, 'm').exec(mk);
  if (!m) throw new Error(`no define ${name}`);
  return m[1]!;
}

/**
 * Runs the OpenWrt Makefile's own recipes with GNU make: Build/Compile in a copy of the unpacked
 * tarball (PKG_BUILD_DIR), then Package/<pkg>/install into <dest>/<pkg> for each package. The
 * buildroot is a stub holding what these recipes use, with OpenWrt's rules.mk definitions.
 */
function runPackageRecipes(packages: string[], targetCc: string): { dest: string; buildDir: string } & RunResult {
  const top = join(tmp, 'buildroot');
  mkdirSync(join(top, 'include'), { recursive: true });
  writeFileSync(
    join(top, 'rules.mk'),
    ['INCLUDE_DIR:=$(TOPDIR)/include', 'LN:=ln -sf', 'INSTALL_BIN:=install -m0755', 'INSTALL_DIR:=install -d -m0755', 'INSTALL_DATA:=install -m0644', 'INSTALL_CONF:=install -m0600', ''].join('\n'),
  );
  writeFileSync(join(top, 'include/package.mk'), 'define BuildPackage\nendef\n');
  writeFileSync(
    join(top, 'driver.mk'),
    [`include ${OPENWRT_MAKEFILE}`, 'compile:', '\t$(call Build/Compile)', 'install-%: compile', '\t$(call Package/$*/install,$(DEST)/$*)', ''].join('\n'),
  );
  const buildDir = join(tmp, 'build', dist.name);
  cpSync(root, buildDir, { recursive: true });
  const dest = join(tmp, 'ipkg');
  const r = run('make', [
    '-f', join(top, 'driver.mk'), `TOPDIR=${top}`, `PKG_BUILD_DIR=${buildDir}`, `DEST=${dest}`,
    `TARGET_CC=${targetCc}`, 'TARGET_CFLAGS=-Os -pipe', 'TARGET_CPPFLAGS=', 'TARGET_LDFLAGS=',
    ...packages.map((p) => `install-${p}`),
  ]);
  return { dest, buildDir, ...r };
}

/** `find -printf` of a package root: type, mode, path, symlink target. */
function tree(dir: string): string[] {
  return sh('find', [dir, '-mindepth', '1', '-printf', '%y %m /%P %l\n']).split('\n').filter(Boolean).map((l) => l.trim()).sort();
}

describe('openwrt/xfrmd/Makefile against the tarball', () => {
  const mk = readFileSync(OPENWRT_MAKEFILE, 'utf8');
  const field = (name: string) => new RegExp(`^${name}:=(.*)$`, 'm').exec(mk)?.[1];

  it('its own recipes build the addon with $(TARGET_CC) and install every runtime file of the tarball, nothing else', () => {
    const r = runPackageRecipes(['xfrmd', 'luci-proto-xfrmd'], 'gcc');
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/^gcc +-std=gnu11 .*-Os -pipe .*-o xfrmd_netlink\.node nlsock\.c$/m);
    expect(tree(join(r.dest, 'xfrmd'))).toEqual([
      'd 755 /etc',
      'd 755 /etc/init.d',
      'd 755 /lib',
      'd 755 /lib/netifd',
      'd 755 /lib/netifd/proto',
      'd 755 /usr',
      'd 755 /usr/bin',
      'd 755 /usr/lib',
      'd 755 /usr/lib/xfrmd',
      'd 755 /usr/share',
      'd 755 /usr/share/rpcd',
      'd 755 /usr/share/rpcd/acl.d',
      'f 644 /usr/lib/xfrmd/xfrmd_netlink.node',
      'f 644 /usr/share/rpcd/acl.d/luci-proto-xfrm.json',
      'f 755 /etc/init.d/xfrmd',
      'f 755 /lib/netifd/proto/xfrm.sh',
      'f 755 /usr/lib/xfrmd/xfrmd.cjs',
      'l 777 /usr/bin/xfrmd ../lib/xfrmd/xfrmd.cjs',
    ]);
    expect(tree(join(r.dest, 'luci-proto-xfrmd')).filter((l) => l.startsWith('f '))).toEqual(['f 644 /www/luci-static/resources/protocol/xfrm.js']);
    // Every file of the tarball that is not only read by the build lands in one package, unchanged.
    const digest = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
    const buildOnly = (f: string) => f.startsWith('native/') || f === 'LICENSE' || f === 'VERSION';
    const shipped = filesIn(root).filter((f) => !buildOnly(f)).map((f) => digest(join(root, f)));
    const installed = ['xfrmd', 'luci-proto-xfrmd'].flatMap((p) =>
      filesIn(join(r.dest, p)).filter((f) => !f.endsWith('.node')).map((f) => digest(join(r.dest, p, f))),
    );
    expect(installed.sort()).toEqual(shipped.sort());
    expect(readFileSync(join(r.dest, 'xfrmd/usr/lib/xfrmd/xfrmd_netlink.node'))).toEqual(readFileSync(join(r.buildDir, 'native/xfrmd_netlink.node')));
    expect(readFileSync(join(r.dest, 'xfrmd/usr/bin/xfrmd'), 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
  });

  it('downloads this tarball, builds without npm, declares the conflicts and the runtime dependencies', () => {
    expect(field('PKG_VERSION')).toBe(packageVersion());
    expect(field('PKG_SOURCE')).toBe('$(PKG_NAME)-$(PKG_VERSION).tar.gz');
    expect(field('PKG_NAME')).toBe('xfrmd');
    expect(field('PKG_HASH')).toMatch(/^[0-9a-f]{64}$/);
    expect(field('PKG_LICENSE')).toBe('GPL-2.0-only');
    expect(field('PKG_LICENSE_FILES')).toBe('LICENSE');
    const compile = block(mk, 'Build/Compile');
    expect(compile).toContain('$(MAKE) -C $(PKG_BUILD_DIR)/native');
    expect(compile).toContain('CC="$(TARGET_CC)"');
    const code = mk.split('\n').filter((l) => !l.startsWith('#')).join('\n');
    expect(code).not.toMatch(/\bnpm\b|NODEJS_CPU|nodejs-host\.mk/);
    const pkg = (name: string) => block(mk, `Package/${name}`);
    expect(pkg('xfrmd')).toMatch(/^\s*DEPENDS:=.*\+node\b/m);
    expect(pkg('xfrmd')).toMatch(/^\s*DEPENDS:=.*\+kmod-xfrm-interface\b/m);
    expect(pkg('xfrmd')).toMatch(/^\s*CONFLICTS:=xfrm$/m);
    expect(pkg('luci-proto-xfrmd')).toMatch(/^\s*CONFLICTS:=luci-proto-xfrm$/m);
    expect(pkg('luci-proto-xfrmd')).toMatch(/^\s*PKGARCH:=all$/m);
  });
});

describe('the daemon from the unpacked tarball (host: no XFRM interfaces, the daemon starts anyway)', () => {
  it('registers xfrmd under the real ubusd with nothing but node, answers status, stops cleanly', async () => {
    const run1 = mkdtempSync(join(tmp, 'run-'));
    const tree = unpack(dist.tarball, run1);
    expect(nodeModulesAbove(tree)).toEqual([]);
    const built = buildAddon(join(tree, 'native'));
    expect(built.code, built.stderr).toBe(0);
    installAddon(tree, built.path);
    const bus = await Ubusd.start(run1);
    const ns = makeNetns('dist');
    try {
      const d = startDaemonFrom(tree, bus, ns, join(run1, 'state'));
      await until(() => bus.objects().includes('xfrmd') || d.proc.exitCode !== null, 'xfrmd on ubus');
      expect(d.proc.exitCode, d.log()).toBeNull();
      const methods = bus.ubus('-v', 'list', 'xfrmd').stdout;
      for (const m of ['setup', 'teardown', 'status', 'dump']) expect(methods).toContain(`"${m}":`);
      const st = bus.ubus('call', 'xfrmd', 'status');
      expect(st.code, st.stderr).toBe(0);
      const status = JSON.parse(st.stdout) as { capabilities: { kernel: string }; interfaces: unknown[] };
      expect(status.capabilities.kernel).toBe(release());
      expect(status.interfaces).toEqual([]);
      expect(await d.stop(), d.log()).toBe(0);
      expect(bus.objects()).not.toContain('xfrmd');
    } finally {
      removeNetns(ns);
      await bus.stop();
    }
  }, 60_000);
});
