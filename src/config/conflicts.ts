// Checks across all `proto 'xfrm'` sections, for the daemon (before setting one
// up, against the others it runs) and for `xfrmd apply` on a whole file.
//
// Policy: the first section in the given order keeps what it has; every later
// section that collides gets an issue naming the earlier one. Rules of
// different sections may share a priority unless the order between them could
// change where a packet goes: one packet matches both, they lead to different
// tables, and BOTH tables hold a route for its destination. (A lookup in a
// table without a matching route falls through to the next rule, so if only
// one of the tables can answer, the order does not matter.) That case is
// PRIORITY_CONFLICT, and the message proposes a free rule_priority. The routes
// of a table are the ones xfrmd's sections plan into it; main, default and
// local hold routes xfrmd does not know, so they count as answering for every
// destination (as does a `suppress_prefixlength` lookup).
//
// checkConflictsFor(candidate, running) is the daemon's call when one interface
// comes up: linear in the running ones. Plans are remembered per config object
// (WeakMap), so configs must not be mutated after validation.
//
// Codes: DUPLICATE_IFID, DUPLICATE_EXTERNAL, TABLE_CONFLICT (a derived table is
// used by another section too), ROUTE_CONFLICT (two sections route the same
// prefix with the same metric into one explicitly shared table),
// PRIORITY_CONFLICT.
import type { Family, RouteSpec, RuleSpec } from '../model.ts';
import { planRouting, tableIsExplicit, TABLE_MAIN } from '../plan/plan.ts';
import { tableName } from '../plan/render.ts';
import { parseAddress } from './ip.ts';
import type { Issue, ValidatedConfig } from './validate.ts';

/** A rule with its selectors as numbers, for fast pairwise comparison. */
interface Compiled {
  rule: RuleSpec;
  bits: bigint;
  src?: { v: bigint; len: number };
  dst?: { v: bigint; len: number };
}

function compileSel(s: { addr: string; len: number } | undefined): { v: bigint; len: number } | undefined {
  if (!s) return undefined;
  const a = parseAddress(s.addr);
  return a ? { v: a.value, len: s.len } : undefined;
}

function compile(rule: RuleSpec): Compiled {
  const c: Compiled = { rule, bits: rule.family === 4 ? 32n : 128n };
  const src = compileSel(rule.src);
  const dst = compileSel(rule.dst);
  if (src) c.src = src;
  if (dst) c.dst = dst;
  return c;
}

function selOverlap(bits: bigint, a?: { v: bigint; len: number }, b?: { v: bigint; len: number }): boolean {
  if (!a || !b) return true;
  const shift = bits - BigInt(Math.min(a.len, b.len));
  return a.v >> shift === b.v >> shift;
}

function compiledOverlap(a: Compiled, b: Compiled): boolean {
  const x = a.rule;
  const y = b.rule;
  if (x.family !== y.family) return false;
  if (x.invert || y.invert) return true;
  if (!selOverlap(a.bits, a.src, b.src) || !selOverlap(a.bits, a.dst, b.dst)) return false;
  if (x.fwmark !== undefined && y.fwmark !== undefined) {
    const common = (x.fwmask ?? 0xffffffff) & (y.fwmask ?? 0xffffffff);
    if (((x.fwmark & common) >>> 0) !== ((y.fwmark & common) >>> 0)) return false;
  }
  return true;
}

/** Could one packet match both rules? (conservative: inverted rules match "almost anything") */
export function rulesOverlap(a: RuleSpec, b: RuleSpec): boolean {
  return compiledOverlap(compile(a), compile(b));
}

/** Same outcome: same table, same suppression. */
function sameOutcome(a: RuleSpec, b: RuleSpec): boolean {
  return a.action === b.action && (a.table ?? 0) === (b.table ?? 0) && a.suppressPrefixLength === b.suppressPrefixLength;
}

/** Prefixes of one table, by `family|table`; a table missing from the map answers everything. */
type TableRoutes = ReadonlyMap<string, Array<{ v: bigint; len: number }>>;

const UNKNOWN_TABLES = new Set([253, 254, 255]);

/** Routes of every table our sections fill (main/default/local left out: unknown content). */
function tableRoutesOf(routing: readonly Routing[]): TableRoutes {
  const out = new Map<string, Array<{ v: bigint; len: number }>>();
  for (const r of routing) {
    for (const t of Object.values(r.tables)) {
      if (t !== undefined && !UNKNOWN_TABLES.has(t)) for (const f of [4, 6]) if (!out.has(`${f}|${t}`)) out.set(`${f}|${t}`, []);
    }
    for (const route of r.routes) {
      if (UNKNOWN_TABLES.has(route.table)) continue;
      const a = parseAddress(route.dst);
      if (a) out.get(`${route.family}|${route.table}`)?.push({ v: a.value, len: route.dstLen });
    }
  }
  return out;
}

/** What a rule's lookup can answer: its table's prefixes, or everything. */
function answers(rule: RuleSpec, routes: TableRoutes): Array<{ v: bigint; len: number }> | 'all' {
  if (rule.action !== 'lookup' || rule.suppressPrefixLength !== undefined) return 'all';
  return routes.get(`${rule.family}|${rule.table ?? TABLE_MAIN}`) ?? 'all';
}

/**
 * Could the order of two overlapping rules matter: is there a destination, allowed by both
 * rules' `to` selectors, that both rules' tables have a route for? Prefixes either nest or are
 * disjoint, so a set of them has a common address exactly when every pair overlaps.
 */
function bothAnswer(a: Compiled, b: Compiled, routes: TableRoutes): boolean {
  const bits = a.bits;
  const ra = answers(a.rule, routes);
  const rb = answers(b.rule, routes);
  // an inverted rule matches whatever fails its selectors: any destination
  const sels = [a.rule.invert ? undefined : a.dst, b.rule.invert ? undefined : b.dst].filter((d): d is { v: bigint; len: number } => d !== undefined);
  const fits = (p: { v: bigint; len: number }) => sels.every((d) => selOverlap(bits, p, d));
  if (ra === 'all' && rb === 'all') return true;
  if (ra === 'all') return (rb as Array<{ v: bigint; len: number }>).some(fits);
  if (rb === 'all') return ra.some(fits);
  return ra.some((pa) => fits(pa) && rb.some((pb) => fits(pb) && selOverlap(bits, pa, pb)));
}

interface Entry {
  section: string;
  index: number;
  c: Compiled;
}

/** Rules of one (family, priority): without destination, by exact destination, by each strict ancestor of it. */
interface Group {
  /** by outcome (table, suppression): rules with the same outcome never clash */
  wild: Map<string, Entry[]>;
  exact: Map<string, Entry[]>;
  below: Map<string, Entry[]>;
}

const prefixKey = (bits: bigint, v: bigint, len: number) => `${len}/${(v >> (bits - BigInt(len))).toString(16)}`;

function push(m: Map<string, Entry[]>, k: string, e: Entry): void {
  const l = m.get(k);
  if (l) l.push(e);
  else m.set(k, [e]);
}

function addTo(g: Group, e: Entry): void {
  const d = e.c.dst;
  if (!d) {
    push(g.wild, outcomeKey(e.c.rule), e);
    return;
  }
  push(g.exact, prefixKey(e.c.bits, d.v, d.len), e);
  for (let l = 0; l < d.len; l++) push(g.below, prefixKey(e.c.bits, d.v, l), e);
}

const outcomeKey = (r: RuleSpec) => `${r.action}|${r.table ?? 0}|${r.suppressPrefixLength ?? ''}`;

function* wildOther(g: Group, c: Compiled): Generator<Entry> {
  const mine = outcomeKey(c.rule);
  for (const [k, l] of g.wild) if (k !== mine) yield* l;
}

function* candidatesIn(g: Group, c: Compiled): Generator<Entry> {
  const d = c.dst;
  yield* wildOther(g, c);
  if (!d) {
    for (const l of g.exact.values()) yield* l;
    return;
  }
  for (let l = 0; l <= d.len; l++) yield* g.exact.get(prefixKey(c.bits, d.v, l)) ?? [];
  yield* g.below.get(prefixKey(c.bits, d.v, d.len)) ?? [];
}

interface Routing {
  routes: RouteSpec[];
  tables: Partial<Record<Family, number>>;
  rules: Compiled[];
}

// The daemon keeps the ValidatedConfig of each running interface, so asking again
// for the same configs costs nothing: plans are remembered per config object.
const cache = new WeakMap<ValidatedConfig, Routing>();

function routingOf(c: ValidatedConfig): Routing {
  let r = cache.get(c);
  if (!r) {
    const p = planRouting(c);
    r = { routes: p.routes, tables: p.tables, rules: p.rules.map(compile) };
    cache.set(c, r);
  }
  return r;
}

function describeRule(r: RuleSpec): string {
  const parts: string[] = [];
  if (r.src) parts.push(`from ${r.src.addr}/${r.src.len}`);
  if (r.dst) parts.push(`to ${r.dst.addr}/${r.dst.len}`);
  if (r.fwmark !== undefined) parts.push(`${r.invert ? 'not ' : ''}fwmark 0x${r.fwmark.toString(16)}${(r.fwmask ?? 0xffffffff) === 0xffffffff ? '' : `/0x${(r.fwmask ?? 0).toString(16)}`}`);
  if (!parts.length) parts.push('all');
  return `${parts.join(' ')} lookup ${tableName(r.table ?? TABLE_MAIN)}`;
}

/** A base priority whose window (base-1 … base+2) is free of every used priority. */
function freeBase(used: Set<number>, from: number): number | undefined {
  for (let b = Math.max(2, from); b <= 32763; b++) {
    if (![b - 1, b, b + 1, b + 2].some((p) => used.has(p))) return b;
  }
  return undefined;
}

/** Every conflict among these sections (the first in the given order keeps what it has). */
export function checkConflicts(configs: readonly ValidatedConfig[]): Issue[] {
  return check(configs, false);
}

/**
 * The conflicts of one new section with sections that already run (they keep
 * what they have). Linear in the number of others, for the daemon's setup path.
 */
export function checkConflictsFor(candidate: ValidatedConfig, others: readonly ValidatedConfig[]): Issue[] {
  return check([...others.filter((o) => o.section !== candidate.section), candidate], true).filter((i) => i.section === candidate.section);
}

function check(configs: readonly ValidatedConfig[], onlyLast: boolean): Issue[] {
  const issues: Issue[] = [];
  const routing = configs.map(routingOf);
  const last = configs.length - 1;

  // if_id: one device per if_id per netns (EEXIST, and the kernel does not say which)
  const byIfid = new Map<number, string>();
  let externalOwner: string | undefined;
  configs.forEach((c) => {
    if (c.external) {
      if (externalOwner !== undefined) {
        issues.push({ code: 'DUPLICATE_EXTERNAL', section: c.section, option: 'external', other: externalOwner, message: `${c.section}: only one external XFRM device can exist per network namespace, and ${externalOwner} already is one` });
      } else externalOwner = c.section;
      return;
    }
    const owner = byIfid.get(c.ifId);
    if (owner !== undefined) {
      issues.push({ code: 'DUPLICATE_IFID', section: c.section, option: 'ifid', other: owner, message: `${c.section}: ifid ${c.ifId} is already used by interface ${owner}; each XFRM interface needs its own if_id` });
    } else byIfid.set(c.ifId, c.section);
  });

  // tables: a derived table is private to its section
  const tableOwner = new Map<string, { section: string; explicit: boolean }>();
  configs.forEach((c, i) => {
    for (const f of [4, 6] as const) {
      const t = routing[i]?.tables[f];
      if (t === undefined || t === TABLE_MAIN) continue;
      const key = `${f}|${t}`;
      const explicit = tableIsExplicit(c, f);
      const prev = tableOwner.get(key);
      if (!prev) {
        tableOwner.set(key, { section: c.section, explicit });
        continue;
      }
      if (!explicit || !prev.explicit) {
        const opt = f === 4 ? 'ip4table' : 'ip6table';
        issues.push({
          code: 'TABLE_CONFLICT', section: c.section, option: opt, other: prev.section,
          message: `${c.section}: IPv${f} table ${t} is also used by ${prev.section}${explicit && prev.explicit ? '' : ` (${explicit ? `${prev.section}'s` : 'this section\'s'} table is derived from its ifid)`}; set ${opt} to a table of its own`,
        });
      }
    }
  });

  // the same route twice in one (explicitly shared) table
  const routeOwner = new Map<string, string>();
  const routeKey = (r: RouteSpec) => `${r.family}|${r.table}|${r.dst}/${r.dstLen}|${r.metric ?? 0}`;
  configs.forEach((c, i) => {
    for (const r of routing[i]?.routes ?? []) {
      const k = routeKey(r);
      const prev = routeOwner.get(k);
      if (prev !== undefined && prev !== c.section) {
        issues.push({ code: 'ROUTE_CONFLICT', section: c.section, option: r.family === 4 ? 'route' : 'route6', other: prev, message: `${c.section}: route ${r.dstLen === 0 ? 'default' : `${r.dst}/${r.dstLen}`} in table ${tableName(r.table)} is also installed by ${prev}; use another metric or table` });
      } else routeOwner.set(k, c.section);
    }
  });

  // rule priorities
  const used = new Set<number>();
  for (const r of routing) for (const c of r.rules) used.add(c.rule.priority);
  const report = (i: number, rule: RuleSpec, other: Entry) => {
    const c = configs[i] as ValidatedConfig;
    const base = freeBase(used, c.rulePriority);
    issues.push({
      code: 'PRIORITY_CONFLICT', section: c.section, option: 'rule_priority', other: other.section,
      message: `${c.section}: rule '${describeRule(rule)}' at priority ${rule.priority} can match the same packets as ${other.section}'s '${describeRule(other.c.rule)}'; set a different rule_priority${base !== undefined ? ` (e.g. ${base})` : ''}`,
    });
  };
  const tableRoutes = tableRoutesOf(routing);
  const clash = (a: Compiled, b: Entry) => !sameOutcome(a.rule, b.c.rule) && compiledOverlap(a, b.c) && bothAnswer(a, b.c, tableRoutes);

  if (onlyLast) {
    // one candidate against everyone else: a plain scan, no index to build
    const mine = routing[last]?.rules ?? [];
    const keys = new Set(mine.map((c) => c.rule.family * 100000 + c.rule.priority));
    for (const compiled of mine) {
      let hit: Entry | undefined;
      for (let i = 0; i < last && !hit; i++) {
        for (const oc of routing[i]?.rules ?? []) {
          if (!keys.has(oc.rule.family * 100000 + oc.rule.priority) || oc.rule.family !== compiled.rule.family || oc.rule.priority !== compiled.rule.priority) continue;
          const e = { section: (configs[i] as ValidatedConfig).section, index: i, c: oc };
          if (clash(compiled, e)) {
            hit = e;
            break;
          }
        }
      }
      if (hit) {
        report(last, compiled.rule, hit);
        break;
      }
    }
    return issues;
  }

  // all sections: per (family, priority), rules indexed by destination prefix, so only
  // rules whose destinations nest (ancestors, equal, descendants) or that have none are compared
  const groups = new Map<string, Group>();
  configs.forEach((c, i) => {
    const mine = routing[i]?.rules ?? [];
    let first: { rule: RuleSpec; other: Entry } | undefined;
    for (const compiled of mine) {
      const g = groups.get(`${compiled.rule.family}|${compiled.rule.priority}`);
      if (!g) continue;
      for (const e of candidatesIn(g, compiled)) {
        if (e.index === i || !clash(compiled, e)) continue;
        if (!first || e.index < first.other.index) first = { rule: compiled.rule, other: e };
      }
    }
    if (first) report(i, first.rule, first.other);
    for (const compiled of mine) {
      const key = `${compiled.rule.family}|${compiled.rule.priority}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { wild: new Map(), exact: new Map(), below: new Map() }));
      addTo(g, { section: c.section, index: i, c: compiled });
    }
  });
  return issues;
}

