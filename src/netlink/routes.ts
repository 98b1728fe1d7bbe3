// Routes (RTM_*ROUTE, rtnetlink.h), v4 and v6, any table: ids > 255 go in RTA_TABLE.
import type { RouteSpec, RouteType } from '../model.ts';
import { formatRouteMessage, parseRouteMessage, RouteProtocol, RouteScope, RouteType as PkgRouteType, type Route, type RouteAttrs } from 'netlink/dist/rt/structs.js';
import { getU32, putU32 } from 'netlink/dist/structs.js';
import type { MessageBuilder, NlMessage } from './attrs.ts';
import { afOf, bytesToIp, familyOfAf, ipToBytes } from './ip.ts';
import { enumValue, pkgMessage } from './rtpkg.ts';
import { NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, type NlSocket } from './socket.ts';

export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;
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

function rtmsg(r: { family: 4 | 6 | 0; dstLen: number; table: number; protocol: number; scope: number; type: number }): Route {
  return { family: r.family === 0 ? 0 : afOf(r.family), dstLen: r.dstLen, table: r.table < 256 ? r.table : RT_TABLE_UNSPEC, protocol: r.protocol, scope: r.scope, type: r.type };
}

/** oif: ifindex of r.dev (0 when none); `replace`: NLM_F_REPLACE instead of EXCL (take over an existing route) */
export function routeMessage(type: number, r: RouteSpec, oif: number, o: { replace?: boolean } = {}): MessageBuilder {
  const del = type === RTM_DELROUTE;
  const unicast = r.type === 'unicast';
  // like iproute2: a v4 unicast route without gateway is scope link; a delete matches any scope
  const scope = del ? RT_SCOPE_NOWHERE : unicast && !r.gateway && r.family === 4 && oif ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  const attrs: RouteAttrs = { table: r.table };
  if (r.dstLen > 0) attrs.dst = ipToBytes(r.dst);
  if (oif) attrs.oif = oif;
  if (r.gateway) attrs.gateway = ipToBytes(r.gateway);
  if (r.prefsrc) attrs.prefsrc = ipToBytes(r.prefsrc);
  if (r.metric !== undefined) attrs.priority = r.metric;
  // package has RTAX_* values as raw bytes
  if (r.mtu && !del) attrs.metrics = { mtu: putU32(r.mtu) };
  const data = rtmsg({ family: r.family, dstLen: r.dstLen, table: r.table, protocol: r.protocol, scope, type: TYPES[r.type] });
  return pkgMessage(type, del ? 0 : NLM_F_CREATE | (o.replace ? NLM_F_REPLACE : NLM_F_EXCL), (out) => formatRouteMessage({ kind: 'route', data, attrs }, out));
}

export function routeText(r: RouteSpec): string {
  return `${r.type === 'unicast' ? '' : r.type + ' '}${r.dst}/${r.dstLen} table ${r.table}${r.dev ? ` dev ${r.dev}` : ''}`;
}

/** undefined for kernel-made kinds (local, broadcast, multicast, anycast) and cache clones */
export function decodeRoute(m: NlMessage, nameOf: (index: number) => string | undefined): RouteInfo | undefined {
  let p: ReturnType<typeof parseRouteMessage>;
  try {
    p = parseRouteMessage(m.data);
  } catch {
    return undefined; // short or malformed
  }
  const { data: h, attrs: a } = p;
  const family = familyOfAf(h.family ?? 0);
  const type = TYPE_NAMES.get(enumValue(PkgRouteType, h.type));
  if (!family || !type || h.flags?.cloned) return undefined;
  const oif = a.oif ?? 0;
  const r: RouteInfo = {
    family,
    dst: a.dst ? bytesToIp(a.dst, family) : family === 4 ? '0.0.0.0' : '::',
    dstLen: h.dstLen ?? 0,
    table: a.table ?? h.table ?? 0,
    type,
    protocol: enumValue(RouteProtocol, h.protocol),
    oif,
    scope: enumValue(RouteScope, h.scope),
  };
  const dev = oif ? nameOf(oif) : undefined;
  if (dev !== undefined) r.dev = dev;
  if (a.gateway) r.gateway = bytesToIp(a.gateway, family);
  if (a.prefsrc) r.prefsrc = bytesToIp(a.prefsrc, family);
  if (a.priority !== undefined) r.metric = a.priority;
  const mtu = a.metrics?.mtu;
  if (mtu && mtu.length >= 4 && getU32(mtu)) r.mtu = getU32(mtu);
  return r;
}

export function matchesRoute(r: RouteInfo, f: RouteFilter): boolean {
  return (f.protocol === undefined || r.protocol === f.protocol) && (f.table === undefined || r.table === f.table) && (f.family === undefined || r.family === f.family);
}

export async function dumpRoutes(s: NlSocket, f: RouteFilter, nameOf: (index: number) => string | undefined): Promise<RouteInfo[]> {
  // Strict-checking kernels filter by protocol and table themselves (RTA_TABLE in the request).
  const data = rtmsg({ family: f.family ?? 0, dstLen: 0, table: 0, protocol: f.protocol ?? 0, scope: 0, type: 0 });
  const m = pkgMessage(RTM_GETROUTE, 0, (out) => formatRouteMessage({ kind: 'route', data, attrs: f.table !== undefined ? { table: f.table } : {} }, out));
  const out: RouteInfo[] = [];
  for (const msg of await s.dump(m, 'RTM_GETROUTE dump')) {
    if (msg.type !== RTM_NEWROUTE) continue;
    const r = decodeRoute(msg, nameOf);
    if (r && matchesRoute(r, f)) out.push(r);
  }
  return out;
}
