// Everything in a namespace that xfrmd could touch, read with our netlink layer in this process
// (one dump each, no `ip` processes: those cost 150–400 ms each under TCG): links with their kind,
// flags, MTU, if_id and parent, addresses, and the rules and routes of every table, v4 and v6.
// `lines` is canonical text (sorted, ifindex replaced by names) for exact comparisons between
// rounds; `ifindex` keeps the numbers for "same device, not recreated" checks.
import type { Netlink } from '../../src/netlink/index.ts';
import { renderRoute, renderRule } from '../../src/plan/render.ts';
import { XFRMD_RTPROT } from '../../src/model.ts';

export interface KernelState {
  lines: string[];
  ifindex: Map<string, number>;
}

/** link-local addresses and their routes follow random MACs: not ours, and not stable */
const linkLocal = (a: string) => /^fe80:/i.test(a);

export async function kernelState(nl: Netlink): Promise<KernelState> {
  const links = await nl.dumpLinks();
  const nameOf = new Map(links.map((l) => [l.index, l.name]));
  const lines: string[] = [];
  for (const l of links) {
    const x = l.xfrm;
    const parent = x?.link ? (nameOf.get(x.link) ?? `if${x.link}`) : '-';
    lines.push(`link ${l.name} ${l.kind ?? '-'} ${l.up ? 'UP' : 'down'} mtu ${l.mtu}${x ? ` if_id ${x.ifId} parent ${parent}${x.collectMetadata ? ' external' : ''}` : ''}`);
  }
  for (const a of await nl.dumpAddresses()) if (!linkLocal(a.address)) lines.push(`addr ${a.dev} ${a.address}/${a.prefixLen}`);
  for (const r of await nl.dumpRules({})) {
    const text = renderRule(r).replace(' add ', ' ');
    // netifd's per-interface `iif lo lookup <ip4table>` rule sits at 90000 + the device's ifindex
    const dev = r.priority > 90000 && r.priority < 100000 ? nameOf.get(r.priority - 90000) : undefined;
    lines.push(dev ? text.replace(`prio ${r.priority} `, `prio 90000+ifindex(${dev}) `) : text);
  }
  for (const r of await nl.dumpRoutes({})) {
    if (linkLocal(r.dst) || (r.family === 6 && r.dst.startsWith('ff00'))) continue;
    const { oif: _oif, scope: _scope, ...spec } = r;
    lines.push(renderRoute(spec).replace(' add ', ' '));
  }
  lines.sort();
  return { lines, ifindex: new Map(links.map((l) => [l.name, l.index])) };
}

/** What is in `actual` but not `expected` (leaked) and the other way round (missing). */
export function diff(expected: KernelState, actual: KernelState): { leaked: string[]; missing: string[] } {
  const want = new Set(expected.lines);
  const have = new Set(actual.lines);
  return { leaked: actual.lines.filter((l) => !want.has(l)), missing: expected.lines.filter((l) => !have.has(l)) };
}

/** Lines of objects carrying xfrmd's tag, and xfrm devices. */
export function ours(s: KernelState): string[] {
  return s.lines.filter((l) => l.includes(` proto ${XFRMD_RTPROT}`) || / xfrm /.test(l));
}
