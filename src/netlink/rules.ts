// Policy routing rules (RTM_*RULE, fib_rules.h), v4 and v6, every field RuleSpec has.
import type { RuleSpec } from '../model.ts';
import { Attrs, MessageBuilder, type NlMessage } from './attrs.ts';
import { r32, w32 } from './host.ts';
import { afOf, bytesToIp, familyOfAf, ipToBytes } from './ip.ts';
import { NLM_F_CREATE, NLM_F_EXCL, type NlSocket } from './socket.ts';

export const RTM_NEWRULE = 32;
export const RTM_DELRULE = 33;
export const RTM_GETRULE = 34;
const FRA_DST = 1;
const FRA_SRC = 2;
const FRA_IIFNAME = 3;
const FRA_PRIORITY = 6;
const FRA_FWMARK = 10;
const FRA_SUPPRESS_PREFIXLEN = 14;
const FRA_TABLE = 15;
const FRA_FWMASK = 16;
const FRA_OIFNAME = 17;
const FRA_PROTOCOL = 21;
const FIB_RULE_INVERT = 0x2;

type Action = RuleSpec['action'];
const ACTIONS: Record<Action, number> = { lookup: 1, blackhole: 6, unreachable: 7, prohibit: 8 };
const ACTION_NAMES = new Map<number, Action>(Object.entries(ACTIONS).map(([k, v]) => [v, k as Action]));

export type RuleInfo = RuleSpec;

export function ruleMessage(type: number, r: RuleSpec): MessageBuilder {
  const table = r.action === 'lookup' ? (r.table ?? 0) : 0;
  const h = Buffer.alloc(12);
  h[0] = afOf(r.family);
  h[1] = r.dst?.len ?? 0;
  h[2] = r.src?.len ?? 0;
  h[4] = table < 256 ? table : 0;
  h[7] = ACTIONS[r.action];
  w32(h, r.invert ? FIB_RULE_INVERT : 0, 8);
  const m = new MessageBuilder(type, type === RTM_NEWRULE ? NLM_F_CREATE | NLM_F_EXCL : 0, h);
  m.u32(FRA_PRIORITY, r.priority);
  if (table) m.u32(FRA_TABLE, table);
  if (r.src) m.attr(FRA_SRC, ipToBytes(r.src.addr));
  if (r.dst) m.attr(FRA_DST, ipToBytes(r.dst.addr));
  if (r.fwmark !== undefined) m.u32(FRA_FWMARK, r.fwmark);
  if (r.fwmask !== undefined) m.u32(FRA_FWMASK, r.fwmask);
  if (r.iif) m.str(FRA_IIFNAME, r.iif);
  if (r.oif) m.str(FRA_OIFNAME, r.oif);
  if (r.suppressPrefixLength !== undefined) m.u32(FRA_SUPPRESS_PREFIXLEN, r.suppressPrefixLength);
  if (r.protocol) m.u8(FRA_PROTOCOL, r.protocol);
  return m;
}

export function ruleText(r: RuleSpec): string {
  return `${r.family === 6 ? '-6 ' : ''}prio ${r.priority}${r.invert ? ' not' : ''}${r.src ? ` from ${r.src.addr}/${r.src.len}` : ''}${r.dst ? ` to ${r.dst.addr}/${r.dst.len}` : ''}${r.fwmark !== undefined ? ` fwmark ${r.fwmark}` : ''} ${r.action}${r.table ? ` ${r.table}` : ''}`;
}

/** undefined for actions RuleSpec cannot express (goto, nop) */
export function decodeRule(m: NlMessage): RuleInfo | undefined {
  if (m.data.length < 12) return undefined;
  const family = familyOfAf(m.data[0] ?? 0);
  const action = ACTION_NAMES.get(m.data[7] ?? 0);
  if (!family || !action) return undefined;
  const a = Attrs.parse(m.data, 12);
  const r: RuleInfo = { family, priority: a.u32(FRA_PRIORITY) ?? 0, action, protocol: a.u8(FRA_PROTOCOL) ?? 0 };
  if (action === 'lookup') r.table = a.u32(FRA_TABLE) ?? m.data[4] ?? 0;
  const src = a.get(FRA_SRC);
  if (src) r.src = { addr: bytesToIp(src, family), len: m.data[2] ?? 0 };
  const dst = a.get(FRA_DST);
  if (dst) r.dst = { addr: bytesToIp(dst, family), len: m.data[1] ?? 0 };
  const mark = a.u32(FRA_FWMARK);
  if (mark !== undefined) r.fwmark = mark;
  const mask = a.u32(FRA_FWMASK);
  if (mask !== undefined) r.fwmask = mask;
  const iif = a.str(FRA_IIFNAME);
  if (iif) r.iif = iif;
  const oif = a.str(FRA_OIFNAME);
  if (oif) r.oif = oif;
  if (r32(m.data, 8) & FIB_RULE_INVERT) r.invert = true;
  const spl = a.u32(FRA_SUPPRESS_PREFIXLEN);
  if (spl !== undefined && spl !== 0xffffffff) r.suppressPrefixLength = spl;
  return r;
}

export async function dumpRules(s: NlSocket, f: { protocol?: number; family?: 4 | 6 } = {}): Promise<RuleInfo[]> {
  const h = Buffer.alloc(12);
  h[0] = f.family ? afOf(f.family) : 0;
  const out: RuleInfo[] = [];
  for (const msg of await s.dump(new MessageBuilder(RTM_GETRULE, 0, h), 'RTM_GETRULE dump')) {
    if (msg.type !== RTM_NEWRULE) continue;
    const r = decodeRule(msg);
    if (r && (f.protocol === undefined || r.protocol === f.protocol)) out.push(r);
  }
  return out;
}
