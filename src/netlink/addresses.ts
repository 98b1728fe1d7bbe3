// Addresses (RTM_*ADDR, if_addr.h), v4 and v6.
import type { AddressSpec } from '../model.ts';
import { formatAddressFlags, formatAddressMessage, parseAddressMessage } from 'netlink/dist/rt/structs.js';
import type { MessageBuilder, NlMessage } from './attrs.ts';
import { NetlinkError } from './errors.ts';
import { afOf, bytesToIp, familyOfAf, ipToBytes } from './ip.ts';
import { pkgMessage } from './rtpkg.ts';
import { NLM_F_CREATE, NLM_F_EXCL, type NlSocket } from './socket.ts';

export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;

export interface AddressInfo extends AddressSpec {
  index: number;
  scope: number;
  /** IFA_FLAGS (IFA_F_*) */
  flags: number;
}

export function addressMessage(type: number, a: AddressSpec, index: number): MessageBuilder {
  const bytes = ipToBytes(a.address);
  return pkgMessage(type, type === RTM_NEWADDR ? NLM_F_CREATE | NLM_F_EXCL : 0, (out) =>
    formatAddressMessage(
      {
        kind: 'address',
        data: { family: afOf(a.family), prefixlen: a.prefixLen, index },
        // nodad: tunnel addresses are usable at once (no "tentative")
        attrs: { local: bytes, address: bytes, ...(type === RTM_NEWADDR && a.family === 6 ? { flags: { nodad: true } } : {}) },
      },
      out,
    ),
  );
}

export function decodeAddress(m: NlMessage, nameOf: (index: number) => string | undefined): AddressInfo | undefined {
  let p: ReturnType<typeof parseAddressMessage>;
  try {
    p = parseAddressMessage(m.data);
  } catch {
    return undefined; // short or malformed
  }
  const { data: h, attrs: a } = p;
  const family = familyOfAf(h.family ?? 0);
  if (!family) return undefined;
  const index = h.index ?? 0;
  const raw = a.local ?? a.address;
  if (!raw) return undefined;
  return {
    family,
    address: bytesToIp(raw, family),
    prefixLen: h.prefixlen ?? 0,
    dev: nameOf(index) ?? '',
    index,
    scope: h.scope ?? 0,
    flags: formatAddressFlags(a.flags ?? h.flags ?? {}),
  };
}

export async function dumpAddresses(s: NlSocket, index: number, nameOf: (index: number) => string | undefined): Promise<AddressInfo[]> {
  // with NETLINK_GET_STRICT_CHK the kernel filters by ifa_index itself; we filter again for older kernels
  const m = pkgMessage(RTM_GETADDR, 0, (out) => formatAddressMessage({ kind: 'address', data: { index }, attrs: {} }, out));
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
