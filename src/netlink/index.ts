// src/netlink: the only module that talks to the kernel (like netifd's system.h).
//
// The split, and why:
//  - Messages are encoded and decoded by our own small codec (attrs.ts; one file per object:
//    links.ts, addresses.ts, routes.ts, rules.ts, xfrm.ts, ethtool.ts). The `netlink` npm package
//    did the rtnetlink bodies until it showed in the profiles: its generic parser cost more than
//    everything else per kernel event (every route event of the namespace is decoded), and
//    loading its generated tables cost 1.6 MB of the daemon's memory. Decoders tell from the
//    fixed header alone what they drop (route kinds we never install), without parsing further.
//  - Sockets are our N-API addon (native/nlsock.c, native.ts, socket.ts): it never aborts on
//    ENOBUFS, enables extended acks and strict checking, keeps errno and builds with any libc.
//  Both follow the host byte order (OpenWrt includes big-endian MIPS).
//
// API (all async, model.ts types in, model.ts-compatible types out):
//   const nl = Netlink.open({ netns?: 'NAME', timeoutMs?, window? })  // netns: /run/netns/NAME
//   links:     getLink(name|index) → LinkInfo | undefined, dumpLinks(), ifindex(name),
//              createXfrmLink(XfrmLinkSpec, {up}?) (CREATE|EXCL, returns LinkInfo with .xfrm {ifId, link, collectMetadata}),
//              createLink(name, 'veth'|'dummy'|…, {peer, mtu, up, multicast}), setLink(ref, {up, mtu, multicast}),
//              setLinkUp(ref, up), setMtu(ref, mtu), deleteLink(name|index)
//   addresses: addAddress / deleteAddress(AddressSpec), dumpAddresses(dev?)
//   routes:    addRoute(RouteSpec, {replace}?) / deleteRoute(RouteSpec), dumpRoutes({protocol?, table?, family?})
//   rules:     addRule / deleteRule(RuleSpec), dumpRules({protocol?, family?})
//   xfrm:      addSA / deleteSA / dumpSAs({ifId?}), addPolicy / deletePolicy / dumpPolicies({ifId?})
//   ethtool:   features(dev) → { hw, wanted, active, esp: {'esp-hw-offload': {hw, wanted, active}, …} } | undefined
//   events:    await nl.subscribe(['link','addr','route','rule']); nl.on('route', (e) => e.action /* 'new'|'del' */, e.route)
//              nl.subscribeXfrm(); nl.on('xfrm', (e) => e.kind /* 'sa'|'policy' */)
//              nl.on('overflow', () => …)  events were lost (receive queue full): resync with dumps, events continue
//   errors:    NetlinkError { errno, code ('EEXIST'…), extack?: kernel text, op } — every request has a timeout
//              (code 'ETIMEDOUT'); dumps on a socket are serialized, other requests pipelined in batches.
//   nl.close()
// Everything we install should carry protocol XFRMD_RTPROT (routes: rtm_protocol, rules: FRA_PROTOCOL);
// the specs carry it, dumps filter by it.
import { EventEmitter } from 'node:events';
import type { AddressSpec, RouteSpec, RuleSpec, XfrmLinkSpec } from '../model.ts';
import { addressMessage, decodeAddress, dumpAddresses, RTM_DELADDR, RTM_NEWADDR, type AddressInfo } from './addresses.ts';
import { NetlinkError } from './errors.ts';
import { getFeatures, resolveFamily, type Features } from './ethtool.ts';
import * as links from './links.ts';
import type { CreateLinkOptions, LinkChange, LinkInfo, LinkRef } from './links.ts';
import { decodeRoute, dumpRoutes, routeMessage, routeText, RTM_DELROUTE, RTM_NEWROUTE, type RouteFilter, type RouteInfo } from './routes.ts';
import { decodeRule, dumpRules, ruleMessage, ruleText, RTM_DELRULE, RTM_NEWRULE, type RuleInfo } from './rules.ts';
import { NETLINK_GENERIC, NETLINK_ROUTE, NETLINK_XFRM, NlSocket, type OpText } from './socket.ts';
import * as xfrm from './xfrm.ts';
import type { NlMessage } from './attrs.ts';

export { NetlinkError, isNetlinkError, errnoName } from './errors.ts';
export type { AddressInfo } from './addresses.ts';
export type { Features, FeatureState, EspFeature } from './ethtool.ts';
export type { LinkInfo, LinkChange, LinkRef, CreateLinkOptions, OperState } from './links.ts';
export type { RouteInfo, RouteFilter } from './routes.ts';
export type { RuleInfo } from './rules.ts';
export type { SAConfig, SAInfo, PolicyConfig, PolicyInfo, PolicyTemplate, XfrmSelector, Mark, XfrmDir, XfrmMode } from './xfrm.ts';
export { NlSocket } from './socket.ts';

export interface NetlinkOptions {
  /** work inside /run/netns/NAME (sockets are opened there; the process stays put) */
  netns?: string;
  /** per-request timeout (ms), default 5000 */
  timeoutMs?: number;
  /** requests awaiting ACK at once, default 128 */
  window?: number;
}

export type EventKind = 'link' | 'addr' | 'route' | 'rule';
export type Action = 'new' | 'del';
export interface LinkEvent {
  action: Action;
  link: LinkInfo;
}
export interface AddrEvent {
  action: Action;
  address: AddressInfo;
}
export interface RouteEvent {
  action: Action;
  route: RouteInfo;
}
export interface RuleEvent {
  action: Action;
  rule: RuleInfo;
}

export interface SubscribeOptions {
  /** event socket receive buffer (bytes), default 1 MiB */
  rcvbuf?: number;
}

// rtnetlink multicast groups (RTNLGRP_*)
const GROUPS: Record<EventKind, number[]> = {
  link: [1],
  addr: [5, 9], // IPV4_IFADDR, IPV6_IFADDR
  route: [7, 11], // IPV4_ROUTE, IPV6_ROUTE
  rule: [8, 19], // IPV4_RULE, IPV6_RULE
};

/** An SA or policy was added, updated, expired or deleted (which one: dump again). */
export interface XfrmEvent {
  kind: 'sa' | 'policy';
}

export interface NetlinkEvents {
  xfrm: [XfrmEvent];
  link: [LinkEvent];
  addr: [AddrEvent];
  route: [RouteEvent];
  rule: [RuleEvent];
  /** events were lost: resync with dumps; later events keep coming */
  overflow: [];
  error: [Error];
}

export class Netlink extends EventEmitter<NetlinkEvents> {
  readonly netns: string | undefined;
  private readonly opts: NetlinkOptions;
  private readonly route: NlSocket;
  private xfrmSock: NlSocket | undefined;
  private genlSock: NlSocket | undefined;
  private events: NlSocket | undefined;
  private xfrmEvents: NlSocket | undefined;
  private ethtoolFamily: number | null | undefined;
  private readonly indexByName = new Map<string, number>();
  private readonly nameByIndex = new Map<number, string>();

  private constructor(opts: NetlinkOptions) {
    super();
    this.opts = opts;
    this.netns = opts.netns;
    this.route = this.socket(NETLINK_ROUTE);
  }

  static open(opts: NetlinkOptions = {}): Netlink {
    return new Netlink(opts);
  }

  private socket(protocol: number, extra: { groups?: number[]; rcvbuf?: number } = {}): NlSocket {
    return new NlSocket(protocol, {
      ...(this.opts.netns !== undefined ? { netns: this.opts.netns } : {}),
      ...(this.opts.timeoutMs !== undefined ? { timeoutMs: this.opts.timeoutMs } : {}),
      ...(this.opts.window !== undefined ? { window: this.opts.window } : {}),
      ...extra,
    });
  }

  /** the rtnetlink request socket (for tests and special requests) */
  get rtnl(): NlSocket {
    return this.route;
  }

  private get xfrmS(): NlSocket {
    this.xfrmSock ??= this.socket(NETLINK_XFRM);
    return this.xfrmSock;
  }

  // ---- name ↔ index cache (ifindexes are not reused in a netns until wrap-around) ----
  private learn(l: LinkInfo): void {
    const old = this.nameByIndex.get(l.index);
    if (old !== undefined && old !== l.name) this.indexByName.delete(old);
    this.indexByName.set(l.name, l.index);
    this.nameByIndex.set(l.index, l.name);
  }
  private forget(ref: LinkRef): void {
    const index = typeof ref === 'number' ? ref : this.indexByName.get(ref);
    const name = typeof ref === 'string' ? ref : this.nameByIndex.get(ref);
    if (index !== undefined) this.nameByIndex.delete(index);
    if (name !== undefined) this.indexByName.delete(name);
  }
  private readonly nameOf = (i: number): string | undefined => this.nameByIndex.get(i);

  /** ifindex of a device; throws ENODEV (op names the device) if there is none */
  async ifindex(name: string, op: OpText = `ifindex ${name}`): Promise<number> {
    const cached = this.indexByName.get(name);
    if (cached !== undefined) return cached;
    const l = await this.getLink(name);
    if (!l) throw new NetlinkError(19, typeof op === 'string' ? op : op(), undefined, `no device ${name}`);
    return l.index;
  }

  /** runs f with dev's ifindex; on ENODEV with a cached index, re-resolves once (the device may have been recreated) */
  private withIndex<T>(dev: string | undefined, op: OpText, f: (index: number) => Promise<T>): Promise<T> {
    if (!dev) return f(0);
    const cached = this.indexByName.get(dev);
    if (cached === undefined) return this.ifindex(dev, op).then(f);
    // fast path without extra awaits: this runs once per route in bulk changes
    return f(cached).catch((e: unknown) => {
      if (!(e instanceof NetlinkError && e.code === 'ENODEV')) throw e;
      this.forget(dev);
      return this.ifindex(dev, op).then(f);
    });
  }

  // ---- links ----
  async getLink(ref: LinkRef): Promise<LinkInfo | undefined> {
    const l = await links.getLink(this.route, ref);
    if (l) this.learn(l);
    else this.forget(ref);
    return l;
  }
  async dumpLinks(): Promise<LinkInfo[]> {
    const all = await links.dumpLinks(this.route);
    this.indexByName.clear();
    this.nameByIndex.clear();
    for (const l of all) this.learn(l);
    return all;
  }
  async createXfrmLink(spec: XfrmLinkSpec, o: links.CreateFlags = {}): Promise<LinkInfo> {
    const l = await links.createXfrmLink(this.route, spec, o);
    this.learn(l);
    return l;
  }
  async createLink(name: string, kind: string, o: CreateLinkOptions = {}): Promise<LinkInfo> {
    const l = await links.createLink(this.route, name, kind, o);
    this.learn(l);
    return l;
  }
  setLink(ref: LinkRef, change: LinkChange): Promise<void> {
    return links.setLink(this.route, ref, change);
  }
  setLinkUp(ref: LinkRef, up = true): Promise<void> {
    return links.setLink(this.route, ref, { up });
  }
  setMtu(ref: LinkRef, mtu: number): Promise<void> {
    return links.setLink(this.route, ref, { mtu });
  }
  async deleteLink(ref: LinkRef): Promise<void> {
    try {
      await links.deleteLink(this.route, ref);
    } finally {
      this.forget(ref);
    }
  }

  // ---- addresses ----
  addAddress(a: AddressSpec): Promise<void> {
    const op = `RTM_NEWADDR ${a.address}/${a.prefixLen} dev ${a.dev}`;
    return this.withIndex(a.dev, op, async (i) => void (await this.route.request(addressMessage(RTM_NEWADDR, a, i), op)));
  }
  deleteAddress(a: AddressSpec): Promise<void> {
    const op = `RTM_DELADDR ${a.address}/${a.prefixLen} dev ${a.dev}`;
    return this.withIndex(a.dev, op, async (i) => void (await this.route.request(addressMessage(RTM_DELADDR, a, i), op)));
  }
  /** all addresses, or those of one device */
  async dumpAddresses(dev?: string | number): Promise<AddressInfo[]> {
    if (dev === undefined) {
      await this.dumpLinks();
      return dumpAddresses(this.route, 0, this.nameOf);
    }
    // One device: learn just its name, not every link's (a dump per call made resync quadratic).
    const link = await this.getLink(dev);
    return link ? dumpAddresses(this.route, link.index, this.nameOf) : [];
  }

  // ---- routes ----
  /** CREATE|EXCL (EEXIST when a route with the same key exists), or CREATE|REPLACE with `replace`. */
  addRoute(r: RouteSpec, o: { replace?: boolean } = {}): Promise<void> {
    const op = (): string => `RTM_NEWROUTE ${routeText(r)}${o.replace ? ' (replace)' : ''}`;
    return this.withIndex(r.dev, op, async (i) => void (await this.route.request(routeMessage(RTM_NEWROUTE, r, i, o), op)));
  }
  deleteRoute(r: RouteSpec): Promise<void> {
    const op = (): string => `RTM_DELROUTE ${routeText(r)}`;
    return this.withIndex(r.dev, op, async (i) => void (await this.route.request(routeMessage(RTM_DELROUTE, r, i), op)));
  }
  async dumpRoutes(f: RouteFilter = {}): Promise<RouteInfo[]> {
    await this.dumpLinks();
    return dumpRoutes(this.route, f, this.nameOf);
  }

  // ---- rules ----
  async addRule(r: RuleSpec): Promise<void> {
    await this.route.request(ruleMessage(RTM_NEWRULE, r), () => `RTM_NEWRULE ${ruleText(r)}`);
  }
  async deleteRule(r: RuleSpec): Promise<void> {
    await this.route.request(ruleMessage(RTM_DELRULE, r), () => `RTM_DELRULE ${ruleText(r)}`);
  }
  dumpRules(f: { protocol?: number; family?: 4 | 6 } = {}): Promise<RuleInfo[]> {
    return dumpRules(this.route, f);
  }

  // ---- xfrm ----
  addSA(c: xfrm.SAConfig): Promise<void> {
    return xfrm.addSA(this.xfrmS, c);
  }
  deleteSA(k: Parameters<typeof xfrm.deleteSA>[1]): Promise<void> {
    return xfrm.deleteSA(this.xfrmS, k);
  }
  dumpSAs(f: { ifId?: number } = {}): Promise<xfrm.SAInfo[]> {
    return xfrm.dumpSAs(this.xfrmS, f);
  }
  addPolicy(p: xfrm.PolicyConfig): Promise<void> {
    return xfrm.addPolicy(this.xfrmS, p);
  }
  deletePolicy(p: Parameters<typeof xfrm.deletePolicy>[1]): Promise<void> {
    return xfrm.deletePolicy(this.xfrmS, p);
  }
  dumpPolicies(f: { ifId?: number } = {}): Promise<xfrm.PolicyInfo[]> {
    return xfrm.dumpPolicies(this.xfrmS, f);
  }

  // ---- ethtool ----
  /** features of a device; undefined when the kernel has no ethtool netlink */
  async features(dev: string): Promise<Features | undefined> {
    this.genlSock ??= this.socket(NETLINK_GENERIC);
    if (this.ethtoolFamily === undefined) this.ethtoolFamily = (await resolveFamily(this.genlSock, 'ethtool')) ?? null;
    if (this.ethtoolFamily === null) return undefined;
    return getFeatures(this.genlSock, this.ethtoolFamily, dev);
  }

  // ---- events ----
  /** Opens the event socket for these kinds (default all). Call once. */
  async subscribe(kinds: EventKind[] = ['link', 'addr', 'route', 'rule'], o: SubscribeOptions = {}): Promise<void> {
    if (this.events) throw new Error('already subscribed');
    const groups = kinds.flatMap((k) => GROUPS[k]);
    this.events = this.socket(NETLINK_ROUTE, { groups, rcvbuf: o.rcvbuf ?? 1 << 20 });
    this.events.on('message', (m: NlMessage) => this.onEvent(m));
    this.events.on('overflow', () => this.emit('overflow'));
    this.events.on('error', (e: Error) => {
      if (this.listenerCount('error') > 0) this.emit('error', e);
    });
    // names for the index → dev translation of address and route events
    await this.dumpLinks();
  }

  /** XFRM notifications (XFRMNLGRP_EXPIRE, _SA, _POLICY) as 'xfrm' events. Call once. */
  subscribeXfrm(o: SubscribeOptions = {}): void {
    if (this.xfrmEvents) throw new Error('already subscribed to xfrm');
    this.xfrmEvents = this.socket(NETLINK_XFRM, { groups: [2, 3, 4], rcvbuf: o.rcvbuf ?? 1 << 18 });
    this.xfrmEvents.on('message', (m: NlMessage) => {
      const kind = xfrm.eventKind(m.type);
      if (kind) this.emit('xfrm', { kind });
    });
    // lost SA events: the listener dumps anyway
    this.xfrmEvents.on('overflow', () => this.emit('xfrm', { kind: 'sa' }));
    this.xfrmEvents.on('error', (e: Error) => {
      if (this.listenerCount('error') > 0) this.emit('error', e);
    });
  }

  private onEvent(m: NlMessage): void {
    switch (m.type) {
      case links.RTM_NEWLINK:
      case links.RTM_DELLINK: {
        const link = links.decodeLink(m);
        if (!link) return;
        const action: Action = m.type === links.RTM_NEWLINK ? 'new' : 'del';
        if (action === 'new') this.learn(link);
        else this.forget(link.index);
        this.emit('link', { action, link } satisfies LinkEvent);
        return;
      }
      case RTM_NEWADDR:
      case RTM_DELADDR: {
        const address = decodeAddress(m, this.nameOf);
        if (address) this.emit('addr', { action: m.type === RTM_NEWADDR ? 'new' : 'del', address } satisfies AddrEvent);
        return;
      }
      case RTM_NEWROUTE:
      case RTM_DELROUTE: {
        const route = decodeRoute(m, this.nameOf);
        if (route) this.emit('route', { action: m.type === RTM_NEWROUTE ? 'new' : 'del', route } satisfies RouteEvent);
        return;
      }
      case RTM_NEWRULE:
      case RTM_DELRULE: {
        const rule = decodeRule(m);
        if (rule) this.emit('rule', { action: m.type === RTM_NEWRULE ? 'new' : 'del', rule } satisfies RuleEvent);
        return;
      }
    }
  }

  close(): void {
    this.route.close();
    this.xfrmSock?.close();
    this.genlSock?.close();
    this.events?.close();
    this.xfrmEvents?.close();
    this.removeAllListeners();
  }
}
