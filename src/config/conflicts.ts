// Checks across all `proto 'xfrm'` sections, for the daemon (before setting one
// up, against the others it runs) and for `xfrmd apply` on a whole file.
//
// Policy: the first section in the given order keeps what it has; every later
// section that collides gets an issue naming the earlier one. Rules of
// different sections may share a priority as long as no packet can match both
// with different outcomes; when one can (same destination, different tables at
// the same priority), the order between them would depend on insertion order,
// so that is PRIORITY_CONFLICT and the message proposes a free rule_priority.
//
// Codes: DUPLICATE_IFID, DUPLICATE_EXTERNAL, TABLE_CONFLICT (a derived table is
// used by another section too), ROUTE_CONFLICT (two sections route the same
// prefix with the same metric into one explicitly shared table),
// PRIORITY_CONFLICT.
import type { Family, RouteSpec, RuleSpec } from '../model.ts';
import { planRouting, tableIsExplicit, TABLE_MAIN } from '../plan/plan.ts';
import { tableName } from '../plan/render.ts';
import { prefixesOverlap } from './ip.ts';
import type { Issue, ValidatedConfig } from './validate.ts';

function overlapsSel(a?: { addr: string; len: number }, b?: { addr: string; len: number }, fam: Family = 4): boolean {
  if (!a || !b) return true;
  return prefixesOverlap({ family: fam, ...a }, { family: fam, ...b });
}

/** Could one packet match both rules? (conservative: inverted rules match "almost anything") */
export function rulesOverlap(a: RuleSpec, b: RuleSpec): boolean {
  if (a.family !== b.family) return false;
  if (a.invert || b.invert) return true;
  if (!overlapsSel(a.src, b.src, a.family) || !overlapsSel(a.dst, b.dst, a.family)) return false;
  if (a.fwmark !== undefined && b.fwmark !== undefined) {
    const common = (a.fwmask ?? 0xffffffff) & (b.fwmask ?? 0xffffffff);
    if (((a.fwmark & common) >>> 0) !== ((b.fwmark & common) >>> 0)) return false;
  }
  return true;
}

/** Same outcome: same table, same suppression. */
function sameOutcome(a: RuleSpec, b: RuleSpec): boolean {
  return a.action === b.action && (a.table ?? 0) === (b.table ?? 0) && a.suppressPrefixLength === b.suppressPrefixLength;
}

function describeRule(r: RuleSpec): string {
  const parts: string[] = [];
  if (r.src) parts.push(`from ${r.src.addr}/${r.src.len}`);
  if (r.dst) parts.push(`to ${r.dst.addr}/${r.dst.len}`);
  if (r.fwmark !== undefined) parts.push(`${r.invert ? 'not ' : ''}fwmark 0x${r.fwmark.toString(16)}`);
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

export function checkConflicts(configs: readonly ValidatedConfig[]): Issue[] {
  const issues: Issue[] = [];
  const routing = configs.map((c) => planRouting(c));

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
  for (const r of routing) for (const rule of r.rules) used.add(rule.priority);
  const seen = new Map<string, Array<{ section: string; rule: RuleSpec }>>();
  configs.forEach((c, i) => {
    let reported = false;
    const mine: Array<{ key: string; rule: RuleSpec }> = [];
    for (const rule of routing[i]?.rules ?? []) {
      const key = `${rule.family}|${rule.priority}`;
      mine.push({ key, rule });
      if (reported) continue;
      for (const other of seen.get(key) ?? []) {
        if (sameOutcome(rule, other.rule) || !rulesOverlap(rule, other.rule)) continue;
        const base = freeBase(used, c.rulePriority);
        issues.push({
          code: 'PRIORITY_CONFLICT', section: c.section, option: 'rule_priority', other: other.section,
          message: `${c.section}: rule '${describeRule(rule)}' at priority ${rule.priority} can match the same packets as ${other.section}'s '${describeRule(other.rule)}'; set a different rule_priority${base !== undefined ? ` (e.g. ${base})` : ''}`,
        });
        reported = true;
        break;
      }
    }
    for (const { key, rule } of mine) {
      const list = seen.get(key) ?? [];
      list.push({ section: c.section, rule });
      seen.set(key, list);
    }
  });
  return issues;
}

