// The reconciler's Kernel (src/reconcile/kernel.ts) on top of Netlink.
import type { AddressSpec, RouteSpec, RuleSpec, XfrmLinkSpec } from '../model.ts';
import type { EspOffload, Kernel, LinkState, PolicyState, SaState } from '../reconcile/kernel.ts';
import { Netlink, type LinkInfo, type NetlinkOptions } from './index.ts';

function state(l: LinkInfo): LinkState {
  const s: LinkState = { name: l.name, index: l.index, kind: l.kind, up: l.up, mtu: l.mtu, multicast: l.multicast };
  if (l.xfrm) s.xfrm = { ...l.xfrm };
  return s;
}

export class NetlinkKernel implements Kernel {
  readonly nl: Netlink;

  constructor(nl: Netlink | NetlinkOptions = {}) {
    this.nl = nl instanceof Netlink ? nl : Netlink.open(nl);
  }

  async getLink(name: string): Promise<LinkState | undefined> {
    const l = await this.nl.getLink(name);
    return l && state(l);
  }
  async getLinkByIndex(index: number): Promise<LinkState | undefined> {
    const l = await this.nl.getLink(index);
    return l && state(l);
  }
  async listLinks(): Promise<LinkState[]> {
    return (await this.nl.dumpLinks()).map(state);
  }
  async createXfrmLink(spec: XfrmLinkSpec, o: { up?: boolean } = {}): Promise<LinkState> {
    return state(await this.nl.createXfrmLink(spec, o));
  }
  deleteLink(index: number): Promise<void> {
    return this.nl.deleteLink(index);
  }
  setLink(index: number, change: { up?: boolean; mtu?: number; multicast?: boolean }): Promise<void> {
    return this.nl.setLink(index, change);
  }
  async dumpAddresses(index: number): Promise<AddressSpec[]> {
    return (await this.nl.dumpAddresses(index)).map(({ family, address, prefixLen, dev }) => ({ family, address, prefixLen, dev }));
  }
  addAddress(a: AddressSpec): Promise<void> {
    return this.nl.addAddress(a);
  }
  deleteAddress(a: AddressSpec): Promise<void> {
    return this.nl.deleteAddress(a);
  }
  async dumpRoutes(protocol?: number): Promise<RouteSpec[]> {
    return (await this.nl.dumpRoutes(protocol === undefined ? {} : { protocol })).map(({ oif: _oif, scope: _scope, ...r }) => r);
  }
  addRoute(r: RouteSpec, o?: { replace?: boolean }): Promise<void> {
    return this.nl.addRoute(r, o);
  }
  deleteRoute(r: RouteSpec): Promise<void> {
    return this.nl.deleteRoute(r);
  }
  dumpRules(protocol: number): Promise<RuleSpec[]> {
    return this.nl.dumpRules({ protocol });
  }
  addRule(r: RuleSpec): Promise<void> {
    return this.nl.addRule(r);
  }
  deleteRule(r: RuleSpec): Promise<void> {
    return this.nl.deleteRule(r);
  }
  async espOffload(dev: string): Promise<EspOffload | undefined> {
    const f = await this.nl.features(dev);
    return f && { hwOffload: f.esp['esp-hw-offload'].active, txCsumOffload: f.esp['esp-tx-csum-hw-offload'].active };
  }
  async xfrmState(): Promise<{ sas: SaState[]; policies: PolicyState[] }> {
    const [sas, policies] = await Promise.all([this.nl.dumpSAs(), this.nl.dumpPolicies()]);
    return {
      sas: sas.map((a) => {
        const s: SaState = { family: a.family, src: a.src, dst: a.dst, spi: a.spi, proto: a.proto, mode: a.mode, reqid: a.reqid, ifId: a.ifId, bytes: a.bytes, packets: a.packets };
        if (a.setMark) s.outputMark = { value: a.setMark.value, mask: a.setMark.mask };
        // XFRM_OFFLOAD_INBOUND 2, XFRM_OFFLOAD_PACKET 4
        if (a.offload) s.offload = { ifindex: a.offload.ifindex, inbound: (a.offload.flags & 2) !== 0, packet: (a.offload.flags & 4) !== 0 };
        return s;
      }),
      policies: policies.map((p) => ({
        dir: p.dir,
        src: { ...p.sel.src },
        dst: { ...p.sel.dst },
        action: p.action,
        priority: p.priority,
        ifId: p.ifId,
        tmpls: p.tmpls.map((t) => ({ src: t.src, dst: t.dst })),
      })),
    };
  }
  close(): void {
    this.nl.close();
  }
}
