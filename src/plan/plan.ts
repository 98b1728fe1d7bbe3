// ValidatedConfig + the few facts only the running system knows → the kernel
// objects one interface should have. Pure and deterministic: the same input
// gives the same lists in the same order, so plans can be compared and golden-
// tested as iproute2 commands (render.ts).
//
// Tables, per family (IPv4 and IPv6 are planned separately):
//   - `ip4table`/`ip6table` when set;
//   - else `main` when no rule is asked for (no exempt_mark, mark, source or
//     full_tunnel): the routes simply go into main, as with a static route;
//   - else a table of its own: AUTO_TABLE_BASE + (ifid mod 2^31), so if_id 5
//     uses table 10005 (never 0 or 253..255; readable in `ip rule`).
//
// Rule layout, relative to the base B = rule_priority (default 100), only
// when the family's table is not main:
//   B-1  fwmark EXEMPT lookup main                       (rule_style exempt, with exempt_mark)
//   B    from SRC [to DST] lookup T                      (each `source`)
//   B    fwmark MARK lookup T                            (each `mark`)
//   B    to ROUTE lookup T                               (each route, only without source/mark
//        [not fwmark EXEMPT with rule_style invert]        entries: those then are the only way in)
//   B+1  lookup main suppress_prefixlength 0             (full_tunnel without source/mark:
//   B+2  lookup T  [not fwmark EXEMPT with invert]        everything else but main's default route)
// All rules at one priority send to the same table, so their order among
// themselves does not matter; a section occupies priorities B-1 … B+2.
import { XFRMD_RTPROT, type AddressSpec, type Family, type RouteSpec, type RuleSpec, type XfrmLinkSpec } from '../model.ts';
import { networkOf, prefixText, samePrefix, type Prefix } from '../config/ip.ts';
import { autoTable, markText, usesIpv6, type Offload, type RouteEntry, type ValidatedConfig } from '../config/validate.ts';

export const TABLE_MAIN = 254;
/** The kernel stores IPv6 routes without a metric (or with 0) at IP6_RT_PRIO_USER; we plan
 *  what it will report, so a dump compares equal. */
export const IP6_RT_PRIO_USER = 1024;

/** What only the running system knows. */
export interface Facts {
  /** the resolved parent device, when the config names one and it exists */
  parent?: { ifindex: number; name: string };
}

export interface SkippedRoute {
  family: Family;
  dst: string;
  reason: string;
}

export type NotifyValue = string | number | boolean | string[];

export interface Plan {
  section: string;
  link: XfrmLinkSpec;
  /** the parent's name, for messages and `ip` commands (link.link holds its ifindex) */
  parentName?: string;
  offload: Offload;
  addresses: AddressSpec[];
  routes: RouteSpec[];
  rules: RuleSpec[];
  /** routes left out (the remote subnet is a local one: left == right) */
  skipped: SkippedRoute[];
  /** table of each family in use (main = 254) */
  tables: Partial<Record<Family, number>>;
  /** `data` for netifd's notify (shown in ifstatus; read by firewall4 and the IKE side) */
  data: Record<string, NotifyValue>;
}

/** netifd notify ints are INT32: larger u32 values go as decimal text. */
function u32Data(n: number): number | string {
  return n <= 0x7fffffff ? n : String(n);
}

function familiesUsed(c: ValidatedConfig): Family[] {
  const v6 = usesIpv6(c);
  const v4 = c.ipaddr.length > 0 || c.routes.length > 0 || c.table4 !== undefined || c.sources.some((s) => s.family === 4) || c.fullTunnel || !v6;
  return [...(v4 ? [4 as const] : []), ...(v6 ? [6 as const] : [])];
}

function asksForRules(c: ValidatedConfig, f: Family): boolean {
  return c.exemptMark !== undefined || c.marks.length > 0 || c.fullTunnel || c.sources.some((s) => s.family === f);
}

/** The table a family uses (main when nothing asks for rules). */
export function tableFor(c: ValidatedConfig, f: Family): number {
  const explicit = f === 4 ? c.table4 : c.table6;
  if (explicit) return explicit.id;
  if (c.external) return TABLE_MAIN;
  return asksForRules(c, f) ? autoTable(c.ifId) : TABLE_MAIN;
}

/** true when the table of this family is explicit in the config (not derived). */
export function tableIsExplicit(c: ValidatedConfig, f: Family): boolean {
  return (f === 4 ? c.table4 : c.table6) !== undefined;
}

const sel = (p: Prefix) => ({ addr: p.addr, len: p.len });

/** Routes and rules only: everything that does not depend on facts. */
export function planRouting(c: ValidatedConfig): Pick<Plan, 'routes' | 'rules' | 'skipped' | 'tables'> {
  const routes: RouteSpec[] = [];
  const rules: RuleSpec[] = [];
  const skipped: SkippedRoute[] = [];
  const tables: Partial<Record<Family, number>> = {};
  if (c.external) return { routes, rules, skipped, tables };

  for (const f of familiesUsed(c)) {
    const T = tableFor(c, f);
    tables[f] = T;
    const addrs = f === 4 ? c.ipaddr : c.ip6addr;
    const entries: RouteEntry[] = f === 4 ? c.routes : c.routes6;
    const sources = c.sources.filter((s) => s.family === f);
    const prefsrc = addrs[0]?.addr;

    const kept: RouteEntry[] = [];
    for (const e of entries) {
      const local = addrs.find((a) => samePrefix(networkOf(a), e.prefix));
      const left = sources.find((s) => samePrefix(s.src, e.prefix));
      if (local || left) {
        skipped.push({
          family: f,
          dst: prefixText(e.prefix),
          reason: local
            ? `equals the subnet of address ${prefixText(local)} (local subnet == remote subnet)`
            : `equals source ${prefixText(e.prefix)} (left subnet == right subnet)`,
        });
        continue;
      }
      kept.push(e);
      const r: RouteSpec = { family: f, dst: e.prefix.addr, dstLen: e.prefix.len, table: T, type: 'unicast', dev: c.name, protocol: XFRMD_RTPROT };
      if (prefsrc) r.prefsrc = prefsrc;
      if (f === 6) r.metric = e.metric || IP6_RT_PRIO_USER;
      else if (e.metric !== undefined) r.metric = e.metric;
      if (e.mtu !== undefined) r.mtu = e.mtu;
      routes.push(r);
    }
    if (c.fullTunnel) {
      const r: RouteSpec = { family: f, dst: f === 4 ? '0.0.0.0' : '::', dstLen: 0, table: T, type: 'unicast', dev: c.name, protocol: XFRMD_RTPROT };
      if (prefsrc) r.prefsrc = prefsrc;
      if (f === 6) r.metric = IP6_RT_PRIO_USER;
      routes.push(r);
    }

    if (T === TABLE_MAIN) continue;
    const B = c.rulePriority;
    const base = { family: f, protocol: XFRMD_RTPROT } as const;
    const ex = c.exemptMark;
    const invert = c.ruleStyle === 'invert' && ex !== undefined;
    if (ex && !invert) rules.push({ ...base, priority: B - 1, action: 'lookup', table: TABLE_MAIN, fwmark: ex.value, fwmask: ex.mask });
    for (const s of sources) {
      const r: RuleSpec = { ...base, priority: B, action: 'lookup', table: T, src: sel(s.src) };
      if (s.dst) r.dst = sel(s.dst);
      rules.push(r);
    }
    for (const m of c.marks) rules.push({ ...base, priority: B, action: 'lookup', table: T, fwmark: m.value, fwmask: m.mask });
    const steeredBySelectors = sources.length > 0 || c.marks.length > 0;
    if (!steeredBySelectors) {
      for (const e of kept) {
        const r: RuleSpec = { ...base, priority: B, action: 'lookup', table: T, dst: sel(e.prefix) };
        if (invert && ex) Object.assign(r, { fwmark: ex.value, fwmask: ex.mask, invert: true });
        rules.push(r);
      }
      if (c.fullTunnel) {
        rules.push({ ...base, priority: B + 1, action: 'lookup', table: TABLE_MAIN, suppressPrefixLength: 0 });
        const r: RuleSpec = { ...base, priority: B + 2, action: 'lookup', table: T };
        if (invert && ex) Object.assign(r, { fwmark: ex.value, fwmask: ex.mask, invert: true });
        rules.push(r);
      }
    }
  }
  return { routes, rules, skipped, tables };
}

export function plan(c: ValidatedConfig, facts: Facts = {}): Plan {
  const link: XfrmLinkSpec = {
    name: c.name,
    ifId: c.ifId,
    link: facts.parent && c.parent ? facts.parent.ifindex : 0,
    collectMetadata: c.external,
    mtu: c.mtu,
    multicast: c.multicast,
  };
  const addresses: AddressSpec[] = [
    ...c.ipaddr.map((a) => ({ family: 4 as const, address: a.addr, prefixLen: a.len, dev: c.name })),
    ...c.ip6addr.map((a) => ({ family: 6 as const, address: a.addr, prefixLen: a.len, dev: c.name })),
  ];
  const routing = planRouting(c);

  const data: Record<string, NotifyValue> = { ifid: u32Data(c.ifId) };
  if (c.zone !== undefined) data.zone = c.zone;
  if (c.external) data.external = true;
  if (c.offload !== 'off') data.offload = c.offload;
  if (routing.tables[4] !== undefined) data.table = u32Data(routing.tables[4]);
  if (routing.tables[6] !== undefined) data.table6 = u32Data(routing.tables[6]);
  if (routing.rules.length) data.rule_priority = c.rulePriority;
  if (c.exemptMark) data.exempt_mark = markText(c.exemptMark);
  if (c.marks.length) data.mark = c.marks.map(markText);

  const out: Plan = { section: c.section, link, offload: c.offload, addresses, ...routing, data };
  if (facts.parent && c.parent) out.parentName = facts.parent.name;
  return out;
}

export { renderIpCommands, renderIpDeleteCommands, splitBatch } from './render.ts';
