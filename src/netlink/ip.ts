// Address text <-> bytes (v6 printed as RFC 5952 by the config module's formatter).
import { formatAddress, parseAddress } from '../config/ip.ts';
import type { Family } from '../model.ts';

export const AF_INET = 2;
export const AF_INET6 = 10;
export const afOf = (f: Family): number => (f === 4 ? AF_INET : AF_INET6);
export const familyOfAf = (af: number): Family | undefined => (af === AF_INET ? 4 : af === AF_INET6 ? 6 : undefined);

// The config module's parser, not node:net's isIP (node:net would load the whole net module
// and node's streams into the daemon, 2 MB, for this).
export function familyOf(addr: string): Family {
  const a = parseAddress(addr);
  if (!a) throw new TypeError(`not an IP address: ${addr}`);
  return a.family;
}

const V4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function ipToBytes(addr: string): Buffer {
  // v4 fast path: bulk route/rule changes encode thousands of these
  const m = V4.exec(addr);
  if (m) {
    const b = Buffer.allocUnsafe(4);
    for (let i = 0; i < 4; i++) {
      const x = Number(m[i + 1]);
      if (x > 255) throw new TypeError(`not an IP address: ${addr}`);
      b[i] = x;
    }
    return b;
  }
  const a = parseAddress(addr);
  if (a?.family !== 6) throw new TypeError(`not an IP address: ${addr}`);
  const out = Buffer.alloc(16);
  out.writeBigUInt64BE(a.value >> 64n, 0);
  out.writeBigUInt64BE(a.value & 0xffff_ffff_ffff_ffffn, 8);
  return out;
}

/** Kernel bytes → the same text the planner writes (one formatter, so dumps and plans compare equal). */
export function bytesToIp(b: Buffer, family?: Family): string {
  const f = family ?? (b.length === 4 ? 4 : 6);
  if (f === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  return formatAddress(6, (b.readBigUInt64BE(0) << 64n) | b.readBigUInt64BE(8));
}
