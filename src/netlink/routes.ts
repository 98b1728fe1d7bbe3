// Routes (RTM_*ROUTE, rtnetlink.h), v4 and v6, any table: ids > 255 go in RTA_TABLE.
import type { RouteSpec, RouteType } from '../model.ts';
import { Attrs, MessageBuilder, type NlMessage } from './attrs.ts';
import { r32, w32 } from './host.ts';
import { afOf, bytesToIp, familyOfAf, ipToBytes } from './ip.ts';
import { NLM_F_CREATE, NLM_F_EXCL, type NlSocket } from './socket.ts';

export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PRIORITY = 6;
const RTA_PREFSRC = 7;
const RTA_METRICS = 8;
const RTA_TABLE = 15;
const RTAX_MTU = 2;
const RTM_F_CLONED = 0x200;
const RT_SCOPE_UNIVERSE = 0;
const RT_SCOPE_LINK = 253;
const RT_SCOPE_NOWHERE = 255;
const RT_TABLE_UNSPEC = 0;

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

function rtmsg(r: { family: 4 | 6 | 0; dstLen: number; table: number; protocol: number; scope: number; type: number }): Buffer {
  const b = Buffer.alloc(12);
  b[0] = r.family === 0 ? 0 : afOf(r.family);
  b[1] = r.dstLen;
  b[4] = r.table < 256 ? r.table : RT_TABLE_UNSPEC;
  b[5] = r.protocol;
  b[6] = r.scope;
  b[7] = r.type;
  w32(b, 0, 8);
  return b;
}

/** oif: ifindex of r.dev (0 when none) */
export function routeMessage(type: number, r: RouteSpec, oif: number): MessageBuilder {
  const del = type === RTM_DELROUTE;
  const unicast = r.type === 'unicast';
  // like iproute2: a v4 unicast route without gateway is scope link; a delete matches any scope
  const scope = del ? RT_SCOPE_NOWHERE : unicast && !r.gateway && r.family === 4 && oif ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  const m = new MessageBuilder(type, del ? 0 : NLM_F_CREATE | NLM_F_EXCL, rtmsg({ family: r.family, dstLen: r.dstLen, table: r.table, protocol: r.protocol, scope, type: TYPES[r.type] }));
  m.u32(RTA_TABLE, r.table);
  if (r.dstLen > 0) m.attr(RTA_DST, ipToBytes(r.dst));
  if (oif) m.u32(RTA_OIF, oif);
  if (r.gateway) m.attr(RTA_GATEWAY, ipToBytes(r.gateway));
  if (r.prefsrc) m.attr(RTA_PREFSRC, ipToBytes(r.prefsrc));
  if (r.metric !== undefined) m.u32(RTA_PRIORITY, r.metric);
  if (r.mtu && !del) m.nest(RTA_METRICS, (x) => x.u32(RTAX_MTU, r.mtu as number));
  return m;
}

export function routeText(r: RouteSpec): string {
  return `${r.type === 'unicast' ? '' : r.type + ' '}${r.dst}/${r.dstLen} table ${r.table}${r.dev ? ` dev ${r.dev}` : ''}`;
}

/** undefined for kernel-made kinds (local, broadcast, multicast, anycast) and cache clones */
export function decodeRoute(m: NlMessage, nameOf: (index: number) => string | undefined): RouteInfo | undefined {
  if (m.data.length < 12) return undefined;
  const family = familyOfAf(m.data[0] ?? 0);
  const type = TYPE_NAMES.get(m.data[7] ?? 0);
  if (!family || !type || r32(m.data, 8) & RTM_F_CLONED) return undefined;
  const a = Attrs.parse(m.data, 12);
  const dst = a.get(RTA_DST);
  const oif = a.u32(RTA_OIF) ?? 0;
  const r: RouteInfo = {
    family,
    dst: dst ? bytesToIp(dst, family) : family === 4 ? '0.0.0.0' : '::',
    dstLen: m.data[1] ?? 0,
    table: a.u32(RTA_TABLE) ?? m.data[4] ?? 0,
    type,
    protocol: m.data[5] ?? 0,
    oif,
    scope: m.data[6] ?? 0,
  };
  const dev = oif ? nameOf(oif) : undefined;
  if (dev !== undefined) r.dev = dev;
  const gw = a.get(RTA_GATEWAY);
  if (gw) r.gateway = bytesToIp(gw, family);
  const src = a.get(RTA_PREFSRC);
  if (src) r.prefsrc = bytesToIp(src, family);
  const metric = a.u32(RTA_PRIORITY);
  if (metric !== undefined) r.metric = metric;
  const mtu = a.nested(RTA_METRICS)?.u32(RTAX_MTU);
  if (mtu) r.mtu = mtu;
  return r;
}

export function matchesRoute(r: RouteInfo, f: RouteFilter): boolean {
  return (f.protocol === undefined || r.protocol === f.protocol) && (f.table === undefined || r.table === f.table) && (f.family === undefined || r.family === f.family);
}

export async function dumpRoutes(s: NlSocket, f: RouteFilter, nameOf: (index: number) => string | undefined): Promise<RouteInfo[]> {
  // Strict-checking kernels filter by protocol and table themselves (RTA_TABLE in the request).
  const m = new MessageBuilder(RTM_GETROUTE, 0, rtmsg({ family: f.family ?? 0, dstLen: 0, table: 0, protocol: f.protocol ?? 0, scope: 0, type: 0 }));
  if (f.table !== undefined) m.u32(RTA_TABLE, f.table);
  const out: RouteInfo[] = [];
  for (const msg of await s.dump(m, 'RTM_GETROUTE dump')) {
    if (msg.type !== RTM_NEWROUTE) continue;
    const r = decodeRoute(msg, nameOf);
    if (r && matchesRoute(r, f)) out.push(r);
  }
  return out;
}
