// Memory of the daemon process, as a router runs it: under OpenWrt's real ubusd and netifd (the
// netifd-stack harness, here on the host in a network namespace), started by plain node with
// the options of files/etc/init.d/xfrmd, stdout and stderr on pipes (procd's log).
//   0 interfaces      the shipped bundle (dist/xfrmd.cjs); bare `node` idle beside it
//   N interfaces      the same daemon bundled with the stand-in kernel (test/support/
//                     standin-daemon.ts: the host has no XFRM devices; veth pairs stand in),
//                     N `proto xfrm` sections (ifid, tunlink wan, one address, one route) up
// RSS is read from /proc/PID/status once everything is up and the daemon has been idle a few
// seconds (after its SA summary refresh). With --settings, every V8/Node option of SETTINGS is
// measured the same way: idle RSS, RSS with 100 interfaces, and what it costs in time (start to
// the ubus object; the daemon's CPU time for bringing 100 interfaces up, which on the host is
// netifd-bound in wall time). Prints, never asserts.
//
//   npm run bench -- rss [--n 0,100,1000] [--settings]
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { bundleDaemon, REPO } from '../scripts/bundle.ts';
import { Netns } from '../test/kernel/lib.ts';
import { NetifdStack, stackAvailable, WAN } from '../test/kernel/netifd-stack.ts';
import { routerNodeOptions } from '../test/support/procd.ts';
import { standinNetns } from '../test/support/standin-kernel.ts';

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: { n: { type: 'string', default: '0,100,1000' }, settings: { type: 'boolean', default: false } },
});

/** V8/Node options tried, one at a time (and the adopted set, if any, is what the init script has). */
const SETTINGS: Array<{ name: string; opts: string[] }> = [
  { name: 'none', opts: [] },
  { name: 'semi-space 1 MB', opts: ['--max-semi-space-size=1'] },
  { name: 'semi-space 2 MB', opts: ['--max-semi-space-size=2'] },
  { name: 'optimize-for-size', opts: ['--optimize-for-size'] },
  { name: 'max-old-space 32 MB', opts: ['--max-old-space-size=32'] },
  { name: 'no optimizing JIT', opts: ['--max-opt=1'] },
  { name: 'lite-mode', opts: ['--lite-mode'] },
  { name: 'jitless', opts: ['--jitless'] },
  { name: 'lite-mode, semi-space 1', opts: ['--lite-mode', '--max-semi-space-size=1'] },
];

interface Mem {
  rss: number;
  anon: number;
  file: number;
  /** the node binary's code (r-x) and read-only data (r--: V8's snapshot, embedded JS sources, ICU) */
  nodeText: number;
  nodeRodata: number;
}

function memOf(pid: number): Mem {
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(st)?.[1] ?? NaN) / 1024;
  let nodeText = 0;
  let nodeRodata = 0;
  let perm = '';
  let path = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      perm = head[1]!;
      path = head[2]!;
      continue;
    }
    const rss = /^Rss:\s+(\d+)/.exec(line);
    if (!rss || path !== process.execPath) continue;
    if (perm.startsWith('r-x')) nodeText += Number(rss[1]) / 1024;
    else if (perm.startsWith('r--')) nodeRodata += Number(rss[1]) / 1024;
  }
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile'), nodeText, nodeRodata };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** bare node, idle, stdout on a pipe */
async function bareNode(): Promise<Mem> {
  const p = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)'], { stdio: ['ignore', 'pipe', 'pipe'] });
  await sleep(2000);
  const m = memOf(p.pid!);
  p.kill();
  return m;
}

const names = (n: number) => Array.from({ length: n }, (_, i) => `x${i}`);
const sections = (n: number) =>
  names(n)
    .map((name, i) => `\nconfig interface '${name}'\n\toption proto 'xfrm'\n\toption ifid '${i + 1}'\n\toption tunlink 'wan'\n\tlist ipaddr '10.${100 + (i >> 8)}.${i & 255}.1/32'\n\tlist route '172.${16 + (i >> 8)}.${i & 255}.0/24'\n`)
    .join('');

/** CPU time (user + system) the process has used, in ms */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime, stime: fields 14 and 15 of stat, in clock ticks (100 per second on Linux)
  return (Number(f[11]) + Number(f[12])) * 10;
}

interface Run {
  mem: Mem;
  /** daemon CPU time from netifd's start until every section was up */
  upCpuMs: number;
  /** spawn → the daemon logged "xfrmd running" (its ubus object is there) */
  startMs: number;
  /** netifd spawned → every section up */
  upMs: number;
}

async function run(n: number, script: string, nodeOpts: string[]): Promise<Run> {
  const ns = new Netns('xrss');
  ns.batch(['link set lo up', 'link add wan0 type veth peer name wan0p', 'link set wan0 up', 'link set wan0p up']);
  standinNetns(ns.name);
  const t0 = performance.now();
  const stack = await NetifdStack.start({ ns, network: WAN + sections(n), daemon: 'process', daemonScript: script, daemonNodeArgs: nodeOpts, deferNetifd: true, routerSocket: true, logName: `rss-${n}` });
  const startMs = performance.now() - t0;
  try {
    const want = new Set(names(n));
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    if (!want.size) done();
    const l = await stack.client.listen('network.interface', (_e, d) => {
      if (d.action === 'ifup' && want.delete(String(d.interface)) && !want.size) done();
    });
    let t1 = 0;
    const pid = stack.daemonPid;
    if (pid === undefined) throw new Error('no daemon process');
    const cpu0 = cpuMs(pid);
    await stack.startNetifd(() => (t1 = performance.now()));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${want.size} of ${n} not up`)), 300_000)));
    // the timer must not outlive the wait (it kept the benchmark running 5 minutes after its last line)
    await Promise.race([all, late]).finally(() => clearTimeout(timer));
    const upMs = performance.now() - t1;
    const upCpuMs = cpuMs(pid) - cpu0;
    await l.close();
    await stack.waitUp(['wan']);
    // idle: after the resync that follows netifd's start and the SA summary refresh
    await sleep(5000);
    return { mem: memOf(pid), startMs, upMs, upCpuMs };
  } finally {
    await stack.close();
    ns.destroy();
  }
}

if (!stackAvailable()) throw new Error('the OpenWrt stack is missing (.cache/openwrt-stack): scripts/host-deps.sh');
const shipped = join(REPO, 'dist/xfrmd.cjs');
if (!existsSync(shipped)) throw new Error('dist/xfrmd.cjs missing: npm run build');
mkdirSync(join(REPO, '.cache/bench'), { recursive: true });
const standin = join(REPO, '.cache/bench/standin-daemon.cjs');
await bundleDaemon(standin, join(REPO, 'test/support/standin-daemon.ts'));
const adopted = routerNodeOptions();

const f = (x: number) => x.toFixed(1);
const bare = await bareNode();
const lines: string[] = [];
console.log(`node ${process.version}; node options of the init script: ${adopted.join(' ') || '(none)'}`);
const parts = (m: Mem) => `anon ${f(m.anon)}, file ${f(m.file)}: node code ${f(m.nodeText)}, node read-only data ${f(m.nodeRodata)}`;
console.log(`bare node idle: ${f(bare.rss)} MB (${parts(bare)})`);
lines.push(`rss.bare_node_mb=${f(bare.rss)}`);
for (const n of args.n.split(',').map(Number)) {
  // 0: the shipped bundle itself; with interfaces the stand-in kernel's (and at 0 too, for comparison)
  const r = await run(n, n === 0 ? shipped : standin, adopted);
  console.log(`${String(n).padStart(5)} interfaces: ${f(r.mem.rss)} MB (${parts(r.mem)})${n === 0 ? ', dist/xfrmd.cjs' : ''}; netifd start → all up ${f(r.upMs / 1000)} s, daemon CPU ${r.upCpuMs} ms`);
  lines.push(`rss.n${n}_mb=${f(r.mem.rss)}`, `rss.n${n}_anon_mb=${f(r.mem.anon)}`, `rss.n${n}_file_mb=${f(r.mem.file)}`);
  if (n === 0) lines.push(`rss.idle_over_bare_node_mb=${f(r.mem.rss - bare.rss)}`);
}

if (args.settings) {
  console.log('\nV8/Node options, each alone (stand-in bundle; idle = 0 interfaces, start = spawn → ubus object, cpu = daemon CPU for 100 setups):');
  console.log('  setting                 idle_mb  n100_mb  start_ms  cpu100_ms');
  for (const s of SETTINGS) {
    const idle = await run(0, standin, s.opts);
    const hundred = await run(100, standin, s.opts);
    console.log(`  ${s.name.padEnd(22)} ${f(idle.mem.rss).padStart(8)} ${f(hundred.mem.rss).padStart(8)} ${idle.startMs.toFixed(0).padStart(9)} ${hundred.upCpuMs.toFixed(0).padStart(10)}`);
    const key = s.name.replace(/[^a-z0-9]+/g, '_');
    lines.push(`rss.setting_${key}_idle_mb=${f(idle.mem.rss)}`, `rss.setting_${key}_n100_mb=${f(hundred.mem.rss)}`, `rss.setting_${key}_start_ms=${idle.startMs.toFixed(0)}`, `rss.setting_${key}_cpu100_ms=${hundred.upCpuMs.toFixed(0)}`);
  }
}
console.log(lines.join('\n'));
