// The planner + reconciler through the REAL netlink layer (src/netlink) in
// throw-away namespaces of the host kernel. The host has no xfrm link kind, so
// the device is the test stand-in (a veth reported as xfrm, test/support/
// standin-kernel.ts); addresses, routes and rules are the kernel's own, and are
// checked with `ip -j` dumps parsed as JSON.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import JSON5 from 'json5';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig, type RawConfig } from '../../src/config/validate.ts';
import { InterfaceManager } from '../../src/daemon/manager.ts';
import { resync } from '../../src/daemon/resync.ts';
import { Netifd } from '../../src/daemon/netifd.ts';
import { silentLogger } from '../../src/log.ts';
import { XFRMD_RTPROT, type RouteSpec, type RuleSpec } from '../../src/model.ts';
import { NetlinkKernel } from '../../src/netlink/kernel.ts';
import { plan, type Facts, type Plan } from '../../src/plan/plan.ts';
import type { Kernel } from '../../src/reconcile/kernel.ts';
import { applyPlan, removeInstalled, type Installed } from '../../src/reconcile/reconcile.ts';
import { applyNetworkFile, downAll } from '../../src/standalone/apply.ts';
import { StateStore } from '../../src/state/store.ts';
import { StandinKernel, standinNetns } from '../support/standin-kernel.ts';

// ---- namespaces ----
let nsSeq = 0;
const made: string[] = [];
function makeNs(tag: string): string {
  const ns = `xrc-${tag}-${process.pid}-${nsSeq++}`;
  execFileSync('ip', ['netns', 'add', ns]);
  made.push(ns);
  execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  standinNetns(ns);
  return ns;
}
const ip = (ns: string, ...a: string[]) => execFileSync('ip', ['-n', ns, ...a], { encoding: 'utf8' });
const ipj = (ns: string, ...a: string[]): Array<Record<string, unknown>> => JSON.parse(ip(ns, '-d', '-j', ...a) || '[]') as Array<Record<string, unknown>>;

const kernels: NetlinkKernel[] = [];
const dirs: string[] = [];
function standin(ns: string): StandinKernel {
  const k = new NetlinkKernel({ netns: ns });
  kernels.push(k);
  return new StandinKernel(k);
}
function tmpDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'xfrmd-netns-'));
  dirs.push(d);
  return d;
}

afterAll(() => {
  for (const k of kernels) k.close();
  for (const ns of made) {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // gone
    }
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

// ---- ip -j → the model's shapes (canonical, so the plan compares with toEqual) ----
const TABLES: Record<string, number> = { main: 254, default: 253, local: 255 };
const table = (t: unknown): number => (typeof t === 'string' && t in TABLES ? TABLES[t]! : Number(t));
const num = (x: unknown): number => (typeof x === 'string' ? Number(x) : (x as number));

function prefix(addr: unknown, len: unknown, family: 4 | 6): { addr: string; len: number } | undefined {
  if (addr === undefined || addr === 'all') return undefined;
  const a = String(addr);
  if (a === 'default') return { addr: family === 4 ? '0.0.0.0' : '::', len: 0 };
  const [x, l] = a.split('/');
  return { addr: x!, len: len !== undefined ? num(len) : l !== undefined ? Number(l) : family === 4 ? 32 : 128 };
}

function ruleOf(j: Record<string, unknown>, family: 4 | 6): RuleSpec {
  const r: RuleSpec = { family, priority: num(j.priority), action: 'lookup', protocol: num(j.protocol) };
  const src = prefix(j.src, j.srclen, family);
  const dst = prefix(j.dst, j.dstlen, family);
  if (src) r.src = src;
  if (dst) r.dst = dst;
  if (j.fwmark !== undefined) {
    r.fwmark = num(j.fwmark);
    r.fwmask = j.fwmask !== undefined ? num(j.fwmask) : 0xffffffff;
  }
  if ('not' in j) r.invert = true;
  if (j.table !== undefined) r.table = table(j.table);
  if (j.suppress_prefixlen !== undefined) r.suppressPrefixLength = num(j.suppress_prefixlen); // iproute2's JSON key
  return r;
}

function routeOf(j: Record<string, unknown>, family: 4 | 6): RouteSpec {
  const d = prefix(j.dst, undefined, family)!;
  const r: RouteSpec = { family, dst: d.addr, dstLen: d.len, table: table(j.table ?? 'main'), type: (j.type as RouteSpec['type'] | undefined) ?? 'unicast', protocol: num(j.protocol) };
  if (j.dev !== undefined) r.dev = String(j.dev);
  if (j.gateway !== undefined) r.gateway = String(j.gateway);
  if (j.prefsrc !== undefined) r.prefsrc = String(j.prefsrc);
  if (j.metric !== undefined) r.metric = num(j.metric);
  const mtu = (j.metrics as Array<Record<string, unknown>> | undefined)?.find((m) => m.mtu !== undefined)?.mtu;
  if (mtu !== undefined) r.mtu = num(mtu);
  return r;
}

/** Our rules and routes (proto 88) as the kernel shows them through iproute2, sorted. */
function ours(ns: string): { rules: RuleSpec[]; routes: RouteSpec[] } {
  const tagged = (xs: Array<Record<string, unknown>>) => xs.filter((x) => x.protocol === String(XFRMD_RTPROT));
  const rules = [...tagged(ipj(ns, '-4', 'rule', 'show')).map((j) => ruleOf(j, 4)), ...tagged(ipj(ns, '-6', 'rule', 'show')).map((j) => ruleOf(j, 6))];
  const routes = [...tagged(ipj(ns, '-4', 'route', 'show', 'table', 'all')).map((j) => routeOf(j, 4)), ...tagged(ipj(ns, '-6', 'route', 'show', 'table', 'all')).map((j) => routeOf(j, 6))];
  return { rules: sortBy(rules), routes: sortBy(routes) };
}
function sortKeys(x: object): object {
  return Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1)));
}
function sortBy<T>(xs: T[]): T[] {
  return [...xs].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
}
/** A planned rule as the kernel reports it (optional fields filled in / dropped the same way). */
function canonRule(r: RuleSpec): RuleSpec {
  const x: RuleSpec = { ...r };
  if (x.invert === false) delete x.invert;
  if (x.fwmark !== undefined) x.fwmask ??= 0xffffffff;
  return x;
}
/** The plan's rules/routes in the same canonical form. */
function expected(plans: Plan[]): { rules: RuleSpec[]; routes: RouteSpec[] } {
  return { rules: sortBy(plans.flatMap((p) => p.rules.map(canonRule))), routes: sortBy(plans.flatMap((p) => p.routes)) };
}

/** Everything that can tell two kernel states apart, for "exactly as before". */
function fullDump(ns: string): unknown {
  const strip = (xs: Array<Record<string, unknown>>) => xs.map(({ stats64: _s, ...x }) => x);
  return {
    links: strip(ipj(ns, 'link', 'show')),
    addrs: ipj(ns, 'address', 'show'),
    rules4: ipj(ns, '-4', 'rule', 'show'),
    rules6: ipj(ns, '-6', 'rule', 'show'),
    routes4: ipj(ns, '-4', 'route', 'show', 'table', 'all'),
    routes6: ipj(ns, '-6', 'route', 'show', 'table', 'all'),
  };
}

/** A few objects that are not ours, which nothing of ours may touch. */
function addForeign(ns: string): void {
  ip(ns, 'link', 'add', 'wan0', 'type', 'veth', 'peer', 'name', 'wan1');
  ip(ns, 'link', 'set', 'wan0', 'up');
  ip(ns, 'address', 'add', '192.0.2.1/24', 'dev', 'wan0');
  ip(ns, 'route', 'add', '198.51.100.0/24', 'via', '192.0.2.254', 'table', '50', 'proto', 'static');
  ip(ns, 'route', 'add', 'default', 'via', '192.0.2.254');
  ip(ns, 'rule', 'add', 'prio', '99', 'fwmark', '0x77', 'lookup', '50');
  ip(ns, '-6', 'rule', 'add', 'prio', '5000', 'from', 'fd99::/64', 'lookup', 'main', 'proto', 'boot');
}

// ---- the recipes ----
interface Fixture {
  recipe: string;
  sections: Array<{ section: string; options: RawConfig; facts?: Facts }>;
  conflicts?: string[];
}
const fxDir = join(import.meta.dirname, '../fixtures/plans');
const fixtures = readdirSync(fxDir)
  .filter((f) => f.endsWith('.json5'))
  .sort()
  .map((f) => ({ file: f, fx: JSON5.parse(readFileSync(join(fxDir, f), 'utf8')) as Fixture }))
  // fixtures that are about refusals between sections are not a kernel state
  .filter(({ fx }) => !fx.conflicts?.length);

/** The fixture's plans, with its parent facts replaced by the namespace's real wan0. */
async function plansIn(k: Kernel, fx: Fixture): Promise<Plan[]> {
  const wan = await k.getLink('wan0');
  return fx.sections.map((s) => {
    const r = validateConfig(s.options, s.section, { strict: true });
    if (!r.ok) throw new Error(`${s.section}: ${r.errors.map((e) => e.code).join(', ')}`);
    return plan(r.config, s.facts?.parent ? { parent: { ifindex: wan!.index, name: 'wan0' } } : {});
  });
}

/** Counts the mutating calls that reach the kernel. */
function counting(k: Kernel): { kernel: Kernel; calls: string[] } {
  const calls: string[] = [];
  const kernel = new Proxy(k, {
    get(t, p, r) {
      const v = Reflect.get(t, p, r) as unknown;
      if (typeof v !== 'function') return v;
      return (...a: unknown[]) => {
        if (/^(add|delete|create|set)/.test(String(p))) calls.push(String(p));
        return (v as (...x: unknown[]) => unknown).apply(t, a);
      };
    },
  });
  return { kernel, calls };
}

/** Throws on the nth call (1-based) of `op`. */
function failing(k: Kernel, op: keyof Kernel, nth: number): Kernel {
  let n = 0;
  return new Proxy(k, {
    get(t, p, r) {
      const v = Reflect.get(t, p, r) as unknown;
      if (typeof v !== 'function') return v;
      return (...a: unknown[]) => {
        if (p === op && ++n === nth) return Promise.reject(Object.assign(new Error('injected'), { code: 'ENOBUFS' }));
        return (v as (...x: unknown[]) => unknown).apply(t, a);
      };
    },
  });
}

describe.each(fixtures)('$fx.recipe ($file) on the host kernel', ({ fx }) => {
  let ns: string;
  let k: StandinKernel;
  let plans: Plan[];
  let foreignBefore: unknown;
  const installed: Installed[] = [];

  beforeAll(async () => {
    ns = makeNs('fx');
    addForeign(ns);
    k = standin(ns);
    plans = await plansIn(k, fx);
    foreignBefore = fullDump(ns);
  });

  it('rollback: a failure on the 2nd addRule (or the last step) leaves the kernel exactly as before', async () => {
    const rules = plans.flatMap((p) => p.rules).length;
    const before = fullDump(ns);
    for (const [i, p] of plans.entries()) {
      const op: keyof Kernel = p.rules.length ? 'addRule' : p.routes.length ? 'addRoute' : 'addAddress';
      const nth = op === 'addRule' ? Math.min(2, p.rules.length) : 1;
      if (op === 'addAddress' && !p.addresses.length) continue;
      await expect(applyPlan(failing(k, op, nth), p)).rejects.toMatchObject({ code: expect.any(String) as string });
      expect(fullDump(ns), `section ${i} (${rules} rules)`).toEqual(before);
    }
  });

  it('applyPlan installs exactly the plan; the device is up with the planned MTU and addresses', async () => {
    for (const p of plans) installed.push(await applyPlan(k, p));
    expect(ours(ns)).toEqual(expected(plans));
    for (const p of plans) {
      const [l] = ipj(ns, 'address', 'show', 'dev', p.link.name) as Array<{ mtu: number; flags: string[]; addr_info: Array<{ local: string; prefixlen: number; scope: string }> }>;
      expect(l!.mtu).toBe(p.link.mtu);
      expect(l!.flags).toContain('UP');
      const got = l!.addr_info.filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`).sort();
      expect(got).toEqual(p.addresses.map((a) => `${a.address}/${a.prefixLen}`).sort());
    }
  });

  it('re-applying with the previous state makes no kernel change', async () => {
    const c = counting(k);
    const before = fullDump(ns);
    for (const [i, p] of plans.entries()) installed[i] = await applyPlan(c.kernel, p, { previous: installed[i]! });
    expect(c.calls).toEqual([]);
    expect(fullDump(ns)).toEqual(before);
  });

  it('removeInstalled leaves nothing of ours and the foreign objects untouched', async () => {
    for (const i of installed) await removeInstalled(k, i);
    expect(ours(ns)).toEqual({ rules: [], routes: [] });
    expect(fullDump(ns)).toEqual(foreignBefore);
  });
});

describe('xfrmd apply (applyNetworkFile) on examples/network with the stand-in', () => {
  const text = readFileSync(join(import.meta.dirname, '../../examples/network'), 'utf8');
  let ns: string;
  let k: StandinKernel;
  let store: StateStore;
  let before: unknown;

  beforeAll(() => {
    ns = makeNs('apply');
    addForeign(ns);
    k = standin(ns);
    store = new StateStore(tmpDir());
    before = fullDump(ns);
  });

  it('brings every section up, re-applies without change, and downAll leaves nothing', async () => {
    const r = await applyNetworkFile(text, { kernel: k, store });
    expect(r.failed).toEqual([]);
    expect(r.up.sort()).toEqual(['branch1', 'branch2', 'rw0', 'site0']);
    const { rules, routes } = ours(ns);
    expect(rules.length).toBeGreaterThan(0);
    expect(routes.length).toBeGreaterThan(0);
    for (const name of r.up) expect((await k.getLink(name))?.kind).toBe('xfrm');

    const dump = fullDump(ns);
    const c = counting(k);
    const again = await applyNetworkFile(text, { kernel: c.kernel, store });
    expect(again.failed).toEqual([]);
    expect(c.calls).toEqual([]);
    expect(fullDump(ns)).toEqual(dump);

    expect((await downAll(k, store)).sort()).toEqual(['branch1', 'branch2', 'rw0', 'site0']);
    expect(ours(ns)).toEqual({ rules: [], routes: [] });
    expect(fullDump(ns)).toEqual(before);
    expect(store.all()).toEqual([]);
  });
});

describe('crash safety: a lost state file, then the daemon resync', () => {
  it('removes the tagged routes and rules nobody owns, keeps the others', async () => {
    const ns = makeNs('crash');
    addForeign(ns);
    const k = standin(ns);
    const store = new StateStore(tmpDir());
    const text = readFileSync(join(import.meta.dirname, '../../examples/network'), 'utf8');
    const r = await applyNetworkFile(text, { kernel: k, store });
    expect(r.failed).toEqual([]);
    const all = ours(ns);

    // the crash: branch2's record never made it to disk
    const lost = store.load('branch2')!;
    store.remove('branch2');
    const kept = store.all();

    // netifd has every section up (and the wan they follow)
    const bus = {
      call: (path: string, method: string): Promise<Array<Record<string, unknown>>> => {
        if (method === 'dump') return Promise.resolve([{ interface: r.up.map((name) => ({ interface: name, up: true, proto: 'xfrm', available: true, autostart: true })) }]);
        if (path === 'network.interface.wan' && method === 'status') return Promise.resolve([{ up: true, proto: 'static', l3_device: 'wan0', device: 'wan0' }]);
        return Promise.resolve([]);
      },
    };
    const m = new InterfaceManager({ kernel: k, netifd: new Netifd(bus), store, log: silentLogger, retryMs: 10 });
    const res = await resync(m, 'test');
    expect(res?.released).toEqual([]);
    expect(res?.adopted.sort()).toEqual(kept.map((x) => x.name).sort());
    expect(res?.strays).toBe(lost.installed.rules.length + lost.installed.routes.length);

    const left = ours(ns);
    const lostKeys = new Set([...lost.installed.rules.map(canonRule), ...lost.installed.routes].map((x) => JSON.stringify(sortKeys(x))));
    const keep = <T extends object>(xs: T[]) => xs.filter((x) => !lostKeys.has(JSON.stringify(sortKeys(x))));
    expect(lostKeys.size).toBeGreaterThan(0);
    expect(left).toEqual({ rules: keep(all.rules), routes: keep(all.routes) });

    await downAll(k, store);
    // the device of the lost interface is not known to be ours: it stays (untagged, not ours to delete)
    expect(ours(ns)).toEqual({ rules: [], routes: [] });
  });
});
