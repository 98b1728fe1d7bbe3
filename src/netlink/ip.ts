// Address text <-> bytes (v6 printed as RFC 5952 by the config module's formatter).
import { isIPv4, isIPv6 } from 'node:net';
import { formatAddress } from '../config/ip.ts';
import type { Family } from '../model.ts';

export const AF_INET = 2;
export const AF_INET6 = 10;
export const afOf = (f: Family): number => (f === 4 ? AF_INET : AF_INET6);
export const familyOfAf = (af: number): Family | undefined => (af === AF_INET ? 4 : af === AF_INET6 ? 6 : undefined);

export function familyOf(addr: string): Family {
  if (isIPv4(addr)) return 4;
  if (isIPv6(addr)) return 6;
  throw new TypeError(`not an IP address: ${addr}`);
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
  if (!isIPv6(addr)) throw new TypeError(`not an IP address: ${addr}`);
  let s = addr;
  const lastColon = s.lastIndexOf(':');
  const last = s.slice(lastColon + 1);
  if (isIPv4(last)) {
    // ::ffff:1.2.3.4 → ::ffff:102:304
    const b = last.split('.').map(Number) as [number, number, number, number];
    s = `${s.slice(0, lastColon + 1)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const [head, rest] = s.includes('::') ? (s.split('::') as [string, string]) : [s, undefined];
  const words = (x: string): number[] => (x === '' ? [] : x.split(':').map((w) => parseInt(w, 16)));
  const h = words(head);
  const r = rest === undefined ? [] : words(rest);
  const all = rest === undefined ? h : [...h, ...new Array<number>(8 - h.length - r.length).fill(0), ...r];
  const out = Buffer.alloc(16);
  all.forEach((w, i) => out.writeUInt16BE(w, i * 2));
  return out;
}

/** Kernel bytes → the same text the planner writes (one formatter, so dumps and plans compare equal). */
export function bytesToIp(b: Buffer, family?: Family): string {
  const f = family ?? (b.length === 4 ? 4 : 6);
  if (f === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  return formatAddress(6, (b.readBigUInt64BE(0) << 64n) | b.readBigUInt64BE(8));
}
