// N xfrm interfaces, each: 1 device, 1 address, a default route in its own table,
// 3 rules (full tunnel with exempt_mark: fwmark→main, suppress_prefixlength 0,
// lookup T), generated as one UCI network file and brought up exactly as
// `xfrmd apply` does (applyNetworkFile: validate + conflict-check the whole set
// once, plan, applyPlan per interface with a StateStore in a temp dir), then
// torn down as `xfrmd down` does (downAll → removeInstalled). Compared with
// `ip -n NS -batch -` of the same objects (renderIpCommands/splitBatch) and its
// teardown, each side in a fresh namespace. Prints, never asserts.
//
//   npm run bench -- scale [--n 100,1000,2000]      host: stand-in devices (veth reported as xfrm)
//   npm run bench -- scale --real --n 50            real xfrm devices (inside the kernel guest)
//   npm run bench -- scale --guest [--n 50]         boots the 6.12 guest and runs the --real form there
//   --state-dir DIR   where the temporary state dirs go; default /dev/shm (a tmpfs, like the
//                     daemon's /var/run/xfrmd on OpenWrt), else os.tmpdir()
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

/** The daemon keeps its state in /var/run, a tmpfs on OpenWrt: measure on a tmpfs too when there is one. */
function defaultStateRoot(): string {
  return existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
}
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { XFRMD_RTPROT } from '../src/model.ts';
import { NetlinkKernel } from '../src/netlink/kernel.ts';
import { renderIpCommands, renderIpDeleteCommands, splitBatch } from '../src/plan/plan.ts';
import type { Kernel } from '../src/reconcile/kernel.ts';
import { applyNetworkFile, downAll, loadNetworkFile } from '../src/standalone/apply.ts';
import { plan as buildPlan } from '../src/plan/plan.ts';
import { StateStore } from '../src/state/store.ts';
import { StandinKernel, standinIpLine, standinNetns } from '../test/support/standin-kernel.ts';

const { values: args } = parseArgs({
  // `npm run bench -- scale -- --n 1000` passes a literal `--` through: ignored
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: { n: { type: 'string' }, real: { type: 'boolean', default: false }, guest: { type: 'boolean', default: false }, 'state-dir': { type: 'string' } },
});

if (args.guest) {
  const n = args.n ?? '50';
  const t0 = performance.now();
  const r = spawnSync('test/kernel/guest.sh', ['--kernel', '6.12', '--', 'node', '--import', 'tsx', 'bench/scale.ts', '--real', '--n', n], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  process.stdout.write(r.stdout);
  const m = new RegExp(`^scale\\.n${n.split(',')[0]}_ratio_vs_ip_batch=(\\S+)$`, 'm').exec(r.stdout);
  console.log(`guest run: exit ${r.status}, ${((performance.now() - t0) / 1000).toFixed(0)} s wall`);
  console.log(`scale.guest_ratio_vs_ip_batch=${m ? m[1] : 'NaN'}`);
  process.exit(r.status ?? 1);
}

const Ns = (args.n ?? '100,1000,2000').split(',').map(Number);
const real = args.real;

/** One UCI file with n full-tunnel sections, distinct if_ids, addresses and rule priorities. */
function networkFile(n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      `config interface 'x${i}'`,
      `\toption proto 'xfrm'`,
      `\toption ifid '${i + 1}'`,
      `\tlist ipaddr '10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32'`,
      `\toption full_tunnel '1'`,
      `\toption exempt_mark '0x6'`,
      `\toption rule_priority '${10 + 4 * i}'`,
      '',
    );
  }
  return out.join('\n');
}

let nsCount = 0;
function freshNs(): string {
  const ns = `xscale-${process.pid}-${nsCount++}`;
  execFileSync('ip', ['netns', 'add', ns]);
  execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  if (!real) standinNetns(ns);
  return ns;
}
const delNs = (ns: string) => {
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  } catch {
    /* gone */
  }
};

function count(ns: string): { links: number; rules: number; routes: number } {
  // iproute2 6.1 ignores `rule show protocol P`: filter the detailed dumps here
  const j = (...a: string[]) => JSON.parse(execFileSync('ip', ['-n', ns, '-d', '-j', ...a], { encoding: 'utf8', maxBuffer: 1 << 28 }) || '[]') as Array<{ protocol?: string }>;
  const ours = (xs: Array<{ protocol?: string }>) => xs.filter((x) => x.protocol === String(XFRMD_RTPROT)).length;
  return { links: j('link', 'show').length, rules: ours([...j('rule', 'show'), ...j('-6', 'rule', 'show')]), routes: ours([...j('route', 'show', 'table', 'all'), ...j('-6', 'route', 'show', 'table', 'all')]) };
}

function ipBatch(ns: string, lines: string[], v6: boolean): number {
  if (!lines.length) return 0;
  const t0 = performance.now();
  execFileSync('ip', ['-n', ns, ...(v6 ? ['-6'] : []), '-batch', '-'], { input: lines.join('\n') + '\n', maxBuffer: 1 << 26 });
  return performance.now() - t0;
}

interface Row {
  n: number;
  validate: number;
  up: number;
  down: number;
  ipUp: number;
  ipDown: number;
  objects: string;
}

async function runOurs(n: number, text: string): Promise<Pick<Row, 'validate' | 'up' | 'down' | 'objects'>> {
  const ns = freshNs();
  const dir = mkdtempSync(join(args['state-dir'] ?? defaultStateRoot(), 'xfrmd-scale-'));
  const nk = new NetlinkKernel({ netns: ns });
  const kernel: Kernel = real ? nk : new StandinKernel(nk);
  try {
    let t0 = performance.now();
    loadNetworkFile(text); // the validation + conflict check alone (applyNetworkFile does it again, included in up)
    const validate = performance.now() - t0;
    const store = new StateStore(dir);
    t0 = performance.now();
    const rep = await applyNetworkFile(text, { kernel, store });
    const up = performance.now() - t0;
    if (rep.failed.length || rep.up.length !== n) throw new Error(`apply: ${rep.up.length} up, failed ${JSON.stringify(rep.failed.slice(0, 3))}`);
    const c = count(ns);
    t0 = performance.now();
    const removed = await downAll(kernel, store);
    const down = performance.now() - t0;
    if (removed.length !== n) throw new Error(`down removed ${removed.length}`);
    const after = count(ns);
    if (after.rules || after.routes) throw new Error(`left behind: ${JSON.stringify(after)}`);
    return { validate, up, down, objects: `links ${c.links} rules ${c.rules} routes ${c.routes}` };
  } finally {
    nk.close();
    delNs(ns);
    rmSync(dir, { recursive: true, force: true });
  }
}

function runIp(text: string): Pick<Row, 'ipUp' | 'ipDown'> {
  const { sections } = loadNetworkFile(text);
  const plans = sections.map((s) => buildPlan(s.config));
  const fix = (l: string) => (real ? l : standinIpLine(l));
  const up = splitBatch(plans.flatMap((p) => renderIpCommands(p).map(fix)));
  const down = splitBatch(plans.flatMap((p) => renderIpDeleteCommands(p)));
  const ns = freshNs();
  try {
    const ipUp = ipBatch(ns, up.inet, false) + ipBatch(ns, up.inet6, true);
    // rules and routes (v6 first, then v4 with the device deletions)
    const ipDown = ipBatch(ns, down.inet6, true) + ipBatch(ns, down.inet, false);
    return { ipUp, ipDown };
  } finally {
    delNs(ns);
  }
}

const rows: Row[] = [];
// warm-up: JIT, module loading, first namespace
{
  const t = networkFile(20);
  await runOurs(20, t);
  runIp(t);
}
for (const n of Ns) {
  const text = networkFile(n);
  const ours = await runOurs(n, text);
  const ip = runIp(text);
  rows.push({ n, ...ours, ...ip });
  globalThis.gc?.();
}

const f = (x: number) => x.toFixed(1).padStart(9);
console.log(`device kind: ${real ? 'xfrm (real)' : 'veth stand-in reported as xfrm'}; per interface 1 device, 1 address, 1 route, 3 rules`);
console.log('      N  validate_ms     up_ms   down_ms  ip_up_ms ip_down_ms  up/ip   objects');
for (const r of rows) {
  console.log(`${String(r.n).padStart(7)}  ${f(r.validate)}   ${f(r.up)} ${f(r.down)} ${f(r.ipUp)}  ${f(r.ipDown)}  ${(r.up / r.ipUp).toFixed(2).padStart(5)}   ${r.objects}`);
}
for (const r of rows) {
  console.log(`scale.n${r.n}_validate_ms=${r.validate.toFixed(1)}`);
  console.log(`scale.n${r.n}_up_ms=${r.up.toFixed(1)}`);
  console.log(`scale.n${r.n}_down_ms=${r.down.toFixed(1)}`);
  console.log(`scale.n${r.n}_ip_batch_up_ms=${r.ipUp.toFixed(1)}`);
  console.log(`scale.n${r.n}_ip_batch_down_ms=${r.ipDown.toFixed(1)}`);
  console.log(`scale.n${r.n}_ratio_vs_ip_batch=${(r.up / r.ipUp).toFixed(2)}`);
}
const r1000 = rows.find((r) => r.n === 1000);
const r2000 = rows.find((r) => r.n === 2000);
if (r1000 && r2000) console.log(`scale.n2000_over_n1000=${(r2000.up / r1000.up).toFixed(2)}`);
console.log(`scale.rss_mb=${(process.resourceUsage().maxRSS / 1024).toFixed(1)}`);
