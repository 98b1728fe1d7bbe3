// Helpers for the guest tests (test/kernel/*.ktest.ts): run iproute2 in throw-away network
// namespaces and read XFRM state back. Every `ip` process costs 150–400 ms under TCG, so setup
// goes through `ip -batch` wherever it can.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program; never throws for a non-zero exit. */
export function run(cmd: string, args: string[], input?: string): RunResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, timeout: 60_000 });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a program and returns its stdout; throws with its stderr on a non-zero exit. */
export function sh(cmd: string, args: string[], input?: string): string {
  const r = run(cmd, args, input);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  }
  return r.stdout;
}

export const inGuest = process.env.XFRMD_IN_GUEST === '1';

/** A network namespace deleted by destroy() (call it from afterAll/afterEach). */
export class Netns {
  readonly name: string;

  constructor(prefix = 'xk') {
    this.name = `${prefix}-${randomBytes(3).toString('hex')}`;
    sh('ip', ['netns', 'add', this.name]);
  }

  /** `ip -n <ns> <args…>` */
  ip(...args: string[]): string {
    return sh('ip', ['-n', this.name, ...args]);
  }

  /** `ip -n <ns> <args…>` without throwing. */
  tryIp(...args: string[]): RunResult {
    return run('ip', ['-n', this.name, ...args]);
  }

  /** Runs `ip -n <ns> -batch -` over the given lines (one process for all of them). */
  batch(lines: string[]): void {
    sh('ip', ['-n', this.name, '-batch', '-'], lines.join('\n') + '\n');
  }

  /** Runs a program inside the namespace. */
  exec(cmd: string, args: string[]): RunResult {
    return run('ip', ['netns', 'exec', this.name, cmd, ...args]);
  }

  /** The namespace's file, for tools that take a netns path or fd. */
  get path(): string {
    return `/run/netns/${this.name}`;
  }

  destroy(): void {
    run('ip', ['netns', 'del', this.name]);
  }
}

/** `ip -d -j link show dev <name>` in a namespace, parsed. */
export interface IpLink {
  ifname: string;
  ifindex: number;
  link?: string;
  flags: string[];
  operstate?: string;
  mtu: number;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
  stats64?: { rx: { packets: number; bytes: number }; tx: { packets: number; bytes: number } };
}

export function linkShow(ns: Netns, dev: string, stats = false): IpLink {
  const args = ['-d', '-j', ...(stats ? ['-s'] : []), 'link', 'show', 'dev', dev];
  const list = JSON.parse(ns.ip(...args)) as IpLink[];
  const l = list[0];
  if (!l) throw new Error(`no link ${dev} in ${ns.name}`);
  return l;
}

/** One SA from `ip -s xfrm state` (text output: 6.1's iproute2 has no JSON for xfrm). */
export interface SaCounters {
  src: string;
  dst: string;
  spi: number;
  ifId: number;
  bytes: number;
  packets: number;
}

/** Parses `ip -s xfrm state` output into per-SA current byte and packet counters. */
export function parseXfrmStateStats(text: string): SaCounters[] {
  const out: SaCounters[] = [];
  let cur: SaCounters | undefined;
  let wantCurrent = false;
  for (const line of text.split('\n')) {
    const head = /^src (\S+) dst (\S+)/.exec(line);
    if (head) {
      cur = { src: head[1] ?? '', dst: head[2] ?? '', spi: -1, ifId: 0, bytes: -1, packets: -1 };
      out.push(cur);
      wantCurrent = false;
      continue;
    }
    if (!cur) continue;
    const spi = /\bspi (0x[0-9a-f]+|\d+)/.exec(line);
    if (spi?.[1]) cur.spi = Number(spi[1]);
    const ifId = /\bif_id (0x[0-9a-f]+|\d+)/.exec(line);
    if (ifId?.[1]) cur.ifId = Number(ifId[1]);
    if (/lifetime current:/.test(line)) {
      wantCurrent = true;
      continue;
    }
    const counts = /^\s*(\d+)\(bytes\), (\d+)\(packets\)/.exec(line);
    if (wantCurrent && counts) {
      cur.bytes = Number(counts[1]);
      cur.packets = Number(counts[2]);
      wantCurrent = false;
    }
  }
  return out;
}

export function saCounters(ns: Netns, spi: number): SaCounters {
  const sa = parseXfrmStateStats(ns.ip('-s', 'xfrm', 'state')).find((s) => s.spi === spi);
  if (!sa) throw new Error(`no SA with spi 0x${spi.toString(16)} in ${ns.name}`);
  return sa;
}

/** busybox ping (the host has no iputils): true when all `count` echo requests were answered. */
export function ping(ns: Netns, dst: string, count = 3): RunResult & { ok: boolean } {
  const r = ns.exec('busybox', ['ping', '-c', String(count), '-W', '3', '-w', '20', dst]);
  const m = /(\d+) packets transmitted, (\d+) packets received/.exec(r.stdout);
  return { ...r, ok: r.code === 0 && !!m && m[1] === m[2] };
}

/** Hex key of n random bytes, as iproute2 wants it. */
export function hexKey(bytes: number): string {
  return '0x' + randomBytes(bytes).toString('hex');
}
