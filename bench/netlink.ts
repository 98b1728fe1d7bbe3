// 1000 rules + 1000 routes added then deleted (4000 requests) in a throw-away
// namespace, through src/netlink and through `ip -n NS -batch` of the same
// operations; median of RUNS runs each, interleaved. Prints, never asserts.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XFRMD_RTPROT, type RouteSpec, type RuleSpec } from '../src/model.ts';
import { Netlink } from '../src/netlink/index.ts';

const rssAtStart = process.memoryUsage().rss;
const RUNS = Number(process.env.BENCH_RUNS ?? 9);
const N = 1000;
const ns = `xnl-bench-${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), 'xfrmd-nlbench-'));

const route = (i: number): RouteSpec => ({ family: 4, dst: `10.${i >> 8}.${i & 255}.0`, dstLen: 24, table: 1000, type: 'unicast', dev: 'bn0', protocol: XFRMD_RTPROT });
const rule = (i: number): RuleSpec => ({ family: 4, priority: 1000 + i, action: 'lookup', table: 1000 + i, src: { addr: `172.16.${i >> 8}.${i & 255}`, len: 32 }, protocol: XFRMD_RTPROT });

function batchFile(): string {
  const add: string[] = [];
  const del: string[] = [];
  for (let i = 0; i < N; i++) {
    const r = route(i);
    add.push(`route add ${r.dst}/24 dev bn0 table 1000 proto ${XFRMD_RTPROT}`);
    del.push(`route del ${r.dst}/24 dev bn0 table 1000 proto ${XFRMD_RTPROT}`);
    const u = rule(i);
    add.push(`rule add prio ${u.priority} from ${u.src?.addr}/32 lookup ${u.table} proto ${XFRMD_RTPROT}`);
    del.push(`rule del prio ${u.priority} from ${u.src?.addr}/32 lookup ${u.table} proto ${XFRMD_RTPROT}`);
  }
  const f = join(dir, 'ops.batch');
  writeFileSync(f, [...add, ...del].join('\n') + '\n');
  return f;
}

async function viaNetlink(nl: Netlink): Promise<number> {
  const t0 = performance.now();
  await Promise.all(Array.from({ length: N }, (_, i) => [nl.addRoute(route(i)), nl.addRule(rule(i))]).flat());
  await Promise.all(Array.from({ length: N }, (_, i) => [nl.deleteRoute(route(i)), nl.deleteRule(rule(i))]).flat());
  return performance.now() - t0;
}

function viaIpBatch(file: string): number {
  const t0 = performance.now();
  execFileSync('ip', ['-n', ns, '-batch', file]);
  return performance.now() - t0;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1] ?? NaN;
};

execFileSync('ip', ['netns', 'add', ns]);
try {
  execFileSync('ip', ['-n', ns, 'link', 'add', 'bn0', 'type', 'veth', 'peer', 'name', 'bn1']);
  execFileSync('ip', ['-n', ns, 'link', 'set', 'bn0', 'up']);
  const file = batchFile();
  const nl = Netlink.open({ netns: ns });
  await viaNetlink(nl); // warm-up (JIT, name cache)
  viaIpBatch(file);
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    ours.push(await viaNetlink(nl));
    theirs.push(viaIpBatch(file));
  }
  nl.close();
  const a = median(ours);
  const b = median(theirs);
  console.log(`runs: ${RUNS}; 4000 requests per run; rss at start (node + tsx) ${(rssAtStart / 2 ** 20).toFixed(1)} MB; netlink ms ${ours.map((x) => x.toFixed(1)).join(' ')}; ip -batch ms ${theirs.map((x) => x.toFixed(1)).join(' ')}`);
  console.log(`netlink.ms=${a.toFixed(1)}`);
  console.log(`netlink.ip_batch_ms=${b.toFixed(1)}`);
  console.log(`netlink.ratio_vs_ip_batch=${(a / b).toFixed(2)}`);
  console.log(`netlink.rss_mb=${(process.resourceUsage().maxRSS / 1024).toFixed(1)}`);
} finally {
  execFileSync('ip', ['netns', 'del', ns]);
  rmSync(dir, { recursive: true, force: true });
}
