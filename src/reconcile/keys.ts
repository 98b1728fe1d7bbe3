// Identity of kernel objects, for comparing what we want with what exists
// (netifd's vlist idea: key the sets, then add/remove the difference).
import type { AddressSpec, RouteSpec, RuleSpec } from '../model.ts';

export function addressKey(a: AddressSpec): string {
  return `${a.family}|${a.dev}|${a.address}/${a.prefixLen}`;
}

/** The kernel identifies a route by table, destination, tos, metric (and type for some). */
export function routeKey(r: RouteSpec): string {
  return `${r.family}|${r.table}|${r.dst}/${r.dstLen}|${r.metric ?? 0}`;
}

/** Everything that makes two rules different to the kernel's FIB rule comparison. */
export function ruleKey(r: RuleSpec): string {
  return [
    r.family,
    r.priority,
    r.action,
    r.table ?? '',
    r.src ? `${r.src.addr}/${r.src.len}` : '',
    r.dst ? `${r.dst.addr}/${r.dst.len}` : '',
    r.fwmark ?? '',
    r.fwmark !== undefined ? (r.fwmask ?? 0xffffffff) : '',
    r.iif ?? '',
    r.oif ?? '',
    r.invert ? 'not' : '',
    r.suppressPrefixLength ?? '',
  ].join('|');
}

/** Route attributes beyond the key that we also want equal (else replace). */
export function routeMatches(want: RouteSpec, have: RouteSpec): boolean {
  return (
    routeKey(want) === routeKey(have) &&
    want.type === have.type &&
    (want.dev ?? '') === (have.dev ?? '') &&
    (want.gateway ?? '') === (have.gateway ?? '') &&
    (want.prefsrc ?? '') === (have.prefsrc ?? '') &&
    (want.mtu ?? 0) === (have.mtu ?? 0)
  );
}
