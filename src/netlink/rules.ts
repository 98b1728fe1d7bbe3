// Policy routing rules (RTM_*RULE, fib_rules.h), v4 and v6, every field RuleSpec has.
import type { RuleSpec } from '../model.ts';
import { formatRuleMessage, parseRuleMessage, RuleAction, type RuleAttrs } from 'netlink/dist/rt/structs.js';
import { getU32, putU32 } from 'netlink/dist/structs.js';
import type { MessageBuilder, NlMessage } from './attrs.ts';
import { afOf, bytesToIp, familyOfAf, ipToBytes } from './ip.ts';
import { enumValue, pkgMessage } from './rtpkg.ts';
import { NLM_F_CREATE, NLM_F_EXCL, type NlSocket } from './socket.ts';

export const RTM_NEWRULE = 32;
export const RTM_DELRULE = 33;
export const RTM_GETRULE = 34;
type Action = RuleSpec['action'];
const ACTIONS: Record<Action, number> = { lookup: 1, blackhole: 6, unreachable: 7, prohibit: 8 };
const ACTION_NAMES = new Map<number, Action>(Object.entries(ACTIONS).map(([k, v]) => [v, k as Action]));

export type RuleInfo = RuleSpec;

export function ruleMessage(type: number, r: RuleSpec): MessageBuilder {
  const table = r.action === 'lookup' ? (r.table ?? 0) : 0;
  const attrs: RuleAttrs = { priority: r.priority };
  if (table) attrs.table = table;
  if (r.src) attrs.src = ipToBytes(r.src.addr);
  if (r.dst) attrs.dst = ipToBytes(r.dst.addr);
  if (r.fwmark !== undefined) attrs.fwmark = r.fwmark;
  if (r.fwmask !== undefined) attrs.fwmask = r.fwmask;
  if (r.iif) attrs.iifname = r.iif;
  if (r.oif) attrs.oifname = r.oif;
  // package has FRA_SUPPRESS_PREFIXLEN as raw bytes
  if (r.suppressPrefixLength !== undefined) attrs.suppressPrefixlen = putU32(r.suppressPrefixLength);
  if (r.protocol) attrs.protocol = r.protocol;
  const data = { family: afOf(r.family), dstLen: r.dst?.len ?? 0, srcLen: r.src?.len ?? 0, table: table < 256 ? table : 0, action: ACTIONS[r.action], flags: r.invert ? { invert: true as const } : {} };
  return pkgMessage(type, type === RTM_NEWRULE ? NLM_F_CREATE | NLM_F_EXCL : 0, (out) => formatRuleMessage({ kind: 'rule', data, attrs }, out));
}

export function ruleText(r: RuleSpec): string {
  return `${r.family === 6 ? '-6 ' : ''}prio ${r.priority}${r.invert ? ' not' : ''}${r.src ? ` from ${r.src.addr}/${r.src.len}` : ''}${r.dst ? ` to ${r.dst.addr}/${r.dst.len}` : ''}${r.fwmark !== undefined ? ` fwmark ${r.fwmark}` : ''} ${r.action}${r.table ? ` ${r.table}` : ''}`;
}

/** undefined for actions RuleSpec cannot express (goto, nop) */
export function decodeRule(m: NlMessage): RuleInfo | undefined {
  let p: ReturnType<typeof parseRuleMessage>;
  try {
    p = parseRuleMessage(m.data);
  } catch {
    return undefined; // short or malformed
  }
  const { data: h, attrs: a } = p;
  const family = familyOfAf(h.family ?? 0);
  const action = ACTION_NAMES.get(enumValue(RuleAction, h.action));
  if (!family || !action) return undefined;
  const r: RuleInfo = { family, priority: a.priority ?? 0, action, protocol: a.protocol ?? 0 };
  if (action === 'lookup') r.table = a.table ?? h.table ?? 0;
  if (a.src) r.src = { addr: bytesToIp(a.src, family), len: h.srcLen ?? 0 };
  if (a.dst) r.dst = { addr: bytesToIp(a.dst, family), len: h.dstLen ?? 0 };
  if (a.fwmark !== undefined) r.fwmark = a.fwmark;
  if (a.fwmask !== undefined) r.fwmask = a.fwmask;
  if (a.iifname) r.iif = a.iifname;
  if (a.oifname) r.oif = a.oifname;
  if (h.flags?.invert) r.invert = true;
  const spl = a.suppressPrefixlen && a.suppressPrefixlen.length >= 4 ? getU32(a.suppressPrefixlen) : undefined;
  if (spl !== undefined && spl !== 0xffffffff) r.suppressPrefixLength = spl;
  return r;
}

export async function dumpRules(s: NlSocket, f: { protocol?: number; family?: 4 | 6 } = {}): Promise<RuleInfo[]> {
  const m = pkgMessage(RTM_GETRULE, 0, (out) => formatRuleMessage({ kind: 'rule', data: { family: f.family ? afOf(f.family) : 0 }, attrs: {} }, out));
  const out: RuleInfo[] = [];
  for (const msg of await s.dump(m, 'RTM_GETRULE dump')) {
    if (msg.type !== RTM_NEWRULE) continue;
    const r = decodeRule(msg);
    if (r && (f.protocol === undefined || r.protocol === f.protocol)) out.push(r);
  }
  return out;
}
