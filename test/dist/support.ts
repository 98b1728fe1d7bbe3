// Helpers for the release-tarball tests, on the host (test/dist/dist.test.ts) and in the guest
// (test/kernel/dist.ktest.ts): unpack it, build the addon from it alone (native/Makefile, as the
// OpenWrt package does), OpenWrt's real ubusd and ubus CLI, and the daemon started from the
// unpacked tree with nothing but `node`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { routerNodeOptions } from '../support/procd.ts';

export const REPO = resolve(import.meta.dirname, '../..');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program; never throws for a non-zero exit. */
export function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): RunResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000, ...opts });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a program and returns its stdout; throws with its output on a non-zero exit. */
export function sh(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${(r.stderr + r.stdout).trim()}`);
  return r.stdout;
}

export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Unpacks a tarball into `dir` (empty) and returns its single top directory. */
export function unpack(tarball: string, dir: string): string {
  sh('tar', ['-xzf', tarball, '-C', dir]);
  const top = readdirSync(dir);
  if (top.length !== 1) throw new Error(`${tarball}: expected one top directory, found ${top.join(', ')}`);
  return join(dir, top[0]!);
}

/** `make -C <nativeDir>` with the given variables (CC, CPPFLAGS, EXTRA_CFLAGS …): the addon's path and make's output. */
export function buildAddon(nativeDir: string, vars: Record<string, string> = {}): { path: string } & RunResult {
  const r = run('make', ['-C', nativeDir, ...Object.entries(vars).map(([k, v]) => `${k}=${v}`)]);
  return { path: join(nativeDir, 'xfrmd_netlink.node'), ...r };
}

/** OpenWrt's ubusd and ubus CLI, built by scripts/host-deps.sh from shared/openwrt-stack. */
export function openwrtStack(): { ubusd: string; ubus: string } {
  const prefix = join(REPO, '.cache/openwrt-stack');
  const ubusd = join(prefix, 'sbin/ubusd');
  const ubus = join(prefix, 'bin/ubus');
  if (!existsSync(ubusd) || !existsSync(ubus)) {
    throw new Error(`${prefix} has no ubusd/ubus: scripts/host-deps.sh builds it with ../shared/openwrt-stack/build.sh (or set XFRMD_SHARED_DIR)`);
  }
  return { ubusd, ubus };
}

/** Polls `cond` until true; throws naming `what` after `ms`. */
export async function until(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Proc {
  proc: ChildProcess;
  log: () => string;
  /** SIGTERM (unless already gone) and its exit code; -1 when a signal ended it */
  stop: () => Promise<number>;
}

function start(cmd: string, args: string[], logFile: string, opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Proc {
  mkdirSync(dirname(logFile), { recursive: true });
  const fd = openSync(logFile, 'a');
  const proc = spawn(cmd, args, { stdio: ['ignore', fd, fd], ...opts });
  closeSync(fd);
  const exited = new Promise<number>((r) => proc.once('exit', (code, sig) => r(sig ? -1 : (code ?? -1))));
  return {
    proc,
    log: () => readFileSync(logFile, 'utf8'),
    stop: () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}

/** The real ubusd on a socket in `dir`, with the real ubus CLI pointed at it. */
export class Ubusd {
  private constructor(
    readonly socket: string,
    private readonly p: Proc,
    private readonly cli: string,
  ) {}

  static async start(dir: string): Promise<Ubusd> {
    const { ubusd, ubus } = openwrtStack();
    const socket = join(dir, 'ubus.sock');
    const p = start(ubusd, ['-s', socket], join(dir, 'ubusd.log'));
    await until(() => existsSync(socket) || p.proc.exitCode !== null, 'ubusd socket', 10_000);
    if (!existsSync(socket)) throw new Error(`ubusd did not start: ${p.log()}`);
    return new Ubusd(socket, p, ubus);
  }

  /** `ubus -s SOCK <args…>` */
  ubus(...args: string[]): RunResult {
    return run(this.cli, ['-s', this.socket, ...args]);
  }

  /** The object paths `ubus list` prints. */
  objects(): string[] {
    return this.ubus('list').stdout.split('\n').filter(Boolean);
  }

  stop(): Promise<number> {
    return this.p.stop();
  }
}

/** Where the OpenWrt package puts the addon: beside the bundle, which looks for it there. */
export function installAddon(root: string, addon: string): void {
  copyFileSync(addon, join(root, 'xfrmd_netlink.node'));
}

/** An environment with nothing a Node module lookup could use: no NODE_PATH, no NODE_OPTIONS. */
export function bareEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...extra };
}

/** `node [the init script's options] xfrmd.cjs run -s SOCK --state-dir DIR` from the unpacked tree,
 *  inside network namespace `netns`: the node options procd uses are tested to start here. */
export function startDaemonFrom(root: string, bus: Ubusd, netns: string, stateDir: string): Proc {
  return start('ip', ['netns', 'exec', netns, process.execPath, ...routerNodeOptions(join(root, 'files/etc/init.d/xfrmd')), 'xfrmd.cjs', 'run', '-s', bus.socket, '--state-dir', stateDir], `${stateDir}.log`, {
    cwd: root,
    env: bareEnv({ XFRMD_LOG_LEVEL: 'info' }),
  });
}

/** Directories from `dir` up to / that hold a node_modules (a bundle could resolve packages there). */
export function nodeModulesAbove(dir: string): string[] {
  const found: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    if (existsSync(join(d, 'node_modules'))) found.push(d);
    if (dirname(d) === d) return found;
  }
}
