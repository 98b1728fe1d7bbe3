// Routes (RTM_*ROUTE, rtnetlink.h), v4 and v6, any table: ids > 255 go in RTA_TABLE.
import type { RouteSpec, RouteType } from '../model.ts';
import { eachAttr, MessageBuilder, type NlMessage } from './attrs.ts';
import { r32 } from './host.ts';
import { afOf, bytesToIp, familyOfAf, ipToBytes } from './ip.ts';
import { NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, type NlSocket } from './socket.ts';

export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;
const RT_SCOPE_UNIVERSE = 0;
const RT_SCOPE_LINK = 253;
const RT_SCOPE_NOWHERE = 255;
const RT_TABLE_UNSPEC = 0;
const RTM_F_CLONED = 0x200;

// struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type (u8 each), flags u32
const RTMSG_LEN = 12;
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PRIORITY = 6;
const RTA_PREFSRC = 7;
const RTA_METRICS = 8;
const RTA_TABLE = 15;
const RTAX_MTU = 2;

const TYPES: Record<RouteType, number> = { unicast: 1, blackhole: 6, unreachable: 7, prohibit: 8, throw: 9 };
const TYPE_NAMES = new Map<number, RouteType>(Object.entries(TYPES).map(([k, v]) => [v, k as RouteType]));

export interface RouteInfo extends RouteSpec {
  /** RTA_OIF, 0 if none */
  oif: number;
  scope: number;
}

export interface RouteFilter {
  protocol?: number;
  table?: number;
  family?: 4 | 6;
}

/** rtmsg; tables above 255 go in RTA_TABLE (the header then says RT_TABLE_UNSPEC) */
function rtmsg(type: number, nlFlags: number, r: { family: 4 | 6 | 0; dstLen: number; table: number; protocol: number; scope: number; type: number }): MessageBuilder {
  const m = new MessageBuilder(type, nlFlags, RTMSG_LEN);
  const h = m.fixed;
  h[0] = r.family === 0 ? 0 : afOf(r.family);
  h[1] = r.dstLen;
  h[4] = r.table < 256 ? r.table : RT_TABLE_UNSPEC;
  h[5] = r.protocol;
  h[6] = r.scope;
  h[7] = r.type;
  return m;
}

/** oif: ifindex of r.dev (0 when none); `replace`: NLM_F_REPLACE instead of EXCL (take over an existing route) */
export function routeMessage(type: number, r: RouteSpec, oif: number, o: { replace?: boolean } = {}): MessageBuilder {
  const del = type === RTM_DELROUTE;
  const unicast = r.type === 'unicast';
  // like iproute2: a v4 unicast route without gateway is scope link; a delete matches any scope
  const scope = del ? RT_SCOPE_NOWHERE : unicast && !r.gateway && r.family === 4 && oif ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  const m = rtmsg(type, del ? 0 : NLM_F_CREATE | (o.replace ? NLM_F_REPLACE : NLM_F_EXCL), { family: r.family, dstLen: r.dstLen, table: r.table, protocol: r.protocol, scope, type: TYPES[r.type] });
  m.u32(RTA_TABLE, r.table);
  if (r.dstLen > 0) m.attr(RTA_DST, ipToBytes(r.dst));
  if (oif) m.u32(RTA_OIF, oif);
  if (r.gateway) m.attr(RTA_GATEWAY, ipToBytes(r.gateway));
  if (r.prefsrc) m.attr(RTA_PREFSRC, ipToBytes(r.prefsrc));
  if (r.metric !== undefined) m.u32(RTA_PRIORITY, r.metric);
  const mtu = r.mtu;
  if (mtu && !del) m.nest(RTA_METRICS, (x) => x.u32(RTAX_MTU, mtu), false);
  return m;
}

export function routeText(r: RouteSpec): string {
  return `${r.type === 'unicast' ? '' : r.type + ' '}${r.dst}/${r.dstLen} table ${r.table}${r.dev ? ` dev ${r.dev}` : ''}`;
}

/** undefined for kernel-made kinds (local, broadcast, multicast, anycast) and cache clones,
 *  told from the header alone: most route events are of those kinds and cost no more */
export function decodeRoute(m: NlMessage, nameOf: (index: number) => string | undefined): RouteInfo | undefined {
  const d = m.data;
  if (d.length < RTMSG_LEN) return undefined;
  const family = familyOfAf(d[0]!);
  const type = TYPE_NAMES.get(d[7]!);
  if (!family || !type || r32(d, 8) & RTM_F_CLONED) return undefined;
  let dst: Buffer | undefined;
  let gateway: Buffer | undefined;
  let prefsrc: Buffer | undefined;
  let table = d[4]!;
  let oif = 0;
  let metric: number | undefined;
  let mtu = 0;
  eachAttr(d, RTMSG_LEN, d.length, (t, s, e) => {
    if (t === RTA_DST) dst = d.subarray(s, e);
    else if (t === RTA_TABLE && e - s >= 4) table = r32(d, s);
    else if (t === RTA_OIF && e - s >= 4) oif = r32(d, s);
    else if (t === RTA_GATEWAY) gateway = d.subarray(s, e);
    else if (t === RTA_PREFSRC) prefsrc = d.subarray(s, e);
    else if (t === RTA_PRIORITY && e - s >= 4) metric = r32(d, s);
    else if (t === RTA_METRICS) {
      eachAttr(d, s, e, (mt, ms, me) => {
        if (mt === RTAX_MTU && me - ms >= 4) mtu = r32(d, ms);
      });
    }
  });
  const r: RouteInfo = { family, dst: dst ? bytesToIp(dst, family) : family === 4 ? '0.0.0.0' : '::', dstLen: d[1]!, table, type, protocol: d[5]!, oif, scope: d[6]! };
  const dev = oif ? nameOf(oif) : undefined;
  if (dev !== undefined) r.dev = dev;
  if (gateway) r.gateway = bytesToIp(gateway, family);
  if (prefsrc) r.prefsrc = bytesToIp(prefsrc, family);
  if (metric !== undefined) r.metric = metric;
  if (mtu) r.mtu = mtu;
  return r;
}

export function matchesRoute(r: RouteInfo, f: RouteFilter): boolean {
  return (f.protocol === undefined || r.protocol === f.protocol) && (f.table === undefined || r.table === f.table) && (f.family === undefined || r.family === f.family);
}

export async function dumpRoutes(s: NlSocket, f: RouteFilter, nameOf: (index: number) => string | undefined): Promise<RouteInfo[]> {
  // Strict-checking kernels filter by protocol and table themselves (RTA_TABLE in the request).
  const m = rtmsg(RTM_GETROUTE, 0, { family: f.family ?? 0, dstLen: 0, table: 0, protocol: f.protocol ?? 0, scope: 0, type: 0 });
  if (f.table !== undefined) m.u32(RTA_TABLE, f.table);
  const out: RouteInfo[] = [];
  for (const msg of await s.dump(m, 'RTM_GETROUTE dump')) {
    if (msg.type !== RTM_NEWROUTE) continue;
    const r = decodeRoute(msg, nameOf);
    if (r && matchesRoute(r, f)) out.push(r);
  }
  return out;
}
