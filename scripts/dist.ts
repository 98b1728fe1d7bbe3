// `make dist`: the release tarball dist/xfrmd-<version>.tar.gz, the source the OpenWrt package
// downloads (PKG_SOURCE in openwrt/xfrmd/Makefile). Nothing in it depends on the target: the
// bundled daemon, the addon's C source with every header it needs (so OpenWrt compiles it with
// its cross compiler alone: no npm, no network, no Node headers from the SDK), files/, LICENSE,
// VERSION. Reproducible: entries sorted by name, one mtime, owner 0/0, normalised modes, gzip -n.
//
//   tsx scripts/dist.ts [--out DIR] [--pin]   (--pin: write version and sha256 into the OpenWrt Makefile)
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleDaemon, REPO } from './bundle.ts';

export const OPENWRT_MAKEFILE = join(REPO, 'openwrt/xfrmd/Makefile');

/** What the tarball is made of: its newest commit dates every entry. */
const INPUTS = ['src', 'native', 'files', 'scripts/bundle.ts', 'scripts/dist.ts', 'package.json', 'package-lock.json', 'LICENSE'];

/** libuv's public headers that uv.h pulls in on Linux (uv.h → errno, version, unix → threadpool, linux). */
const UV_HEADERS = ['uv.h', 'uv/errno.h', 'uv/version.h', 'uv/unix.h', 'uv/threadpool.h', 'uv/linux.h'];

export interface DistResult {
  /** `xfrmd-<version>`, the tarball's top directory */
  name: string;
  version: string;
  tarball: string;
  sha256: string;
  bytes: number;
  /** the mtime of every entry (seconds) */
  epoch: number;
}

function run(cmd: string, args: string[], input?: Buffer): Buffer {
  const r = spawnSync(cmd, args, { cwd: REPO, input, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.toString().trim()}`);
  return r.stdout;
}

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version?: unknown };
  if (typeof pkg.version !== 'string' || !/^\d+\.\d+\.\d+$/.test(pkg.version)) throw new Error('package.json has no x.y.z version');
  return pkg.version;
}

/** SOURCE_DATE_EPOCH when set, else the commit time of the newest commit that touched an input. */
function sourceEpoch(): number {
  const env = process.env.SOURCE_DATE_EPOCH;
  if (env !== undefined && env !== '') {
    if (!/^\d+$/.test(env)) throw new Error(`SOURCE_DATE_EPOCH is not a number of seconds: ${env}`);
    return Number(env);
  }
  const out = spawnSync('git', ['log', '-1', '--format=%ct', '--', ...INPUTS], { cwd: REPO, encoding: 'utf8' });
  const t = out.status === 0 ? out.stdout.trim() : '';
  if (!/^\d+$/.test(t)) throw new Error('no git history to date the files with: set SOURCE_DATE_EPOCH');
  return Number(t);
}

function versionDefine(header: string, names: string[]): string {
  const text = readFileSync(header, 'utf8');
  return names
    .map((n) => {
      const m = new RegExp(`#define ${n} (\\d+)`).exec(text);
      if (!m) throw new Error(`${header}: no ${n}`);
      return m[1];
    })
    .join('.');
}

/** native/include/: Node-API from npm's node-api-headers, libuv from the Node.js running this. */
function stageHeaders(include: string): void {
  const require = createRequire(import.meta.url);
  const napiPkg = require.resolve('node-api-headers/package.json');
  const napiDir = dirname(napiPkg);
  const napiVersion = (JSON.parse(readFileSync(napiPkg, 'utf8')) as { version: string }).version;
  const napiHeaders = ['js_native_api.h', 'js_native_api_types.h', 'node_api.h', 'node_api_types.h'];
  mkdirSync(join(include, 'uv'), { recursive: true });
  for (const h of napiHeaders) copyFileSync(join(napiDir, 'include', h), join(include, h));
  copyFileSync(join(napiDir, 'LICENSE'), join(include, 'LICENSE.node-api-headers'));

  // node-api-headers has no uv.h (the addon polls its socket with uv_poll). Node installs libuv's
  // headers beside its own; libuv keeps the 1.x ABI stable, so these fit any Node with libuv 1.x.
  const nodeInclude = process.env.XFRMD_NODE_INCLUDE ?? join(dirname(process.execPath), '..', 'include', 'node');
  for (const h of UV_HEADERS) {
    try {
      copyFileSync(join(nodeInclude, h), join(include, h));
    } catch (e) {
      throw new Error(`${join(nodeInclude, h)}: ${(e as Error).message} (set XFRMD_NODE_INCLUDE to a Node.js include/node directory)`);
    }
  }
  const uvVersion = versionDefine(join(include, 'uv/version.h'), ['UV_VERSION_MAJOR', 'UV_VERSION_MINOR', 'UV_VERSION_PATCH']);
  writeFileSync(
    join(include, 'SOURCES'),
    [
      'Headers for compiling nlsock.c without the Node.js sources (native/Makefile: -Iinclude).',
      `${napiHeaders.join(' ')}: npm package node-api-headers ${napiVersion} (MIT, LICENSE.node-api-headers).`,
      `${UV_HEADERS.join(' ')}: libuv ${uvVersion} public headers (the Linux subset) as installed by Node.js ${process.version}`,
      '  (MIT, the notice is at the top of each file). libuv keeps its ABI stable within 1.x.',
      '',
    ].join('\n'),
  );
}

async function stage(root: string, version: string): Promise<void> {
  mkdirSync(join(root, 'native'), { recursive: true });
  cpSync(join(REPO, 'files'), join(root, 'files'), { recursive: true });
  copyFileSync(join(REPO, 'native/nlsock.c'), join(root, 'native/nlsock.c'));
  copyFileSync(join(REPO, 'native/Makefile'), join(root, 'native/Makefile'));
  stageHeaders(join(root, 'native/include'));
  copyFileSync(join(REPO, 'LICENSE'), join(root, 'LICENSE'));
  writeFileSync(join(root, 'VERSION'), `${version}\n`);
  await bundleDaemon(join(root, 'xfrmd.cjs'));
}

/** Builds `<outDir>/xfrmd-<version>.tar.gz`. */
export async function makeDist(outDir = join(REPO, 'dist')): Promise<DistResult> {
  const version = packageVersion();
  const name = `xfrmd-${version}`;
  const epoch = sourceEpoch();
  const tmp = mkdtempSync(join(tmpdir(), 'xfrmd-dist-'));
  try {
    await stage(join(tmp, name), version);
    // GNU tar: --sort/--mtime/--owner make the archive independent of checkout order, time and user;
    // --mode keeps the x bit of the scripts and drops group/other write (umask differences).
    const tar = run('tar', [
      '--create', '--file=-', '--format=gnu', '--sort=name',
      '--owner=0', '--group=0', '--numeric-owner', `--mtime=@${epoch}`, '--mode=a+rX,u+w,go-w',
      '-C', tmp, name,
    ]);
    const gz = run('gzip', ['-9', '-n', '-c'], tar);
    mkdirSync(outDir, { recursive: true });
    const tarball = join(outDir, `${name}.tar.gz`);
    writeFileSync(`${tarball}.tmp`, gz);
    chmodSync(`${tarball}.tmp`, 0o644);
    renameSync(`${tarball}.tmp`, tarball);
    return { name, version, tarball, sha256: createHash('sha256').update(gz).digest('hex'), bytes: gz.length, epoch };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** PKG_VERSION and PKG_HASH of the OpenWrt Makefile. */
export function pinned(makefile = readFileSync(OPENWRT_MAKEFILE, 'utf8')): { version?: string; hash?: string } {
  return { version: /^PKG_VERSION:=(.*)$/m.exec(makefile)?.[1], hash: /^PKG_HASH:=(.*)$/m.exec(makefile)?.[1] };
}

/** Writes the tarball's version and sha256 into the OpenWrt Makefile (at a release). */
export function pin(r: DistResult): void {
  const text = readFileSync(OPENWRT_MAKEFILE, 'utf8');
  if (!/^PKG_VERSION:=/m.test(text) || !/^PKG_HASH:=/m.test(text)) throw new Error(`${OPENWRT_MAKEFILE}: no PKG_VERSION/PKG_HASH lines to pin`);
  writeFileSync(OPENWRT_MAKEFILE, text.replace(/^PKG_VERSION:=.*$/m, `PKG_VERSION:=${r.version}`).replace(/^PKG_HASH:=.*$/m, `PKG_HASH:=${r.sha256}`));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const out = args.includes('--out') ? args[args.indexOf('--out') + 1] : undefined;
  if (args.includes('--out') && !out) throw new Error('--out needs a directory');
  const r = await makeDist(out);
  console.log(`${relative(process.cwd(), r.tarball)}: ${r.bytes} bytes, sha256 ${r.sha256} (mtime ${new Date(r.epoch * 1000).toISOString()})`);
  if (args.includes('--pin')) {
    pin(r);
    console.log(`openwrt/xfrmd/Makefile: PKG_VERSION:=${r.version} PKG_HASH:=${r.sha256}`);
  } else {
    const p = pinned();
    if (p.version === r.version && p.hash !== r.sha256) {
      console.log(`note: openwrt/xfrmd/Makefile pins another ${r.name}.tar.gz (PKG_HASH ${p.hash}); at a release run make dist PIN=1`);
    }
  }
}
