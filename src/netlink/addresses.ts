// Addresses (RTM_*ADDR, if_addr.h), v4 and v6.
import type { AddressSpec } from '../model.ts';
import { Attrs, MessageBuilder, type NlMessage } from './attrs.ts';
import { NetlinkError } from './errors.ts';
import { r32, w32 } from './host.ts';
import { afOf, bytesToIp, familyOfAf, ipToBytes } from './ip.ts';
import { NLM_F_CREATE, NLM_F_EXCL, type NlSocket } from './socket.ts';

export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_FLAGS = 8;
/** no duplicate address detection: tunnel addresses are usable at once (no "tentative") */
const IFA_F_NODAD = 0x02;

export interface AddressInfo extends AddressSpec {
  index: number;
  scope: number;
  /** IFA_FLAGS (IFA_F_*) */
  flags: number;
}

function ifaddrmsg(af: number, prefixLen: number, index: number): Buffer {
  const b = Buffer.alloc(8);
  b[0] = af;
  b[1] = prefixLen;
  w32(b, index, 4);
  return b;
}

export function addressMessage(type: number, a: AddressSpec, index: number): MessageBuilder {
  const m = new MessageBuilder(type, type === RTM_NEWADDR ? NLM_F_CREATE | NLM_F_EXCL : 0, ifaddrmsg(afOf(a.family), a.prefixLen, index));
  const bytes = ipToBytes(a.address);
  m.attr(IFA_LOCAL, bytes).attr(IFA_ADDRESS, bytes);
  if (type === RTM_NEWADDR && a.family === 6) m.u32(IFA_FLAGS, IFA_F_NODAD);
  return m;
}

export function decodeAddress(m: NlMessage, nameOf: (index: number) => string | undefined): AddressInfo | undefined {
  if (m.data.length < 8) return undefined;
  const family = familyOfAf(m.data[0] ?? 0);
  if (!family) return undefined;
  const index = r32(m.data, 4);
  const a = Attrs.parse(m.data, 8);
  const raw = a.get(IFA_LOCAL) ?? a.get(IFA_ADDRESS);
  if (!raw) return undefined;
  return {
    family,
    address: bytesToIp(raw, family),
    prefixLen: m.data[1] ?? 0,
    dev: nameOf(index) ?? '',
    index,
    scope: m.data[3] ?? 0,
    flags: a.u32(IFA_FLAGS) ?? m.data[2] ?? 0,
  };
}

export async function dumpAddresses(s: NlSocket, index: number, nameOf: (index: number) => string | undefined): Promise<AddressInfo[]> {
  // with NETLINK_GET_STRICT_CHK the kernel filters by ifa_index itself; we filter again for older kernels
  const m = new MessageBuilder(RTM_GETADDR, 0, ifaddrmsg(0, 0, index));
  const out: AddressInfo[] = [];
  let msgs: NlMessage[];
  try {
    msgs = await s.dump(m, `RTM_GETADDR dump${index ? ` ifindex ${index}` : ''}`);
  } catch (e) {
    // strict-checking kernels refuse a filter on a device that is gone: it has no addresses
    if (index !== 0 && e instanceof NetlinkError && e.code === 'ENODEV') return [];
    throw e;
  }
  for (const r of msgs) {
    if (r.type !== RTM_NEWADDR) continue;
    const x = decodeAddress(r, nameOf);
    if (x && (index === 0 || x.index === index)) out.push(x);
  }
  return out;
}
