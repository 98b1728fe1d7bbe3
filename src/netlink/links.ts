// Links (RTM_*LINK, if_link.h): xfrm interfaces with their IFLA_XFRM_* data,
// plus veth/dummy/bridge for tests and benchmarks.
import type { XfrmLinkSpec } from '../model.ts';
import type { LinkState } from '../reconcile/kernel.ts';
import { Attrs, MessageBuilder, type NlMessage } from './attrs.ts';
import { NetlinkError } from './errors.ts';
import { r32, ri32, w16, w32, wi32 } from './host.ts';
import { NLM_F_CREATE, NLM_F_EXCL, type NlSocket } from './socket.ts';

export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;

const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_LINK = 5;
const IFLA_MASTER = 10;
const IFLA_OPERSTATE = 16;
const IFLA_LINKINFO = 18;
const IFLA_EXT_MASK = 29;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const IFLA_XFRM_LINK = 1;
const IFLA_XFRM_IF_ID = 2;
const IFLA_XFRM_COLLECT_METADATA = 3;
const VETH_INFO_PEER = 1;
const RTEXT_FILTER_SKIP_STATS = 1 << 3;

export const IFF_UP = 0x1;
export const IFF_MULTICAST = 0x1000;
const IFINFOMSG_LEN = 16;

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

function ifinfomsg(index = 0, flags = 0, change = 0): Buffer {
  const b = Buffer.alloc(IFINFOMSG_LEN);
  b[0] = 0; // AF_UNSPEC
  w16(b, 0, 2);
  wi32(b, index, 4);
  w32(b, flags, 8);
  w32(b, change, 12);
  return b;
}

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

/** Puts the device reference: index in the header, or IFLA_IFNAME. */
function refMsg(type: number, flags: number, ref: LinkRef, f = 0, change = 0): MessageBuilder {
  const m = new MessageBuilder(type, flags, ifinfomsg(typeof ref === 'number' ? ref : 0, f, change));
  if (typeof ref === 'string') m.str(IFLA_IFNAME, ref);
  return m;
}

export function decodeLink(m: NlMessage): LinkInfo | undefined {
  if (m.data.length < IFINFOMSG_LEN) return undefined;
  const index = ri32(m.data, 4);
  const flags = r32(m.data, 8);
  const a = Attrs.parse(m.data, IFINFOMSG_LEN);
  const info = a.nested(IFLA_LINKINFO);
  const kind = info?.str(IFLA_INFO_KIND);
  const mac = a.get(IFLA_ADDRESS);
  const l: LinkInfo = {
    name: a.str(IFLA_IFNAME) ?? '',
    index,
    kind,
    up: (flags & IFF_UP) !== 0,
    mtu: a.u32(IFLA_MTU) ?? 0,
    multicast: (flags & IFF_MULTICAST) !== 0,
    flags,
    operstate: OPERSTATES[a.u8(IFLA_OPERSTATE) ?? 0] ?? 'unknown',
    parent: a.u32(IFLA_LINK) ?? 0,
    master: a.u32(IFLA_MASTER) ?? 0,
  };
  if (mac && mac.length > 0) l.mac = [...mac].map((x) => x.toString(16).padStart(2, '0')).join(':');
  if (kind === 'xfrm') {
    const d = info?.nested(IFLA_INFO_DATA);
    l.xfrm = {
      ifId: d?.u32(IFLA_XFRM_IF_ID) ?? 0,
      link: d?.u32(IFLA_XFRM_LINK) ?? 0,
      collectMetadata: d?.has(IFLA_XFRM_COLLECT_METADATA) ?? false,
    };
  }
  return l;
}

const refText = (ref: LinkRef): string => (typeof ref === 'number' ? `ifindex ${ref}` : ref);

export async function getLink(s: NlSocket, ref: LinkRef): Promise<LinkInfo | undefined> {
  const m = refMsg(RTM_GETLINK, 0, ref).u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  try {
    const r = await s.request(m, `RTM_GETLINK ${refText(ref)}`);
    return r[0] ? decodeLink(r[0]) : undefined;
  } catch (e) {
    if (e instanceof NetlinkError && e.code === 'ENODEV') return undefined;
    throw e;
  }
}

export async function dumpLinks(s: NlSocket): Promise<LinkInfo[]> {
  const m = new MessageBuilder(RTM_GETLINK, 0, ifinfomsg()).u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  const out: LinkInfo[] = [];
  for (const r of await s.dump(m, 'RTM_GETLINK dump')) {
    if (r.type !== RTM_NEWLINK) continue;
    const l = decodeLink(r);
    if (l) out.push(l);
  }
  return out;
}

/** RTM_NEWLINK kind "xfrm", CREATE|EXCL: an existing name or if_id is EEXIST. */
export function xfrmLinkMessage(spec: XfrmLinkSpec): MessageBuilder {
  const { flags, change } = flagsOf({ multicast: spec.multicast });
  const m = new MessageBuilder(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, ifinfomsg(0, flags, change));
  m.str(IFLA_IFNAME, spec.name);
  if (spec.mtu > 0) m.u32(IFLA_MTU, spec.mtu);
  m.nest(IFLA_LINKINFO, (li) => {
    li.str(IFLA_INFO_KIND, 'xfrm');
    li.nest(IFLA_INFO_DATA, (d) => {
      // if_id 0 is sent as asked: the kernel's own message ("if_id must be non zero") is clearer than ours
      if (!spec.collectMetadata || spec.ifId !== 0) d.u32(IFLA_XFRM_IF_ID, spec.ifId);
      if (spec.link) d.u32(IFLA_XFRM_LINK, spec.link);
      if (spec.collectMetadata) d.flag(IFLA_XFRM_COLLECT_METADATA);
    });
  });
  return m;
}

export async function createXfrmLink(s: NlSocket, spec: XfrmLinkSpec): Promise<LinkInfo> {
  await s.request(xfrmLinkMessage(spec), `RTM_NEWLINK xfrm ${spec.name} if_id ${spec.ifId}`);
  const l = await getLink(s, spec.name);
  if (!l) throw new NetlinkError(19, `RTM_GETLINK ${spec.name}`, undefined, 'created link vanished');
  return l;
}

export interface CreateLinkOptions {
  /** veth peer name */
  peer?: string;
  mtu?: number;
  up?: boolean;
}

/** Creates a kind-only device (veth with peer, dummy, bridge …), CREATE|EXCL. */
export async function createLink(s: NlSocket, name: string, kind: string, o: CreateLinkOptions = {}): Promise<LinkInfo> {
  const { flags, change } = flagsOf({ up: o.up });
  const m = new MessageBuilder(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, ifinfomsg(0, flags, change));
  m.str(IFLA_IFNAME, name);
  if (o.mtu) m.u32(IFLA_MTU, o.mtu);
  m.nest(IFLA_LINKINFO, (li) => {
    li.str(IFLA_INFO_KIND, kind);
    if (kind === 'veth' && o.peer !== undefined) {
      const peer = o.peer;
      li.nest(IFLA_INFO_DATA, (d) =>
        d.nest(VETH_INFO_PEER, (p) => {
          // the peer's payload is an ifinfomsg followed by its attributes
          p.reserve(IFINFOMSG_LEN);
          p.str(IFLA_IFNAME, peer);
          if (o.mtu) p.u32(IFLA_MTU, o.mtu);
        }),
      );
    }
  });
  await s.request(m, `RTM_NEWLINK ${kind} ${name}`);
  const l = await getLink(s, name);
  if (!l) throw new NetlinkError(19, `RTM_GETLINK ${name}`, undefined, 'created link vanished');
  return l;
}

export async function setLink(s: NlSocket, ref: LinkRef, c: LinkChange): Promise<void> {
  const { flags, change } = flagsOf(c);
  const m = refMsg(RTM_NEWLINK, 0, ref, flags, change);
  if (c.mtu !== undefined) m.u32(IFLA_MTU, c.mtu);
  const what = Object.entries(c)
    .map(([k, v]) => `${k} ${String(v)}`)
    .join(' ');
  await s.request(m, `RTM_NEWLINK ${refText(ref)} ${what}`);
}

export async function deleteLink(s: NlSocket, ref: LinkRef): Promise<void> {
  await s.request(refMsg(RTM_DELLINK, 0, ref), `RTM_DELLINK ${refText(ref)}`);
}
