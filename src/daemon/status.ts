// What `ubus call xfrmd status` answers for one interface: its lifecycle state and
// error, each object it should have checked against the kernel (a route an IKE
// daemon replaced, a rule someone deleted, a device set down show as not present),
// the SAs and policies that carry its if_id (installed by the IKE daemon; we only
// read them), and hints for the traps users hit with IKE daemons.
import type { Mark } from '../config/validate.ts';
import { renderRoute, renderRule } from '../plan/render.ts';
import type { RouteSpec } from '../model.ts';
import type { EspOffload, Kernel, PolicyState, SaState } from '../reconcile/kernel.ts';
import { addressKey, routeKey, routeMatches, ruleKey } from '../reconcile/keys.ts';
import type { ActualIndex } from '../reconcile/reconcile.ts';
import type { Lifecycle, State } from './lifecycle.ts';

export interface SaReport {
  spi: string;
  /** from the policies' templates: out = we encrypt with it */
  dir?: 'in' | 'out';
  src: string;
  dst: string;
  proto: string;
  mode: string;
  reqid: number;
  bytes: number;
  packets: number;
  /** the mark the encrypted packets get (XFRMA_SET_MARK), "0x6/0xffffffff" */
  output_mark?: string;
  /** handed to a NIC (XFRMA_OFFLOAD_DEV) */
  offload?: { dev: string; dir: 'in' | 'out'; packet: boolean };
}

export interface PolicyReport {
  dir: 'in' | 'out' | 'fwd';
  src: string;
  dst: string;
  action: 'allow' | 'block';
  priority: number;
}

export interface Hint {
  code: string;
  message: string;
}

export interface InterfaceReport {
  interface: string;
  phase: State;
  error?: { code: string; message: string };
  device?: string;
  ifindex?: number;
  /** the device is there (same name at that ifindex) */
  present?: boolean;
  /** and administratively up */
  link_up?: boolean;
  ifid?: number;
  parent?: { interface?: string; device: string; ifindex: number };
  offload?: { mode: string; esp_hw_offload?: boolean; esp_tx_csum_hw_offload?: boolean };
  table?: number;
  table6?: number;
  addresses: Array<{ address: string; present: boolean }>;
  /** `replaced_by`: the protocol of someone else's route standing at our route's place */
  routes: Array<{ route: string; present: boolean; replaced_by?: number }>;
  rules: Array<{ rule: string; present: boolean }>;
  sas: SaReport[];
  policies: PolicyReport[];
  hints: Hint[];
}

/** What status reads from the kernel once for all interfaces. */
export interface KernelView {
  actual: ActualIndex;
  /** routes of other programs, by our route key (to tell "replaced" from "gone") */
  foreign: ReadonlyMap<string, RouteSpec>;
  sas: SaState[];
  policies: PolicyState[];
  nameOf: (ifindex: number) => string | undefined;
  /** ESP offload features of a parent NIC (read once per device per view) */
  features: (dev: string) => Promise<EspOffload | undefined>;
}

/** iproute2's words for an object, without the verb: "10.1.0.0/16 dev x1 table 101 proto 88 src …" */
const withoutVerb = (s: string) => s.replace(/^(-6 )?(route|rule) add /, (_m, six: string | undefined) => six ?? '');
const hex = (n: number) => `0x${(n >>> 0).toString(16)}`;
const markText = (m: { value: number; mask: number }) => `${hex(m.value)}/${hex(m.mask)}`;
const markCovers = (out: { value: number; mask: number } | undefined, want: Mark) => out !== undefined && ((out.value & out.mask & want.mask) >>> 0) === ((want.value & want.mask) >>> 0) && ((out.mask & want.mask) >>> 0) === want.mask >>> 0;

/** An SA's direction, from the tunnel endpoints of the policies with its if_id. */
function directionOf(sa: SaState, policies: readonly PolicyState[]): 'in' | 'out' | undefined {
  for (const p of policies) {
    if (!p.tmpls.some((t) => t.src === sa.src && t.dst === sa.dst)) continue;
    return p.dir === 'out' ? 'out' : 'in';
  }
  if (sa.offload) return sa.offload.inbound ? 'in' : 'out';
  return undefined;
}

export async function reportOf(l: Lifecycle, kernel: Kernel, view: KernelView): Promise<InterfaceReport> {
  // what the parent NIC offers is read when asked (a bring-up reads it only when offload is wanted)
  const features = l.parent ? await view.features(l.parent.device) : undefined;
  const i = l.installed;
  const out: InterfaceReport = { interface: l.name, phase: l.state, addresses: [], routes: [], rules: [], sas: [], policies: [], hints: [] };
  if (l.error) out.error = { ...l.error };
  if (i) {
    const link = i.link.index ? await kernel.getLinkByIndex(i.link.index).catch(() => undefined) : undefined;
    const present = link?.name === i.link.name;
    out.device = i.link.name;
    out.ifindex = i.link.index;
    out.present = present;
    out.link_up = present && link.up;
    out.ifid = i.link.ifId;
    const have = new Set(present ? (await kernel.dumpAddresses(i.link.index).catch(() => [])).map(addressKey) : []);
    out.addresses = i.addresses.map((a) => ({ address: `${a.address}/${a.prefixLen}`, present: have.has(addressKey(a)) }));
    out.routes = i.routes.map((r) => {
      const k = view.actual.routes.get(routeKey(r));
      const entry: InterfaceReport['routes'][number] = { route: withoutVerb(renderRoute(r)), present: k !== undefined && routeMatches(r, k) };
      const other = view.foreign.get(routeKey(r));
      if (!entry.present && other) {
        entry.replaced_by = other.protocol;
        out.hints.push({
          code: 'ROUTE_REPLACED',
          message: `${withoutVerb(renderRoute(r))} was replaced by another program's route (protocol ${other.protocol}${other.dev ? `, dev ${other.dev}` : ''}); xfrmd takes it back at the next repair (an IKE daemon's updown script does this: see the README)`,
        });
      }
      return entry;
    });
    out.rules = i.rules.map((r) => ({ rule: withoutVerb(renderRule(r)), present: view.actual.rules.has(ruleKey(r)) }));
  }
  if (l.parent) out.parent = { ...(l.parent.iface ? { interface: l.parent.iface } : {}), device: l.parent.device, ifindex: l.parent.index };
  const p = l.prepared;
  if (p) {
    out.offload = { mode: p.offload };
    if (features) {
      out.offload.esp_hw_offload = features.hwOffload;
      out.offload.esp_tx_csum_hw_offload = features.txCsumOffload;
    }
    const tables = p.plan().tables;
    if (tables[4] !== undefined) out.table = tables[4];
    if (tables[6] !== undefined) out.table6 = tables[6];
  }
  const ifId = i?.link.ifId ?? p?.config.ifId;
  if (ifId) {
    const policies = view.policies.filter((x) => x.ifId === ifId);
    out.policies = policies.map((x) => ({ dir: x.dir, src: `${x.src.addr}/${x.src.len}`, dst: `${x.dst.addr}/${x.dst.len}`, action: x.action, priority: x.priority }));
    out.sas = view.sas
      .filter((x) => x.ifId === ifId)
      .map((x) => {
        const sa: SaReport = { spi: hex(x.spi), src: x.src, dst: x.dst, proto: x.proto === 50 ? 'esp' : x.proto === 51 ? 'ah' : String(x.proto), mode: x.mode, reqid: x.reqid, bytes: x.bytes, packets: x.packets };
        const dir = directionOf(x, policies);
        if (dir) sa.dir = dir;
        if (x.outputMark) sa.output_mark = markText(x.outputMark);
        if (x.offload) sa.offload = { dev: view.nameOf(x.offload.ifindex) ?? `if${x.offload.ifindex}`, dir: x.offload.inbound ? 'in' : 'out', packet: x.offload.packet };
        return sa;
      });
    out.hints.push(...hintsFor(l, out, view.sas.filter((x) => x.ifId === ifId)));
  }
  return out;
}

/** The traps of IKE daemons over XFRM interfaces (spec/ike-interop.md), seen in the live state. */
function hintsFor(l: Lifecycle, r: InterfaceReport, sas: SaState[]): Hint[] {
  const hints: Hint[] = [];
  const c = l.prepared?.config;
  const ifId = r.ifid ?? c?.ifId ?? 0;
  const outbound = r.sas.filter((s) => s.dir === 'out');
  const ex = c?.exemptMark;
  if (ex) {
    const loose = sas.filter((s, k) => r.sas[k]?.dir === 'out' && !markCovers(s.outputMark, ex));
    for (const s of loose) {
      hints.push({
        code: 'SA_WITHOUT_EXEMPT_MARK',
        message: `outbound SA ${hex(s.spi)} has ${s.outputMark ? `output mark ${markText(s.outputMark)}` : 'no output mark'}, not the exempt_mark ${markText(ex)}: its ESP packets are routed back into the tunnel ("Local routing loop"); strongSwan: set_mark_out = ${hex(ex.value)} in the child, and charon.plugins.socket-default.fwmark = ${hex(ex.value)} for IKE`,
      });
    }
  }
  // pluto puts an output mark equal to the if_id on every SA of its ipsecN device
  const fromPluto = sas.some((s) => s.outputMark?.value === ifId && s.outputMark.mask === 0xffffffff);
  if (fromPluto && l.name !== `ipsec${ifId}`) {
    hints.push({ code: 'LIBRESWAN_NAME', message: `SAs with if_id ${ifId} look like libreswan's (output mark = if_id), but pluto only uses a device named ipsec${ifId}: name this section 'ipsec${ifId}'` });
  }
  if (l.name === 'ipsec1') {
    hints.push({ code: 'LIBRESWAN_IPSEC1', message: "libreswan up to 5.0 probes XFRM support with a device named ipsec1: while one exists it disables ipsec-interface for the whole run, and 'ipsec stop' deletes it; with libreswan use an if_id other than 1" });
  }
  if (c && c.offload !== 'off') {
    for (const s of outbound.filter((x) => !x.offload)) {
      hints.push({ code: 'OFFLOAD_NOT_USED', message: `offload ${c.offload} is set, but outbound SA ${s.spi} is not offloaded: strongSwan: hw_offload = yes (or auto) in the child; the parent must have esp-hw-offload` });
    }
    for (const s of outbound.filter((x) => x.offload && r.parent && x.offload.dev !== r.parent.device)) {
      hints.push({ code: 'OFFLOAD_OTHER_DEVICE', message: `SA ${s.spi} is offloaded to ${s.offload?.dev}, but this interface sends through ${r.parent?.device}: the NIC never sees its packets` });
    }
  }
  return hints;
}

/** The short summary netifd shows in `ifstatus` data: the SAs with this if_id, by direction. */
export function saSummary(ifId: number | undefined, sas: readonly SaState[], policies: readonly PolicyState[]): { sa_in: number; sa_out: number; sa_offloaded: number } {
  const out = { sa_in: 0, sa_out: 0, sa_offloaded: 0 };
  if (!ifId) return out;
  const mine = policies.filter((p) => p.ifId === ifId);
  for (const sa of sas) {
    if (sa.ifId !== ifId) continue;
    const dir = directionOf(sa, mine);
    if (dir === 'in') out.sa_in++;
    else if (dir === 'out') out.sa_out++;
    if (sa.offload) out.sa_offloaded++;
  }
  return out;
}
