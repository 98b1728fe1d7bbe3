// Links (RTM_*LINK, if_link.h): xfrm interfaces with their IFLA_XFRM_* data,
// plus veth/dummy/bridge for tests and benchmarks.
import type { XfrmLinkSpec } from '../model.ts';
import type { LinkState } from '../reconcile/kernel.ts';
import { formatDeviceFlags, formatLinkMessage, parseLinkMessage } from 'netlink/dist/rt/structs.js';
import { formatInfo, formatVethInfo, formatXfrm, parseInfo, parseXfrm, type LinkAttrs } from 'netlink/dist/rt/ifla.js';
import { getU32, putU32 } from 'netlink/dist/structs.js';
import { Attrs, type MessageBuilder, type NlMessage } from './attrs.ts';
import { NetlinkError } from './errors.ts';
import { pkgMessage, streamBuffer } from './rtpkg.ts';
import { NLM_F_CREATE, NLM_F_EXCL, type NlSocket } from './socket.ts';

export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;

// package's Xfrm has no collect_metadata: a flag attribute we add/read ourselves
const IFLA_XFRM_COLLECT_METADATA = 3;
const RTEXT_FILTER_SKIP_STATS = 1 << 3;

export const IFF_UP = 0x1;
export const IFF_MULTICAST = 0x1000;

const OPERSTATES = ['unknown', 'notpresent', 'down', 'lowerlayerdown', 'testing', 'dormant', 'up'] as const;
export type OperState = (typeof OPERSTATES)[number];

/** A link as dumped: the reconciler's LinkState plus what else the kernel tells. */
export interface LinkInfo extends LinkState {
  /** raw ifi_flags (IFF_*) */
  flags: number;
  operstate: OperState;
  /** IFLA_LINK (e.g. a veth's peer index), 0 if none */
  parent: number;
  /** IFLA_MASTER, 0 if none */
  master: number;
  /** hardware address, "aa:bb:…", if any */
  mac?: string;
}

export interface LinkChange {
  up?: boolean;
  mtu?: number;
  multicast?: boolean;
}

export type LinkRef = string | number;

function flagsOf(c: LinkChange): { flags: number; change: number } {
  let flags = 0;
  let change = 0;
  if (c.up !== undefined) {
    change |= IFF_UP;
    if (c.up) flags |= IFF_UP;
  }
  if (c.multicast !== undefined) {
    change |= IFF_MULTICAST;
    if (c.multicast) flags |= IFF_MULTICAST;
  }
  return { flags, change };
}

/** ifinfomsg + attributes, formatted by the package; the device goes in the header (index) or IFLA_IFNAME. */
function linkMsg(type: number, nlFlags: number, ref: LinkRef, attrs: LinkAttrs, f = 0, change = 0): MessageBuilder {
  const index = typeof ref === 'number' ? ref : 0;
  const a: LinkAttrs = typeof ref === 'string' ? { ifname: ref, ...attrs } : attrs;
  return pkgMessage(type, nlFlags, (out) => formatLinkMessage({ kind: 'link', data: { index, flags: { __unknown: f }, change: { __unknown: change } }, attrs: a }, out));
}

export function decodeLink(m: NlMessage): LinkInfo | undefined {
  let p: ReturnType<typeof parseLinkMessage>;
  try {
    p = parseLinkMessage(m.data);
  } catch {
    return undefined; // short or malformed
  }
  const { data, attrs: a } = p;
  const flags = formatDeviceFlags(data.flags ?? {});
  const info = a.linkinfo ? parseInfo(a.linkinfo) : undefined;
  const kind = info?.kind;
  const mac = a.address;
  const l: LinkInfo = {
    name: a.ifname ?? '',
    index: data.index ?? 0,
    kind,
    up: (flags & IFF_UP) !== 0,
    mtu: a.mtu ?? 0,
    multicast: (flags & IFF_MULTICAST) !== 0,
    flags,
    operstate: OPERSTATES[a.operstate ?? 0] ?? 'unknown',
    // package has IFLA_LINK as raw bytes
    parent: a.link && a.link.length >= 4 ? getU32(a.link) : 0,
    master: a.master ?? 0,
  };
  if (mac && mac.length > 0) l.mac = [...mac].map((x) => x.toString(16).padStart(2, '0')).join(':');
  if (kind === 'xfrm') {
    const d = info?.data;
    const x = d ? parseXfrm(d) : {};
    l.xfrm = {
      ifId: x.ifId ?? 0,
      link: x.link ?? 0,
      // package's parser drops attributes it does not know (collect_metadata)
      collectMetadata: d ? Attrs.parse(d).has(IFLA_XFRM_COLLECT_METADATA) : false,
    };
  }
  return l;
}

const refText = (ref: LinkRef): string => (typeof ref === 'number' ? `ifindex ${ref}` : ref);

export async function getLink(s: NlSocket, ref: LinkRef): Promise<LinkInfo | undefined> {
  const m = linkMsg(RTM_GETLINK, 0, ref, { extMask: putU32(RTEXT_FILTER_SKIP_STATS) });
  try {
    const r = await s.request(m, `RTM_GETLINK ${refText(ref)}`);
    return r[0] ? decodeLink(r[0]) : undefined;
  } catch (e) {
    if (e instanceof NetlinkError && e.code === 'ENODEV') return undefined;
    throw e;
  }
}

export async function dumpLinks(s: NlSocket): Promise<LinkInfo[]> {
  const m = linkMsg(RTM_GETLINK, 0, 0, { extMask: putU32(RTEXT_FILTER_SKIP_STATS) });
  const out: LinkInfo[] = [];
  for (const r of await s.dump(m, 'RTM_GETLINK dump')) {
    if (r.type !== RTM_NEWLINK) continue;
    const l = decodeLink(r);
    if (l) out.push(l);
  }
  return out;
}

/** Device settings applied by the RTM_NEWLINK that creates it (ifi_flags/ifi_change), saving a setLink. */
export interface CreateFlags {
  /** IFF_UP at creation */
  up?: boolean;
}

/** RTM_NEWLINK kind "xfrm", CREATE|EXCL: an existing name or if_id is EEXIST. */
export function xfrmLinkMessage(spec: XfrmLinkSpec, o: CreateFlags = {}): MessageBuilder {
  const { flags, change } = flagsOf({ multicast: spec.multicast, ...(o.up !== undefined ? { up: o.up } : {}) });
  const data = streamBuffer((out) => {
    // if_id 0 is sent as asked: the kernel's own message ("if_id must be non zero") is clearer than ours
    out.emit(formatXfrm({ ...(!spec.collectMetadata || spec.ifId !== 0 ? { ifId: spec.ifId } : {}), ...(spec.link ? { link: spec.link } : {}) }));
    // package has no IFLA_XFRM_COLLECT_METADATA (and throws on unknown keys): pushed as a raw flag
    if (spec.collectMetadata) out.push(IFLA_XFRM_COLLECT_METADATA, Buffer.alloc(0));
  });
  const attrs: LinkAttrs = { ...(spec.mtu > 0 ? { mtu: spec.mtu } : {}), linkinfo: streamBuffer(formatInfo({ kind: 'xfrm', data })) };
  return linkMsg(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, spec.name, attrs, flags, change);
}

/**
 * Sends the creation and, without waiting for its ACK, the RTM_GETLINK that reads the new
 * device back: the socket sends both in one datagram and the kernel handles them in order,
 * so the GETLINK sees the device once the creation succeeded (one round trip, not two).
 * If the creation fails, its error is what is thrown; the GETLINK's outcome is dropped.
 */
async function createThenGet(s: NlSocket, m: MessageBuilder, op: string, name: string): Promise<LinkInfo> {
  const created = s.request(m, op);
  const got = getLink(s, name);
  try {
    await created;
  } catch (e) {
    got.catch(() => {});
    throw e;
  }
  const l = await got;
  if (!l) throw new NetlinkError(19, `RTM_GETLINK ${name}`, undefined, 'created link vanished');
  return l;
}

export function createXfrmLink(s: NlSocket, spec: XfrmLinkSpec, o: CreateFlags = {}): Promise<LinkInfo> {
  return createThenGet(s, xfrmLinkMessage(spec, o), `RTM_NEWLINK xfrm ${spec.name} if_id ${spec.ifId}`, spec.name);
}

export interface CreateLinkOptions {
  /** veth peer name */
  peer?: string;
  mtu?: number;
  up?: boolean;
  /** IFF_MULTICAST at creation (default: the kind's own) */
  multicast?: boolean;
}

/** Creates a kind-only device (veth with peer, dummy, bridge …), CREATE|EXCL. */
export function createLink(s: NlSocket, name: string, kind: string, o: CreateLinkOptions = {}): Promise<LinkInfo> {
  const { flags, change } = flagsOf({ up: o.up, ...(o.multicast !== undefined ? { multicast: o.multicast } : {}) });
  const mtu = o.mtu ? { mtu: o.mtu } : {};
  const peer = kind === 'veth' && o.peer !== undefined ? o.peer : undefined;
  // the veth peer's payload is an ifinfomsg followed by its attributes
  const data = peer === undefined ? undefined : streamBuffer(formatVethInfo({ peer: streamBuffer((out) => formatLinkMessage({ kind: 'link', data: {}, attrs: { ifname: peer, ...mtu } }, out)) }));
  const linkinfo = streamBuffer(formatInfo({ kind, ...(data ? { data } : {}) }));
  const m = linkMsg(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, name, { ...mtu, linkinfo }, flags, change);
  return createThenGet(s, m, `RTM_NEWLINK ${kind} ${name}`, name);
}

export async function setLink(s: NlSocket, ref: LinkRef, c: LinkChange): Promise<void> {
  const { flags, change } = flagsOf(c);
  const m = linkMsg(RTM_NEWLINK, 0, ref, c.mtu !== undefined ? { mtu: c.mtu } : {}, flags, change);
  const what = Object.entries(c)
    .map(([k, v]) => `${k} ${String(v)}`)
    .join(' ');
  await s.request(m, `RTM_NEWLINK ${refText(ref)} ${what}`);
}

export async function deleteLink(s: NlSocket, ref: LinkRef): Promise<void> {
  await s.request(linkMsg(RTM_DELLINK, 0, ref, {}), `RTM_DELLINK ${refText(ref)}`);
}
