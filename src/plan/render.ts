// A plan as iproute2 commands, without the leading `ip`: what `xfrmd apply
// --dry-run` prints and what the golden tests compare against hand-written
// commands. IPv6 routes and rules start with `-6 ` (a rule with only a fwmark
// has no address to tell its family). `ip -batch` does not take options per
// line, so splitBatch() gives one batch for `ip -batch -` (links, addresses,
// IPv4) and one for `ip -6 -batch -` (run second).
import type { RouteSpec, RuleSpec } from '../model.ts';
import type { Plan } from './plan.ts';

const TABLE_NAMES: Record<number, string> = { 253: 'default', 254: 'main', 255: 'local' };

export function tableName(t: number): string {
  return TABLE_NAMES[t] ?? String(t);
}

const hex = (n: number) => `0x${n.toString(16)}`;

export function renderRoute(r: RouteSpec): string {
  const dst = r.dstLen === 0 ? 'default' : `${r.dst}/${r.dstLen}`;
  const w = [r.family === 6 ? '-6 route add' : 'route add', r.type === 'unicast' ? dst : `${r.type} ${dst}`];
  if (r.dev) w.push('dev', r.dev);
  if (r.gateway) w.push('via', r.gateway);
  w.push('table', tableName(r.table), 'proto', String(r.protocol));
  if (r.prefsrc) w.push('src', r.prefsrc);
  if (r.metric !== undefined) w.push('metric', String(r.metric));
  if (r.mtu !== undefined) w.push('mtu', String(r.mtu));
  return w.join(' ');
}

export function renderRule(r: RuleSpec): string {
  const w = [r.family === 6 ? '-6 rule add' : 'rule add', 'prio', String(r.priority)];
  const mark = r.fwmark !== undefined;
  if (r.invert && !mark) w.push('not');
  if (r.src) w.push('from', `${r.src.addr}/${r.src.len}`);
  if (r.dst) w.push('to', `${r.dst.addr}/${r.dst.len}`);
  if (r.invert && mark) w.push('not');
  if (mark) w.push('fwmark', `${hex(r.fwmark ?? 0)}/${hex(r.fwmask ?? 0xffffffff)}`);
  if (r.iif) w.push('iif', r.iif);
  if (r.oif) w.push('oif', r.oif);
  if (r.action === 'lookup') w.push('lookup', tableName(r.table ?? 254));
  else w.push(r.action);
  if (r.suppressPrefixLength !== undefined) w.push('suppress_prefixlength', String(r.suppressPrefixLength));
  w.push('proto', String(r.protocol));
  return w.join(' ');
}

/** The commands that build the plan from nothing, in order. */
export function renderIpCommands(p: Plan): string[] {
  const l = p.link;
  const add = [`link add ${l.name} mtu ${l.mtu} type xfrm`];
  if (p.parentName) add.push(`dev ${p.parentName}`);
  add.push(l.collectMetadata ? 'external' : `if_id ${l.ifId}`);
  const out = [add.join(' ')];
  // xfrm devices start without IFF_MULTICAST
  if (l.multicast) out.push(`link set ${l.name} multicast on`);
  for (const a of p.addresses) out.push(`address add ${a.address}/${a.prefixLen} dev ${a.dev}`);
  out.push(`link set ${l.name} up`);
  for (const r of p.routes) out.push(renderRoute(r));
  for (const r of p.rules) out.push(renderRule(r));
  return out;
}

/** Two `ip -batch` inputs: the first for `ip -batch -`, the second for `ip -6 -batch -`. */
export function splitBatch(lines: string[]): { inet: string[]; inet6: string[] } {
  const inet: string[] = [];
  const inet6: string[] = [];
  for (const line of lines) {
    if (line.startsWith('-6 ')) inet6.push(line.slice(3));
    else inet.push(line);
  }
  return { inet, inet6 };
}

/** The commands that take the plan away again (teardown order: rules, routes, then the device). */
export function renderIpDeleteCommands(p: Plan): string[] {
  const out: string[] = [];
  for (const r of [...p.rules].reverse()) out.push(renderRule(r).replace(/^(-6 )?rule add/, '$1rule del'));
  for (const r of [...p.routes].reverse()) out.push(renderRoute(r).replace(/^(-6 )?route add/, '$1route del'));
  out.push(`link del ${p.link.name}`);
  return out;
}
