// IPv4/IPv6 addresses and prefixes as the planner needs them: strict parsing
// (no inet_aton shorthands, no leading zeros, no zone ids), canonical text
// (RFC 5952 for IPv6, so what we plan compares equal to what the kernel dumps),
// host-bit checks and prefix overlap. Values are bigints so both families share
// one code path.
import type { Family } from '../model.ts';

export interface Prefix {
  family: Family;
  /** canonical text of the address as written (host bits kept) */
  addr: string;
  len: number;
}

const BITS: Record<Family, number> = { 4: 32, 6: 128 };

export function familyBits(f: Family): number {
  return BITS[f];
}

function parseV4(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseV6(s: string): bigint | undefined {
  if (s.length > 45 || !/^[0-9a-fA-F:.]+$/.test(s)) return undefined;
  let groups: string[];
  let tail: bigint[] = [];
  // an embedded IPv4 address takes the last 32 bits
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.')) {
    const v4 = parseV4(s.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail = [v4 >> 16n, v4 & 0xffffn];
    const head = s.slice(0, lastColon + 1);
    // "::ffff:" → "::ffff", but "64:ff9b::" and "::" keep their double colon
    s = head.endsWith('::') ? head : head.slice(0, -1);
  }
  const want = 8 - tail.length;
  const dbl = s.split('::');
  if (dbl.length > 2) return undefined;
  const split = (t: string): string[] | undefined => (t === '' ? [] : t.split(':'));
  const head = split(dbl[0] ?? '');
  const rest = dbl.length === 2 ? split(dbl[1] ?? '') : [];
  if (!head || !rest) return undefined;
  if (dbl.length === 2) {
    const fill = want - head.length - rest.length;
    if (fill < 1) return undefined;
    groups = [...head, ...Array<string>(fill).fill('0'), ...rest];
  } else {
    groups = head;
    if (groups.length !== want) return undefined;
  }
  let v = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  for (const t of tail) v = (v << 16n) | t;
  return v;
}

/** Parse an address of either family; undefined when it is not one. */
export function parseAddress(s: string): { family: Family; value: bigint } | undefined {
  if (s.includes(':')) {
    const value = parseV6(s);
    return value === undefined ? undefined : { family: 6, value };
  }
  const value = parseV4(s);
  return value === undefined ? undefined : { family: 4, value };
}

export function formatAddress(family: Family, v: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((sh) => String((v >> sh) & 0xffn)).join('.');
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  // IPv4-mapped addresses are shown the way inet_ntop shows them
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    return `::ffff:${formatAddress(4, v & 0xffffffffn)}`;
  }
  // RFC 5952: compress the longest run (>= 2) of zero groups, the first one on a tie
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

export type PrefixResult = { ok: true; prefix: Prefix; value: bigint } | { ok: false; reason: string };

/**
 * `addr` or `addr/len`; without a length the prefix is a host (/32, /128).
 * `family` restricts what is accepted (a wrong family is reported as such).
 */
export function parsePrefix(text: string, family?: Family): PrefixResult & { family?: Family } {
  const slash = text.indexOf('/');
  const a = slash < 0 ? text : text.slice(0, slash);
  const l = slash < 0 ? undefined : text.slice(slash + 1);
  const parsed = parseAddress(a);
  if (!parsed) return { ok: false, reason: 'is not an IPv4 or IPv6 address' };
  if (family !== undefined && parsed.family !== family) {
    return { ok: false, reason: `is an IPv${parsed.family} address where IPv${family} is expected`, family: parsed.family };
  }
  const bits = BITS[parsed.family];
  let len = bits;
  if (l !== undefined) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(l) || Number(l) > bits) {
      return { ok: false, reason: `has an invalid prefix length (0..${bits})` };
    }
    len = Number(l);
  }
  return {
    ok: true,
    prefix: { family: parsed.family, addr: formatAddress(parsed.family, parsed.value), len },
    value: parsed.value,
  };
}

function maskOf(family: Family, len: number): bigint {
  const bits = BigInt(BITS[family]);
  const all = (1n << bits) - 1n;
  return len === 0 ? 0n : (all >> (bits - BigInt(len))) << (bits - BigInt(len));
}

/** The prefix with host bits cleared. */
export function networkOf(p: Prefix): Prefix {
  const v = parseAddress(p.addr);
  if (!v) throw new Error(`bad address ${p.addr}`);
  return { family: p.family, addr: formatAddress(p.family, v.value & maskOf(p.family, p.len)), len: p.len };
}

export function hasHostBits(p: Prefix): boolean {
  return networkOf(p).addr !== p.addr;
}

export function prefixText(p: Prefix): string {
  return `${p.addr}/${p.len}`;
}

export function samePrefix(a: Prefix, b: Prefix): boolean {
  return a.family === b.family && a.len === b.len && a.addr === b.addr;
}

/** true when some address lies in both prefixes (one contains the other). */
export function prefixesOverlap(a: Prefix, b: Prefix): boolean {
  if (a.family !== b.family) return false;
  const len = Math.min(a.len, b.len);
  const m = maskOf(a.family, len);
  const va = parseAddress(a.addr);
  const vb = parseAddress(b.addr);
  if (!va || !vb) return false;
  return (va.value & m) === (vb.value & m);
}
