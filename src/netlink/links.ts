// Links (RTM_*LINK, if_link.h): xfrm interfaces with their IFLA_XFRM_* data,
// plus veth/dummy/bridge for tests and benchmarks.
import type { XfrmLinkSpec } from '../model.ts';
import type { LinkState } from '../reconcile/kernel.ts';
import { eachAttr, MessageBuilder, type NlMessage } from './attrs.ts';
import { NetlinkError } from './errors.ts';
import { r32, ri32, w32, wi32 } from './host.ts';
import { NLM_F_CREATE, NLM_F_EXCL, type NlSocket } from './socket.ts';

export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;

// struct ifinfomsg: family u8, pad u8, type u16, index s32, flags u32, change u32
const IFINFOMSG_LEN = 16;
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

/** ifinfomsg; the device goes in the header (index) or IFLA_IFNAME. */
function linkMsg(type: number, nlFlags: number, ref: LinkRef, f = 0, change = 0): MessageBuilder {
  const m = new MessageBuilder(type, nlFlags, IFINFOMSG_LEN);
  const h = m.fixed;
  wi32(h, typeof ref === 'number' ? ref : 0, 4);
  w32(h, f, 8);
  w32(h, change, 12);
  if (typeof ref === 'string') m.str(IFLA_IFNAME, ref);
  return m;
}

const cstr = (b: Buffer, start: number, end: number): string => {
  const z = b.indexOf(0, start);
  return b.toString('utf8', start, z < 0 || z > end ? end : z);
};

export function decodeLink(m: NlMessage): LinkInfo | undefined {
  const d = m.data;
  if (d.length < IFINFOMSG_LEN) return undefined;
  const flags = r32(d, 8);
  const l: LinkInfo = {
    name: '',
    index: ri32(d, 4),
    kind: undefined,
    up: (flags & IFF_UP) !== 0,
    mtu: 0,
    multicast: (flags & IFF_MULTICAST) !== 0,
    flags,
    operstate: 'unknown',
    parent: 0,
    master: 0,
  };
  let info: [number, number] | undefined;
  eachAttr(d, IFINFOMSG_LEN, d.length, (t, s, e) => {
    if (t === IFLA_IFNAME) l.name = cstr(d, s, e);
    else if (t === IFLA_MTU && e - s >= 4) l.mtu = r32(d, s);
    else if (t === IFLA_LINK && e - s >= 4) l.parent = r32(d, s);
    else if (t === IFLA_MASTER && e - s >= 4) l.master = r32(d, s);
    else if (t === IFLA_OPERSTATE && e > s) l.operstate = OPERSTATES[d[s]!] ?? 'unknown';
    else if (t === IFLA_ADDRESS && e > s) l.mac = [...d.subarray(s, e)].map((x) => x.toString(16).padStart(2, '0')).join(':');
    else if (t === IFLA_LINKINFO) info = [s, e];
  });
  if (info) {
    let data: [number, number] | undefined;
    eachAttr(d, info[0], info[1], (t, s, e) => {
      if (t === IFLA_INFO_KIND) l.kind = cstr(d, s, e);
      else if (t === IFLA_INFO_DATA) data = [s, e];
    });
    if (l.kind === 'xfrm') {
      const x = { ifId: 0, link: 0, collectMetadata: false };
      if (data) {
        eachAttr(d, data[0], data[1], (t, s, e) => {
          if (t === IFLA_XFRM_IF_ID && e - s >= 4) x.ifId = r32(d, s);
          else if (t === IFLA_XFRM_LINK && e - s >= 4) x.link = r32(d, s);
          else if (t === IFLA_XFRM_COLLECT_METADATA) x.collectMetadata = true;
        });
      }
      l.xfrm = x;
    }
  }
  return l;
}

const refText = (ref: LinkRef): string => (typeof ref === 'number' ? `ifindex ${ref}` : ref);

export async function getLink(s: NlSocket, ref: LinkRef): Promise<LinkInfo | undefined> {
  const m = linkMsg(RTM_GETLINK, 0, ref).u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  try {
    const r = await s.request(m, `RTM_GETLINK ${refText(ref)}`);
    return r[0] ? decodeLink(r[0]) : undefined;
  } catch (e) {
    if (e instanceof NetlinkError && e.code === 'ENODEV') return undefined;
    throw e;
  }
}

export async function dumpLinks(s: NlSocket): Promise<LinkInfo[]> {
  const m = linkMsg(RTM_GETLINK, 0, 0).u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
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
  const m = linkMsg(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, spec.name, flags, change);
  if (spec.mtu > 0) m.u32(IFLA_MTU, spec.mtu);
  return m.nest(
    IFLA_LINKINFO,
    (li) =>
      li.str(IFLA_INFO_KIND, 'xfrm').nest(
        IFLA_INFO_DATA,
        (d) => {
          // if_id 0 is sent as asked: the kernel's own message ("if_id must be non zero") is clearer than ours
          if (!spec.collectMetadata || spec.ifId !== 0) d.u32(IFLA_XFRM_IF_ID, spec.ifId);
          if (spec.link) d.u32(IFLA_XFRM_LINK, spec.link);
          if (spec.collectMetadata) d.flag(IFLA_XFRM_COLLECT_METADATA);
        },
        false,
      ),
    false,
  );
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
  const m = linkMsg(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, name, flags, change);
  if (o.mtu) m.u32(IFLA_MTU, o.mtu);
  const peer = kind === 'veth' && o.peer !== undefined ? o.peer : undefined;
  m.nest(
    IFLA_LINKINFO,
    (li) => {
      li.str(IFLA_INFO_KIND, kind);
      if (peer === undefined) return;
      // the veth peer's payload is an ifinfomsg followed by its attributes
      li.nest(
        IFLA_INFO_DATA,
        (d) =>
          d.nest(
            VETH_INFO_PEER,
            (p) => {
              p.reserve(IFINFOMSG_LEN);
              p.str(IFLA_IFNAME, peer);
              if (o.mtu) p.u32(IFLA_MTU, o.mtu);
            },
            false,
          ),
        false,
      );
    },
    false,
  );
  return createThenGet(s, m, `RTM_NEWLINK ${kind} ${name}`, name);
}

export async function setLink(s: NlSocket, ref: LinkRef, c: LinkChange): Promise<void> {
  const { flags, change } = flagsOf(c);
  const m = linkMsg(RTM_NEWLINK, 0, ref, flags, change);
  if (c.mtu !== undefined) m.u32(IFLA_MTU, c.mtu);
  const what = Object.entries(c)
    .map(([k, v]) => `${k} ${String(v)}`)
    .join(' ');
  await s.request(m, `RTM_NEWLINK ${refText(ref)} ${what}`);
}

export async function deleteLink(s: NlSocket, ref: LinkRef): Promise<void> {
  await s.request(linkMsg(RTM_DELLINK, 0, ref), `RTM_DELLINK ${refText(ref)}`);
}
