// What `ubus call xfrmd status` answers for one interface: its lifecycle state and
// error, and each object it should have, checked against the kernel (a route an IKE
// daemon replaced, a rule someone deleted, a device set down show as not present).
import { renderRoute, renderRule } from '../plan/render.ts';
import type { Kernel } from '../reconcile/kernel.ts';
import { addressKey, routeKey, routeMatches, ruleKey } from '../reconcile/keys.ts';
import type { ActualIndex } from '../reconcile/reconcile.ts';
import type { Lifecycle, State } from './lifecycle.ts';

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
  routes: Array<{ route: string; present: boolean }>;
  rules: Array<{ rule: string; present: boolean }>;
}

/** iproute2's words for an object, without the verb: "10.1.0.0/16 dev x1 table 101 proto 88 src …" */
const withoutVerb = (s: string) => s.replace(/^(-6 )?(route|rule) add /, (_m, six: string | undefined) => six ?? '');

export async function reportOf(l: Lifecycle, kernel: Kernel, actual: ActualIndex): Promise<InterfaceReport> {
  const i = l.installed;
  const out: InterfaceReport = { interface: l.name, phase: l.state, addresses: [], routes: [], rules: [] };
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
      const k = actual.routes.get(routeKey(r));
      return { route: withoutVerb(renderRoute(r)), present: k !== undefined && routeMatches(r, k) };
    });
    out.rules = i.rules.map((r) => ({ rule: withoutVerb(renderRule(r)), present: actual.rules.has(ruleKey(r)) }));
  }
  if (l.parent) out.parent = { ...(l.parent.iface ? { interface: l.parent.iface } : {}), device: l.parent.device, ifindex: l.parent.index };
  const p = l.prepared;
  if (p) {
    out.offload = { mode: p.offload };
    if (l.offload) {
      out.offload.esp_hw_offload = l.offload.hwOffload;
      out.offload.esp_tx_csum_hw_offload = l.offload.txCsumOffload;
    }
    const tables = p.plan().tables;
    if (tables[4] !== undefined) out.table = tables[4];
    if (tables[6] !== undefined) out.table6 = tables[6];
  }
  return out;
}
