// Policy routing rules (RTM_*RULE, fib_rules.h), v4 and v6, every field RuleSpec has.
import type { RuleSpec } from '../model.ts';
import { eachAttr, MessageBuilder, type NlMessage } from './attrs.ts';
import { r32, w32 } from './host.ts';
import { afOf, bytesToIp, familyOfAf, ipToBytes } from './ip.ts';
import { NLM_F_CREATE, NLM_F_EXCL, type NlSocket } from './socket.ts';

export const RTM_NEWRULE = 32;
export const RTM_DELRULE = 33;
export const RTM_GETRULE = 34;
type Action = RuleSpec['action'];
const ACTIONS: Record<Action, number> = { lookup: 1, blackhole: 6, unreachable: 7, prohibit: 8 };
const ACTION_NAMES = new Map<number, Action>(Object.entries(ACTIONS).map(([k, v]) => [v, k as Action]));

export type RuleInfo = RuleSpec;

// struct fib_rule_hdr: family, dst_len, src_len, tos, table, res1, res2, action (u8 each), flags u32
const FIB_RULE_HDR_LEN = 12;
const FIB_RULE_INVERT = 0x2;
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

function ruleHdr(type: number, nlFlags: number, h: { family: number; dstLen: number; srcLen: number; table: number; action: number; flags: number }): MessageBuilder {
  const m = new MessageBuilder(type, nlFlags, FIB_RULE_HDR_LEN);
  const b = m.fixed;
  b[0] = h.family;
  b[1] = h.dstLen;
  b[2] = h.srcLen;
  b[4] = h.table;
  b[7] = h.action;
  w32(b, h.flags, 8);
  return m;
}

const cstr = (b: Buffer, start: number, end: number): string => {
  const z = b.indexOf(0, start);
  return b.toString('utf8', start, z < 0 || z > end ? end : z);
};

export function ruleMessage(type: number, r: RuleSpec): MessageBuilder {
  const table = r.action === 'lookup' ? (r.table ?? 0) : 0;
  const m = ruleHdr(type, type === RTM_NEWRULE ? NLM_F_CREATE | NLM_F_EXCL : 0, {
    family: afOf(r.family),
    dstLen: r.dst?.len ?? 0,
    srcLen: r.src?.len ?? 0,
    table: table < 256 ? table : 0,
    action: ACTIONS[r.action],
    flags: r.invert ? FIB_RULE_INVERT : 0,
  });
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
  const d = m.data;
  if (d.length < FIB_RULE_HDR_LEN) return undefined;
  const family = familyOfAf(d[0]!);
  const action = ACTION_NAMES.get(d[7]!);
  if (!family || !action) return undefined;
  let priority = 0;
  let protocol = 0;
  let table: number = d[4]!;
  let src: Buffer | undefined;
  let dst: Buffer | undefined;
  let fwmark: number | undefined;
  let fwmask: number | undefined;
  let iif: string | undefined;
  let oif: string | undefined;
  let spl: number | undefined;
  eachAttr(d, FIB_RULE_HDR_LEN, d.length, (t, s, e) => {
    const u32 = e - s >= 4 ? r32(d, s) : undefined;
    if (t === FRA_PRIORITY && u32 !== undefined) priority = u32;
    else if (t === FRA_PROTOCOL && e > s) protocol = d[s]!;
    else if (t === FRA_TABLE && u32 !== undefined) table = u32;
    else if (t === FRA_SRC) src = d.subarray(s, e);
    else if (t === FRA_DST) dst = d.subarray(s, e);
    else if (t === FRA_FWMARK) fwmark = u32;
    else if (t === FRA_FWMASK) fwmask = u32;
    else if (t === FRA_IIFNAME) iif = cstr(d, s, e);
    else if (t === FRA_OIFNAME) oif = cstr(d, s, e);
    else if (t === FRA_SUPPRESS_PREFIXLEN) spl = u32;
  });
  const r: RuleInfo = { family, priority, action, protocol };
  if (action === 'lookup') r.table = table;
  if (src) r.src = { addr: bytesToIp(src, family), len: d[2]! };
  if (dst) r.dst = { addr: bytesToIp(dst, family), len: d[1]! };
  if (fwmark !== undefined) r.fwmark = fwmark;
  if (fwmask !== undefined) r.fwmask = fwmask;
  if (iif) r.iif = iif;
  if (oif) r.oif = oif;
  if (r32(d, 8) & FIB_RULE_INVERT) r.invert = true;
  if (spl !== undefined && spl !== 0xffffffff) r.suppressPrefixLength = spl;
  return r;
}

export async function dumpRules(s: NlSocket, f: { protocol?: number; family?: 4 | 6 } = {}): Promise<RuleInfo[]> {
  const m = ruleHdr(RTM_GETRULE, 0, { family: f.family ? afOf(f.family) : 0, dstLen: 0, srcLen: 0, table: 0, action: 0, flags: 0 });
  const out: RuleInfo[] = [];
  for (const msg of await s.dump(m, 'RTM_GETRULE dump')) {
    if (msg.type !== RTM_NEWRULE) continue;
    const r = decodeRule(msg);
    if (r && (f.protocol === undefined || r.protocol === f.protocol)) out.push(r);
  }
  return out;
}
