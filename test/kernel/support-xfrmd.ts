// Helpers for the product's guest tests that read a namespace the way users do, with `ip -j`
// (road-warrior.ktest.ts): waiting, and kernel snapshots taken with as few `ip` processes as
// possible (each costs 150–400 ms under TCG).
import { XFRMD_RTPROT } from '../../src/model.ts';
import { sh, type Netns } from './lib.ts';

export interface JLink {
  ifname: string;
  ifindex: number;
  link?: string | null;
  flags: string[];
  mtu: number;
  operstate?: string;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
  stats64?: { rx: Record<string, number>; tx: Record<string, number> };
}
export interface JAddr {
  ifname: string;
  addr_info: Array<{ family: string; local: string; prefixlen: number }>;
}
export interface JRule {
  priority: number;
  src?: string;
  dst?: string;
  dstlen?: number;
  fwmark?: string;
  table?: string;
  protocol?: string;
  not?: null;
  suppress_prefixlen?: number | string;
}
export interface JRoute {
  dst: string;
  dev?: string;
  table?: string;
  protocol?: string;
  prefsrc?: string;
}

/** Everything the kernel holds in a namespace that xfrmd could touch, as `ip -j` sees it. */
export interface Snapshot {
  links: JLink[];
  addrs: JAddr[];
  rules: JRule[];
  routes: JRoute[];
  rules6: JRule[];
  routes6: JRoute[];
  /** the raw text of all of the above, for exact before/after comparisons */
  raw: string;
}

/** `ip -j -batch` output is one JSON array per line of input, concatenated. */
function splitJsonArrays(text: string): unknown[][] {
  const out: unknown[][] = [];
  let depth = 0;
  let start = -1;
  let inStr = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inStr) {
      if (ch === '\\') i++;
      else if (ch === '"') inStr = false;
      continue;
    }
    if (ch === '"') inStr = true;
    else if (ch === '[') {
      if (depth === 0) start = i;
      depth++;
    } else if (ch === ']') {
      depth--;
      if (depth === 0) out.push(JSON.parse(text.slice(start, i + 1)) as unknown[]);
    }
  }
  return out;
}

/** Three `ip` processes: links (with -d) and addresses, IPv4 rules and routes (all tables), IPv6's. */
export function snapshot(ns: Netns, opts: { stats?: boolean } = {}): Snapshot {
  const dev = sh('ip', ['-j', '-d', ...(opts.stats ? ['-s'] : []), '-n', ns.name, '-batch', '-'], 'link show\naddr show\n');
  const v4 = sh('ip', ['-4', '-j', '-n', ns.name, '-batch', '-'], 'rule show\nroute show table all\n');
  const v6 = sh('ip', ['-6', '-j', '-n', ns.name, '-batch', '-'], 'rule show\nroute show table all\n');
  const [links, addrs] = splitJsonArrays(dev) as [JLink[], JAddr[]];
  const [rules, routes] = splitJsonArrays(v4) as [JRule[], JRoute[]];
  const [rules6, routes6] = splitJsonArrays(v6) as [JRule[], JRoute[]];
  return { links, addrs, rules, routes, rules6, routes6, raw: dev + v4 + v6 };
}

export function linkOf(s: Snapshot, name: string): JLink | undefined {
  return s.links.find((l) => l.ifname === name);
}

export function addrsOf(s: Snapshot, name: string): string[] {
  return (s.addrs.find((a) => a.ifname === name)?.addr_info ?? []).filter((a) => !a.local.startsWith('fe80:')).map((a) => `${a.local}/${a.prefixlen}`);
}

const ours = (p: string | undefined): boolean => p === String(XFRMD_RTPROT) || p === '88';

/** What carries our protocol tag, and every xfrm device: what must be gone after a teardown. */
export function ourObjects(s: Snapshot): { xfrm: string[]; rules: JRule[]; routes: JRoute[] } {
  return {
    xfrm: s.links.filter((l) => l.linkinfo?.info_kind === 'xfrm').map((l) => l.ifname),
    rules: [...s.rules, ...s.rules6].filter((r) => ours(r.protocol)),
    routes: [...s.routes, ...s.routes6].filter((r) => ours(r.protocol)),
  };
}

/** The `ip` view of an xfrm device's if_id (iproute2 prints it as "0x5" or 5). */
export function ifIdOf(l: JLink | undefined): number | undefined {
  const v = l?.linkinfo?.info_data?.if_id;
  return v === undefined ? undefined : Number(v);
}
