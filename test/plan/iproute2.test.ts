// The rendered commands against the real iproute2 and kernel: every golden plan
// is fed to `ip -batch` in a throw-away network namespace (XFRM devices replaced
// by bridges, which this host kernel has; DAD off, as on IFF_NOARP xfrm
// devices), then `ip -j rule/route show` is read back and compared with the
// plan's RuleSpec/RouteSpec lists: what we render is what we mean, and what the
// kernel reports is what we plan (e.g. IPv6 metric 1024). Skipped where
// unprivileged namespaces or iproute2 are not available.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import JSON5 from 'json5';
import { validateOrThrow, type RawConfig } from '../../src/config/validate.ts';
import { plan, renderIpCommands, splitBatch, type Facts, type Plan } from '../../src/plan/plan.ts';
import type { Family, RouteSpec, RuleSpec } from '../../src/model.ts';

const canRun = (() => {
  const r = spawnSync('unshare', ['-rn', 'sh', '-c', 'ip link add xfrmdprobe type bridge'], { encoding: 'utf8' });
  return r.status === 0;
})();

const TABLES: Record<string, number> = { main: 254, default: 253, local: 255 };
type Json = Record<string, unknown>;

function ruleFromJson(family: Family, j: Json): RuleSpec {
  const r: RuleSpec = { family, priority: Number(j.priority), action: 'lookup', table: TABLES[String(j.table)] ?? Number(j.table), protocol: Number(j.protocol) };
  const full = family === 4 ? 32 : 128;
  if (j.src !== undefined && j.src !== 'all') r.src = { addr: String(j.src), len: Number(j.srclen ?? full) };
  if (j.dst !== undefined) r.dst = { addr: String(j.dst), len: Number(j.dstlen ?? full) };
  if (j.fwmark !== undefined) {
    r.fwmark = parseInt(String(j.fwmark), 16);
    r.fwmask = j.fwmask !== undefined ? parseInt(String(j.fwmask), 16) : 0xffffffff;
  }
  if ('not' in j) r.invert = true;
  if (j.suppress_prefixlen !== undefined) r.suppressPrefixLength = Number(j.suppress_prefixlen);
  return r;
}

function routeFromJson(family: Family, j: Json): RouteSpec {
  const dst = String(j.dst);
  const [addr, len] = dst === 'default' ? [family === 4 ? '0.0.0.0' : '::', 0] : [dst.split('/')[0] ?? '', Number(dst.split('/')[1] ?? (family === 4 ? 32 : 128))];
  const r: RouteSpec = { family, dst: addr, dstLen: len, table: j.table === undefined ? 254 : (TABLES[String(j.table)] ?? Number(j.table)), type: 'unicast', dev: String(j.dev), protocol: 88 };
  if (j.prefsrc !== undefined) r.prefsrc = String(j.prefsrc);
  if (j.metric !== undefined) r.metric = Number(j.metric);
  const mtu = Array.isArray(j.metrics) ? (j.metrics as Json[]).find((m) => m.mtu !== undefined)?.mtu : undefined;
  if (mtu !== undefined) r.mtu = Number(mtu);
  return r;
}

const sortKey = (x: unknown) => JSON.stringify(x);
const sorted = <T>(xs: T[]) => [...xs].sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : 1));

function runInNetns(plans: Plan[]): { rules: RuleSpec[]; routes: RouteSpec[]; stderr: string; status: number | null } {
  const lines = plans.flatMap(renderIpCommands);
  const parents = [...new Set(lines.flatMap((l) => /^link add \S+ mtu \d+ type xfrm dev (\S+)/.exec(l)?.[1] ?? []))];
  const { inet, inet6 } = splitBatch(lines.map((l) => l.replace(/^link add (\S+) mtu (\d+) type xfrm.*$/, 'link add $1 mtu $2 type bridge')));
  const dir = mkdtempSync(join(tmpdir(), 'xfrmd-ip-'));
  try {
    writeFileSync(join(dir, 'b4'), `${inet.join('\n')}\n`);
    writeFileSync(join(dir, 'b6'), `${inet6.join('\n')}\n`);
    const script = [
      'set -e',
      'echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad',
      'echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad',
      ...parents.map((p) => `ip link add '${p}' type bridge && ip link set '${p}' up`),
      `ip -batch '${dir}/b4'`,
      inet6.length ? `ip -6 -batch '${dir}/b6'` : 'true',
      'echo "#R4"; ip -4 -j rule show', 'echo "#R6"; ip -6 -j rule show',
      'echo "#T4"; ip -4 -j route show table all proto 88', 'echo "#T6"; ip -6 -j route show table all proto 88',
    ].join('\n');
    const r = spawnSync('unshare', ['-rn', 'sh', '-c', script], { encoding: 'utf8' });
    const part = (tag: string) => {
      const m = new RegExp(`#${tag}\\n(.*)`).exec(r.stdout);
      return m?.[1] ? (JSON.parse(m[1]) as Json[]) : [];
    };
    const rules = [
      ...part('R4').filter((j) => j.protocol === '88').map((j) => ruleFromJson(4, j)),
      ...part('R6').filter((j) => j.protocol === '88').map((j) => ruleFromJson(6, j)),
    ];
    const routes = [...part('T4').map((j) => routeFromJson(4, j)), ...part('T6').map((j) => routeFromJson(6, j))];
    return { rules, routes, stderr: r.stderr, status: r.status };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const dir = join(import.meta.dirname, '../fixtures/plans');
const fixtures = readdirSync(dir).filter((f) => f.endsWith('.json5')).sort();

describe.skipIf(!canRun)('golden plans through iproute2 and the kernel', () => {
  for (const file of fixtures) {
    it(file, () => {
      const fx = JSON5.parse(readFileSync(join(dir, file), 'utf8')) as { sections: Array<{ section: string; options: RawConfig; facts?: Facts }> };
      const plans = fx.sections.map((s) => plan(validateOrThrow(s.options, s.section), s.facts ?? {}));
      const got = runInNetns(plans);
      expect(got.stderr).toBe('');
      expect(got.status).toBe(0);
      expect(sorted(got.rules)).toEqual(sorted(plans.flatMap((p) => p.rules)));
      expect(sorted(got.routes)).toEqual(sorted(plans.flatMap((p) => p.routes)));
    });
  }
});
