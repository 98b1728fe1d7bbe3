// OpenWrt's real ubusd and netifd (built from ../shared/openwrt-stack into .cache/openwrt-stack
// by test/kernel/setup-stack.sh), with the project's shim as /lib/netifd/proto/xfrm.sh and the
// daemon, inside a network namespace of the guest. The way a router runs them:
//   ubusd -s SOCK
//   netifd -S -s SOCK -p MAIN -c CONF -h /bin/true -r RESOLV    (MAIN/proto/xfrm.sh = our shim)
//   xfrmd run -s SOCK --state-dir STATE                            (in this process, or as its own)
// Handlers run under busybox ash, as on OpenWrt: /bin/sh is bind-mounted to busybox in netifd's
// mount namespace only. The shim calls plain `ubus`: a wrapper on netifd's PATH adds `-s SOCK`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createLogger } from '../../src/log.ts';
import { startDaemon, type Daemon } from '../../src/daemon/daemon.ts';
import { openKernel } from '../../src/reconcile/netlink-kernel.ts';
import type { Kernel } from '../../src/reconcile/kernel.ts';
import { UbusClient } from '../../src/ubus/client.ts';
import type { Netns } from './lib.ts';

export const repo = resolve(import.meta.dirname, '../..');
export const STACK = process.env.XFRMD_OPENWRT_STACK ?? join(repo, '.cache/openwrt-stack');
const SHIM = join(repo, 'files/lib/netifd/proto/xfrm.sh');

/** The stack is part of the set-up (scripts/host-deps.sh builds it): missing is a failure, not a skip. */
function requireStack(): void {
  for (const f of ['sbin/netifd', 'sbin/ubusd', 'bin/ubus', 'share/libubox/jshn.sh']) {
    if (!existsSync(join(STACK, f))) throw new Error(`${join(STACK, f)} is missing: scripts/host-deps.sh builds OpenWrt's stack from shared/openwrt-stack`);
  }
}

export function stackAvailable(): boolean {
  return existsSync(join(STACK, 'sbin/netifd')) && existsSync(join(STACK, 'sbin/ubusd'));
}

/** netifd-proto.sh sources jshn.sh from /usr/share/libubox or /usr/local/share/libubox only: put
 *  there in the guest's overlay; never on a host (benchmarks with our shim, whose normal path
 *  does not source it, run there). */
function installJshn(): void {
  const dst = '/usr/local/share/libubox/jshn.sh';
  if (existsSync(dst) || process.env.XFRMD_IN_GUEST !== '1') return;
  mkdirSync('/usr/local/share/libubox', { recursive: true });
  copyFileSync(join(STACK, 'share/libubox/jshn.sh'), dst);
}

/** A static WAN on `wan0` with a default route: the parent the recipes follow (`tunlink 'wan'`). */
export const WAN = `
config interface 'wan'
\toption device 'wan0'
\toption proto 'static'
\toption ipaddr '192.0.2.1'
\toption netmask '255.255.255.0'
\toption gateway '192.0.2.254'
`;

export interface IfStatus {
  interface: string;
  up: boolean;
  pending: boolean;
  available: boolean;
  autostart: boolean;
  proto: string;
  l3_device?: string;
  device?: string;
  errors?: Array<{ subsystem: string; code: string; data?: string[] }>;
  data?: Record<string, unknown>;
  'ipv4-address'?: Array<{ address: string; mask: number }>;
}

/** A child process and its exit. */
export interface Proc {
  proc: ChildProcess;
  exited: Promise<number | null>;
}

export function track(proc: ChildProcess): Proc {
  return { proc, exited: new Promise((r) => proc.once('exit', (code, sig) => r(sig ? -1 : code))) };
}

/** Signals it (SIGKILL after 5 s) and waits for the exit. */
export async function stop(p: Proc | undefined, sig: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!p || p.proc.exitCode !== null || p.proc.signalCode !== null) return;
  p.proc.kill(sig);
  const t = setTimeout(() => p.proc.kill('SIGKILL'), 5000);
  await p.exited;
  clearTimeout(t);
}

export async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 120_000, every = 100): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** 'none': no daemon at all (for the stock handler, which needs none) */
export type DaemonMode = 'in-process' | 'process' | 'none';

export interface StackOptions {
  ns: Netns;
  /** the UCI network file */
  network: string;
  /** the daemon in this process (fast) or as the shipped bundle in its own process (kill -9) */
  daemon?: DaemonMode;
  /** the handler netifd runs: ours (default), or another script (the stock xfrm.sh for comparisons) */
  handler?: string;
  /** where the logs go (kept after the guest is gone); default .cache/guest-logs/<name> */
  logName?: string;
  /** netifd -l (default 2; 3 adds debug lines) */
  netifdLogLevel?: number;
  retryMs?: number;
  /** wrap the in-process daemon's kernel (fault injection) */
  wrapKernel?: (k: Kernel) => Kernel;
  /** start() leaves netifd to the caller (startNetifd(): a benchmark times it) */
  deferNetifd?: boolean;
  /** handlers reach ubusd at its default path, as on a router (a symlink in netifd's mount
   *  namespace) instead of through a `ubus -s SOCK` wrapper script: one exec fewer per call */
  routerSocket?: boolean;
  /** extra environment of the daemon process (XFRMD_LOG_LEVEL) */
  daemonEnv?: Record<string, string>;
  /** node options of the daemon process (--cpu-prof, V8 settings) */
  daemonNodeArgs?: string[];
  /** the daemon process's script (default dist/xfrmd.cjs; benchmarks on the host run the
   *  stand-in kernel's bundle of the same daemon) */
  daemonScript?: string;
  /** runs netifd under this command (e.g. strace -f -ttt -o FILE) */
  netifdPrefix?: string[];
}

/** One router: ubusd, netifd and xfrmd for one namespace. */
export class NetifdStack {
  readonly dir: string;
  readonly sock: string;
  readonly main: string;
  readonly conf: string;
  readonly state: string;
  readonly logs: string;
  client!: UbusClient;
  private ubusd?: Proc;
  private netifd?: Proc;
  private daemonProc?: Proc;
  private daemonInProc?: { daemon: Daemon; close(): void };

  private constructor(readonly o: StackOptions) {
    requireStack();
    this.dir = mkdtempSync('/tmp/xfrmd-stack-');
    this.sock = join(this.dir, 'ubus.sock');
    this.main = join(this.dir, 'lib/netifd');
    this.conf = join(this.dir, 'config');
    this.state = join(this.dir, 'state');
    this.logs = join(repo, '.cache/guest-logs', `${o.logName ?? 'stack'}-${process.env.XFRMD_GUEST_KERNEL ?? 'host'}-${o.ns.name}`);
    rmSync(this.logs, { recursive: true, force: true });
    for (const d of [join(this.main, 'proto'), this.conf, this.state, join(this.dir, 'bin'), this.logs]) mkdirSync(d, { recursive: true });
    copyFileSync(join(STACK, 'lib/netifd/netifd-proto.sh'), join(this.main, 'netifd-proto.sh'));
    copyFileSync(join(STACK, 'lib/netifd/utils.sh'), join(this.main, 'utils.sh'));
    const handler = join(this.main, 'proto/xfrm.sh');
    copyFileSync(o.handler ?? SHIM, handler);
    chmodSync(handler, 0o755);
    writeFileSync(join(this.dir, 'bin/ubus'), `#!/bin/sh\nexec ${STACK}/bin/ubus -s ${this.sock} "$@"\n`, { mode: 0o755 });
    this.writeNetwork(o.network);
    installJshn();
  }

  static async start(o: StackOptions): Promise<NetifdStack> {
    const s = new NetifdStack(o);
    await s.startUbusd();
    s.client = new UbusClient({ socketPath: s.sock, reconnect: true, timeoutMs: 30_000 });
    await s.client.connect();
    await s.startDaemon();
    if (!o.deferNetifd) await s.startNetifd();
    return s;
  }

  writeNetwork(text: string): void {
    writeFileSync(join(this.conf, 'network'), text);
  }

  private logFd(name: string): number {
    return openSync(join(this.logs, name), 'a');
  }

  async startUbusd(): Promise<void> {
    rmSync(this.sock, { force: true });
    const fd = this.logFd('ubusd.log');
    this.ubusd = track(spawn(join(STACK, 'sbin/ubusd'), ['-s', this.sock], { stdio: ['ignore', fd, fd] }));
    closeSync(fd);
    await until(() => existsSync(this.sock), 'ubusd socket', 30_000, 20);
  }

  async stopUbusd(sig: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await stop(this.ubusd, sig);
  }

  /** Resolves once netifd is on the bus; `spawned` is called right after the spawn. */
  async startNetifd(spawned?: () => void): Promise<void> {
    const fd = this.logFd('netifd.log');
    const router = this.o.routerSocket === true;
    const env = {
      PATH: `${router ? '' : join(this.dir, 'bin') + ':'}${join(STACK, 'bin')}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      NETIFD_MAIN_DIR: this.main,
      HOME: '/root',
    };
    const argv = [...(this.o.netifdPrefix ?? []), join(STACK, 'sbin/netifd'), '-S', '-l', String(this.o.netifdLogLevel ?? 2), '-s', this.sock, '-p', this.main, '-c', this.conf, '-h', '/bin/true', '-r', join(this.dir, 'resolv.conf')];
    // ip netns exec gives netifd its own mount namespace: /bin/sh is busybox ash there only
    const socket = router ? `mkdir -p /var/run/ubus && mount -t tmpfs -o size=64k xfrmd-ubus /var/run/ubus && ln -s ${this.sock} /var/run/ubus/ubus.sock && ` : '';
    const script = `${socket}mount --bind /bin/busybox /bin/sh && exec ${argv.join(' ')}`;
    this.netifd = track(spawn('ip', ['netns', 'exec', this.o.ns.name, '/bin/bash', '-c', script], { stdio: ['ignore', fd, fd], env }));
    closeSync(fd);
    spawned?.();
    await until(async () => (await this.client.lookup('network.interface').catch(() => [])).length > 0, 'netifd on the bus', 60_000);
  }

  async stopNetifd(sig: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await stop(this.netifd, sig);
  }

  get daemon(): Daemon | undefined {
    return this.daemonInProc?.daemon;
  }

  async startDaemon(): Promise<void> {
    if (this.o.daemon === 'none') return;
    if (this.o.daemon === 'process') {
      const fd = this.logFd('xfrmd.log');
      const script = this.o.daemonScript ?? join(repo, 'dist/xfrmd.cjs');
      if (!existsSync(script)) throw new Error(`${script} missing: npm run build`);
      this.daemonProc = track(
        spawn('ip', ['netns', 'exec', this.o.ns.name, process.execPath, ...(this.o.daemonNodeArgs ?? []), script, 'run', '-s', this.sock, '--state-dir', this.state], {
          stdio: ['ignore', fd, fd],
          env: { ...process.env, XFRMD_LOG_LEVEL: 'info', ...this.o.daemonEnv },
        }),
      );
      closeSync(fd);
      await until(() => this.daemonLog().includes('"xfrmd running"') || this.daemonProc?.proc.exitCode !== null, 'daemon on the bus', 120_000);
      if (this.daemonProc.proc.exitCode !== null) throw new Error(`xfrmd exited: ${this.daemonLog().slice(-2000)}`);
      return;
    }
    const k = await openKernel({ netns: this.o.ns.name, events: true });
    const log = createLogger('info', join(this.logs, 'xfrmd.log'));
    const kernel = this.o.wrapKernel ? this.o.wrapKernel(k.kernel) : k.kernel;
    const daemon = await startDaemon({ socketPath: this.sock, stateDir: this.state, kernel, kernelEvents: k.events, log, retryMs: this.o.retryMs ?? 1000 });
    this.daemonInProc = {
      daemon,
      close: () => {
        daemon.close();
        k.close();
      },
    };
    await daemon.ready;
  }

  /** SIGKILL (a crash) or SIGTERM; in-process: closed without a word, like a crash. */
  async stopDaemon(sig: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.daemonProc) {
      await stop(this.daemonProc, sig);
      this.daemonProc = undefined;
    }
    this.daemonInProc?.close();
    this.daemonInProc = undefined;
  }

  /** the daemon process (`ip netns exec` execs it: the pid is node's) */
  get daemonPid(): number | undefined {
    return this.daemonProc?.proc.pid;
  }

  daemonLog(): string {
    const f = join(this.logs, 'xfrmd.log');
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  }

  netifdLog(): string {
    const f = join(this.logs, 'netifd.log');
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  }

  async call(path: string, method: string, args: Record<string, unknown> = {}): Promise<Record<string, unknown> | undefined> {
    const [r] = await this.client.call(path, method, args as Record<string, never>);
    return r as Record<string, unknown> | undefined;
  }

  reload(): Promise<unknown> {
    return this.call('network', 'reload');
  }

  ifup(name: string): Promise<unknown> {
    return this.call(`network.interface.${name}`, 'up');
  }

  ifdown(name: string): Promise<unknown> {
    return this.call(`network.interface.${name}`, 'down');
  }

  async dump(): Promise<Map<string, IfStatus>> {
    const r = (await this.call('network.interface', 'dump')) as { interface?: IfStatus[] } | undefined;
    return new Map((r?.interface ?? []).map((i) => [i.interface, i]));
  }

  async waitFor(what: string, pred: (d: Map<string, IfStatus>) => boolean, ms = 180_000): Promise<Map<string, IfStatus>> {
    let last = new Map<string, IfStatus>();
    try {
      await until(async () => pred((last = await this.dump().catch(() => new Map()))), what, ms, 200);
    } catch (e) {
      const brief = [...last.values()].map((i) => `${i.interface}: up=${i.up} pending=${i.pending} available=${i.available} autostart=${i.autostart} errors=${JSON.stringify(i.errors ?? [])}`);
      throw new Error(`${(e as Error).message}\n${brief.join('\n')}`);
    }
    return last;
  }

  waitUp(names: string[], ms?: number): Promise<Map<string, IfStatus>> {
    return this.waitFor(`${names.join(', ')} up`, (d) => names.every((n) => d.get(n)?.up === true), ms);
  }

  waitDown(names: string[], ms?: number): Promise<Map<string, IfStatus>> {
    return this.waitFor(`${names.join(', ')} down`, (d) => names.every((n) => d.get(n) !== undefined && !d.get(n)!.up && !d.get(n)!.pending), ms);
  }

  async xfrmdStatus(name: string): Promise<Record<string, unknown> | undefined> {
    return this.call('xfrmd', 'status', { interface: name }).catch(() => undefined);
  }

  /** Everything stops; the namespace is the caller's. */
  async close(): Promise<void> {
    await this.stopDaemon('SIGTERM');
    await this.stopNetifd();
    this.client?.close();
    await this.stopUbusd();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** `ip` in a namespace, for the few things tests do by hand. */
export function nsIp(ns: Netns, ...args: string[]): string {
  const r = spawnSync('ip', ['-n', ns.name, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
