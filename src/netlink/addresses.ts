// Addresses (RTM_*ADDR, if_addr.h), v4 and v6.
import type { AddressSpec } from '../model.ts';
import { eachAttr, MessageBuilder, type NlMessage } from './attrs.ts';
import { NetlinkError } from './errors.ts';
import { r32, w32 } from './host.ts';
import { afOf, bytesToIp, familyOfAf, ipToBytes } from './ip.ts';
import { NLM_F_CREATE, NLM_F_EXCL, type NlSocket } from './socket.ts';

export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;

// struct ifaddrmsg: family u8, prefixlen u8, flags u8, scope u8, index u32
const IFADDRMSG_LEN = 8;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_FLAGS = 8;
const IFA_F_NODAD = 0x02;

function ifaddrmsg(type: number, nlFlags: number, family: number, prefixLen: number, index: number): MessageBuilder {
  const m = new MessageBuilder(type, nlFlags, IFADDRMSG_LEN);
  const h = m.fixed;
  h[0] = family;
  h[1] = prefixLen;
  w32(h, index, 4);
  return m;
}

export interface AddressInfo extends AddressSpec {
  index: number;
  scope: number;
  /** IFA_FLAGS (IFA_F_*) */
  flags: number;
}

export function addressMessage(type: number, a: AddressSpec, index: number): MessageBuilder {
  const bytes = ipToBytes(a.address);
  const m = ifaddrmsg(type, type === RTM_NEWADDR ? NLM_F_CREATE | NLM_F_EXCL : 0, afOf(a.family), a.prefixLen, index).attr(IFA_LOCAL, bytes).attr(IFA_ADDRESS, bytes);
  // nodad: tunnel addresses are usable at once (no "tentative")
  if (type === RTM_NEWADDR && a.family === 6) m.u32(IFA_FLAGS, IFA_F_NODAD);
  return m;
}

export function decodeAddress(m: NlMessage, nameOf: (index: number) => string | undefined): AddressInfo | undefined {
  const d = m.data;
  if (d.length < IFADDRMSG_LEN) return undefined;
  const family = familyOfAf(d[0]!);
  if (!family) return undefined;
  let local: Buffer | undefined;
  let address: Buffer | undefined;
  let flags: number = d[2]!;
  eachAttr(d, IFADDRMSG_LEN, d.length, (t, s, e) => {
    if (t === IFA_LOCAL) local = d.subarray(s, e);
    else if (t === IFA_ADDRESS) address = d.subarray(s, e);
    else if (t === IFA_FLAGS && e - s >= 4) flags = r32(d, s);
  });
  const raw = local ?? address;
  if (!raw) return undefined;
  const index = r32(d, 4);
  return { family, address: bytesToIp(raw, family), prefixLen: d[1]!, dev: nameOf(index) ?? '', index, scope: d[3]!, flags };
}

export async function dumpAddresses(s: NlSocket, index: number, nameOf: (index: number) => string | undefined): Promise<AddressInfo[]> {
  // with NETLINK_GET_STRICT_CHK the kernel filters by ifa_index itself; we filter again for older kernels
  const m = ifaddrmsg(RTM_GETADDR, 0, 0, 0, index);
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
