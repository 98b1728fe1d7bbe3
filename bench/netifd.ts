// ifup under OpenWrt's real netifd and ubusd, in the kernel guest (real XFRM devices): OpenWrt's
// stock handler (netifd creates the device itself) against ours (the shim and the daemon as its
// own process, dist/xfrmd.cjs, already running as procd starts it before netifd). N sections
// with the options both understand (ifid, tunlink wan, mtu), rounds interleaved stock, ours,
// stock, ours… so drift in the guest hits both alike. Two figures per run:
//   start   netifd spawned → every section up (netifd's `ifup` events)
//   reload  the sections added to a running netifd's config, `ubus call network reload` → every
//           section up (after they were removed by a reload, and their devices are gone)
// Handlers reach ubusd at its default path, as on a router (no `ubus -s` wrapper script).
// Prints the raw times and medians; never asserts.
//
//   npm run bench -- netifd [--n 1,10,50] [--rounds 2] [--kernel 6.1]   boots the guest, runs the rest there
//   --in-guest   (what runs inside the guest; bundled first, so the guest's node skips tsx)
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    n: { type: 'string', default: '1,10,50' },
    rounds: { type: 'string', default: '2' },
    kinds: { type: 'string', default: 'stock,ours' },
    kernel: { type: 'string', default: '6.1' },
    'in-guest': { type: 'boolean', default: false },
    // one round, netifd under strace (every exec, timed), the daemon with --cpu-prof and debug logs
    profile: { type: 'boolean', default: false },
    // the daemon logs at debug level (when each setup request arrived), nothing else changes
    'debug-log': { type: 'boolean', default: false },
  },
});
const Ns = args.n.split(',').map(Number);
const rounds = Number(args.rounds);

type Kind = 'stock' | 'ours';
interface Run {
  kind: Kind;
  n: number;
  round: number;
  start: number;
  reload: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** the stock handler, copied where the guest sees it (the checkout) */
const STOCK_COPY = '.cache/bench/stock-xfrm.sh';

/** OpenWrt's stock xfrm.sh in shared/openwrt-stack/reference, found as scripts/host-deps.sh finds the stack. */
function stockHandler(repo: string): string {
  const dirs = [process.env.XFRMD_SHARED_DIR, join(repo, '../shared')];
  try {
    const origin = execFileSync('git', ['-C', repo, 'config', '--get', 'remote.origin.url'], { encoding: 'utf8' }).trim();
    if (origin.startsWith('/')) dirs.push(join(origin, '../shared'));
  } catch {
    /* no remote */
  }
  const found = dirs.filter((d): d is string => d !== undefined).map((d) => join(d, 'openwrt-stack/reference/xfrm.sh')).find((f) => existsSync(f));
  if (!found) throw new Error(`OpenWrt's stock xfrm.sh not found in ${dirs.filter(Boolean).join(', ')} (set XFRMD_SHARED_DIR)`);
  return found;
}

if (!args['in-guest']) {
  // host: bundle the guest part (node in the guest is 16-20x slower; tsx would cost seconds), boot
  const repo = fileURLToPath(new URL('..', import.meta.url));
  if (!existsSync(join(repo, 'dist/xfrmd.cjs'))) throw new Error('dist/xfrmd.cjs missing: npm run build');
  const out = join(repo, '.cache/bench/netifd.mjs');
  mkdirSync(join(repo, '.cache/bench'), { recursive: true });
  copyFileSync(stockHandler(repo), join(repo, STOCK_COPY));
  const { build } = await import('esbuild');
  await build({
    entryPoints: [fileURLToPath(import.meta.url)],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['esbuild'],
    logLevel: 'error',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  const t0 = performance.now();
  const r = spawnSync('test/kernel/guest.sh', ['--kernel', args.kernel, '--timeout', '1500', '--', 'node', out, '--in-guest', '--n', args.n, '--rounds', args.rounds, '--kinds', args.kinds, ...(args.profile ? ['--profile'] : []), ...(args['debug-log'] ? ['--debug-log'] : [])], {
    cwd: repo,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  process.stdout.write(r.stdout);
  console.log(`guest run: exit ${r.status}, ${((performance.now() - t0) / 1000).toFixed(0)} s wall`);
  process.exit(r.status ?? 1);
}

const { Netns, sh } = await import('../test/kernel/lib.ts');
const { routerNodeOptions } = await import('../test/support/procd.ts');
// the daemon runs with the node options of the router's init script
const ROUTER_NODE_OPTIONS = routerNodeOptions();
const { NetifdStack, stackAvailable, until, WAN } = await import('../test/kernel/netifd-stack.ts');

const names = (n: number) => Array.from({ length: n }, (_, i) => `x${i}`);
function sections(n: number): string {
  return names(n)
    .map((name, i) => `\nconfig interface '${name}'\n\toption proto 'xfrm'\n\toption ifid '${i + 1}'\n\toption tunlink 'wan'\n\toption mtu '1400'\n`)
    .join('');
}

/** The stock handler sources these OpenWrt libraries (nothing of them is used for xfrm): empty stand-ins, in the guest's overlay only. */
function stockPrerequisites(): void {
  if (process.env.XFRMD_IN_GUEST !== '1') throw new Error('run through `npm run bench -- netifd` (the guest), not on the host');
  mkdirSync('/lib/functions', { recursive: true });
  for (const f of ['/lib/functions.sh', '/lib/functions/network.sh']) if (!existsSync(f)) writeFileSync(f, '');
  if (!existsSync('/sys/module/xfrm_interface')) throw new Error('xfrm_interface not loaded: the stock handler would not register');
}

/** Where a profiled run leaves its traces (the stack's log directory). */
function profiling(logName: string, ns: string): { daemonEnv: Record<string, string>; daemonNodeArgs: string[]; netifdPrefix: string[] } {
  const dir = join(process.cwd(), '.cache/guest-logs', `${logName}-${process.env.XFRMD_GUEST_KERNEL ?? 'host'}-${ns}`);
  return {
    daemonEnv: { XFRMD_LOG_LEVEL: 'debug' },
    daemonNodeArgs: [...ROUTER_NODE_OPTIONS, '--cpu-prof', `--cpu-prof-dir=${dir}`],
    netifdPrefix: ['strace', '-f', '-ttt', '-e', 'trace=execve,exit_group', '-o', join(dir, 'strace.txt')],
  };
}

type Stack = Awaited<ReturnType<typeof NetifdStack.start>>;

/** Resolves with the time every name was up (netifd's `ifup` events; an `ifdown` puts it back). */
async function allUp(stack: Stack, want: string[], ms: number): Promise<{ at: Promise<number>; stop: () => Promise<void> }> {
  const pending = new Set(want);
  let resolve!: (t: number) => void;
  let reject!: (e: Error) => void;
  const at = new Promise<number>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const l = await stack.client.listen('network.interface', (_e, d) => {
    const name = String(d.interface);
    if (!want.includes(name)) return;
    if (d.action === 'ifup') pending.delete(name);
    else if (d.action === 'ifdown') pending.add(name);
    if (pending.size === 0) resolve(performance.now());
  });
  const timer = setTimeout(() => reject(new Error(`not all up after ${ms} ms: ${[...pending].slice(0, 5).join(' ')}…`)), ms);
  return {
    at: at.finally(() => clearTimeout(timer)),
    stop: () => l.close(),
  };
}

function xfrmDevices(ns: InstanceType<typeof Netns>): number {
  return sh('ip', ['-n', ns.name, '-o', 'link', 'show', 'type', 'xfrm']).split('\n').filter(Boolean).length;
}

async function once(kind: Kind, n: number, round: number): Promise<Run> {
  const ns = new Netns('xb-nfd');
  ns.batch(['link set lo up', 'link add wan0 type dummy', 'link set wan0 up']);
  const stack = await NetifdStack.start({
    ns,
    network: WAN + sections(n),
    daemon: kind === 'ours' ? 'process' : 'none',
    daemonNodeArgs: ROUTER_NODE_OPTIONS,
    ...(kind === 'stock' ? { handler: STOCK_COPY } : {}),
    deferNetifd: true,
    routerSocket: true,
    logName: `bench-${kind}-n${n}-r${round}`,
    ...(args.profile ? profiling(`bench-${kind}-n${n}-r${round}`, ns.name) : args['debug-log'] ? { daemonEnv: { XFRMD_LOG_LEVEL: 'debug' } } : {}),
  });
  const want = names(n);
  const limit = 120_000 + n * 8_000;
  try {
    // netifd start → all up
    let w = await allUp(stack, want, limit);
    let t0 = 0;
    await stack.startNetifd(() => (t0 = performance.now()));
    const start = (await w.at) - t0;
    await w.stop();
    await check(stack, want, ns);

    // take them away again; then reload with them back
    stack.writeNetwork(WAN);
    await stack.reload();
    await stack.waitFor('sections removed', (d) => want.every((x) => !d.has(x)), limit);
    await until(() => xfrmDevices(ns) === 0, 'devices gone', limit, 500);
    await new Promise((r) => setTimeout(r, 1000));
    stack.writeNetwork(WAN + sections(n));
    w = await allUp(stack, want, limit);
    t0 = performance.now();
    await stack.reload();
    const reload = (await w.at) - t0;
    await w.stop();
    await check(stack, want, ns);
    return { kind, n, round, start, reload };
  } finally {
    await stack.close();
    ns.destroy();
  }
}

/** Both handlers must have done the same: every section up on its own xfrm device. */
async function check(stack: Stack, want: string[], ns: InstanceType<typeof Netns>): Promise<void> {
  const d = await stack.dump();
  const bad = want.filter((x) => d.get(x)?.up !== true || d.get(x)?.l3_device !== x);
  if (bad.length) throw new Error(`not up on their own device: ${bad.slice(0, 5).join(' ')}`);
  const devs = xfrmDevices(ns);
  if (devs !== want.length) throw new Error(`${devs} xfrm devices, expected ${want.length}`);
}

if (!stackAvailable()) throw new Error('the OpenWrt stack is missing (.cache/openwrt-stack): scripts/host-deps.sh');
stockPrerequisites();
const runs: Run[] = [];
const tAll = performance.now();
for (const n of Ns) {
  for (let round = 0; round < rounds; round++) {
    for (const kind of args.kinds.split(',') as Kind[]) {
      const r = await once(kind, n, round);
      runs.push(r);
      console.log(`  n=${n} round ${round} ${kind.padEnd(5)}  start ${(r.start / 1000).toFixed(2)} s  reload ${(r.reload / 1000).toFixed(2)} s`);
    }
  }
}

const s = (ms: number) => (ms / 1000).toFixed(2);
console.log(`kernel ${process.env.XFRMD_GUEST_KERNEL_RELEASE ?? '?'}, ${rounds} rounds per N, interleaved; times in s (median); our daemon: node ${ROUTER_NODE_OPTIONS.join(' ') || '(no options)'}`);
console.log('     N   stock_start  ours_start  ratio   stock_reload  ours_reload  ratio');
const lines: string[] = [];
for (const n of Ns) {
  const pick = (kind: Kind, k: 'start' | 'reload') => median(runs.filter((r) => r.n === n && r.kind === kind).map((r) => r[k]));
  const ss = pick('stock', 'start');
  const os = pick('ours', 'start');
  const sr = pick('stock', 'reload');
  const or = pick('ours', 'reload');
  console.log(`${String(n).padStart(6)}   ${s(ss).padStart(10)}  ${s(os).padStart(10)}  ${(os / ss).toFixed(2).padStart(5)}   ${s(sr).padStart(11)}  ${s(or).padStart(11)}  ${(or / sr).toFixed(2).padStart(5)}`);
  lines.push(
    `netifd.n${n}_stock_start_s=${s(ss)}`,
    `netifd.n${n}_ours_start_s=${s(os)}`,
    `netifd.n${n}_stock_reload_s=${s(sr)}`,
    `netifd.n${n}_ours_reload_s=${s(or)}`,
    `netifd.start_ratio_vs_stock_n${n}=${(os / ss).toFixed(2)}`,
    `netifd.reload_ratio_vs_stock_n${n}=${(or / sr).toFixed(2)}`,
    // the worse of the two: the target is ≤ 0.5 for both
    `netifd.ratio_vs_stock_n${n}=${Math.max(os / ss, or / sr).toFixed(2)}`,
  );
}
for (const r of runs) lines.push(`netifd.raw_n${r.n}_r${r.round}_${r.kind}_start_s=${s(r.start)}`, `netifd.raw_n${r.n}_r${r.round}_${r.kind}_reload_s=${s(r.reload)}`);
console.log(lines.join('\n'));
console.log(`netifd.bench_s=${((performance.now() - tAll) / 1000).toFixed(0)}`);
