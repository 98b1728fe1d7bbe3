// TEST/BENCH ONLY. Never use in the daemon or the CLI.
//
// The host kernel of our machines has no xfrm link kind. StandinKernel is the
// real netlink Kernel (src/netlink) in every respect except one: createXfrmLink
// creates a veth pair instead (the device named spec.name plus a peer named
// standinPeer(spec.name)), and getLink/getLinkByIndex/listLinks report that
// device as kind 'xfrm' with the spec's xfrm info, remembered per name. So
// addresses, routes and rules go through the real kernel against a real device.
//
// A veth differs from an xfrm device in two ways that matter here: it runs IPv6
// DAD (xfrm is NOARP), so IPv6 `src` routes would fail on a tentative address,
// and it starts with IFF_MULTICAST. standinNetns() turns DAD off in a namespace;
// multicast is set from the spec at creation, as the real xfrm creation does.
import { execFileSync } from 'node:child_process';
import type { AddressSpec, RouteSpec, RuleSpec, XfrmLinkSpec } from '../../src/model.ts';
import { NetlinkKernel } from '../../src/netlink/kernel.ts';
import type { EspOffload, Kernel, LinkState, PolicyState, SaState } from '../../src/reconcile/kernel.ts';

/** The veth peer of a stand-in device: `<name>p`, kept within IFNAMSIZ-1 (15) characters. */
export function standinPeer(name: string): string {
  return name.length < 15 ? `${name}p` : `${name.slice(0, 14)}p`;
}

/** Rewrites an `ip` batch line `link add X [mtu M] type xfrm …` into the stand-in's veth creation. */
export function standinIpLine(line: string): string {
  const m = /^link add (\S+)((?: mtu \d+)?) type xfrm\b.*$/.exec(line);
  return m ? `link add ${m[1]}${m[2]} type veth peer name ${standinPeer(m[1]!)}` : line;
}

/** Prepares a namespace for stand-in devices: IPv6 DAD off (xfrm devices are NOARP, no DAD). */
export function standinNetns(ns: string): void {
  execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
}

type XfrmInfo = NonNullable<LinkState['xfrm']>;

export class StandinKernel implements Kernel {
  readonly real: NetlinkKernel;
  /** name → the xfrm info the device was "created" with */
  private readonly xfrm = new Map<string, XfrmInfo>();

  constructor(real: NetlinkKernel) {
    this.real = real;
  }

  private dress(l: LinkState | undefined): LinkState | undefined {
    if (!l) return l;
    const x = this.xfrm.get(l.name);
    if (!x || l.kind !== 'veth') return l;
    return { ...l, kind: 'xfrm', xfrm: { ...x } };
  }

  async getLink(name: string): Promise<LinkState | undefined> {
    return this.dress(await this.real.getLink(name));
  }
  async getLinkByIndex(index: number): Promise<LinkState | undefined> {
    return this.dress(await this.real.getLinkByIndex(index));
  }
  async listLinks(): Promise<LinkState[]> {
    // peers are an artefact of the stand-in: hidden, as a real xfrm device has none
    const peers = new Set([...this.xfrm.keys()].map(standinPeer));
    return (await this.real.listLinks()).filter((l) => !peers.has(l.name)).map((l) => this.dress(l)!);
  }
  async createXfrmLink(spec: XfrmLinkSpec, o: { up?: boolean } = {}): Promise<LinkState> {
    // flags as the real xfrm creation sends them: the spec's multicast, IFF_UP if asked
    const l = await this.real.nl.createLink(spec.name, 'veth', { peer: standinPeer(spec.name), mtu: spec.mtu, multicast: spec.multicast, ...(o.up !== undefined ? { up: o.up } : {}) });
    this.xfrm.set(spec.name, { ifId: spec.ifId, link: spec.link, collectMetadata: spec.collectMetadata });
    return this.dress({ name: l.name, index: l.index, kind: l.kind, up: l.up, mtu: l.mtu, multicast: l.multicast })!;
  }
  async deleteLink(index: number): Promise<void> {
    const l = await this.real.getLinkByIndex(index);
    await this.real.deleteLink(index); // deleting one end of a veth deletes the pair
    if (l) this.xfrm.delete(l.name);
  }
  setLink(index: number, change: { up?: boolean; mtu?: number; multicast?: boolean }): Promise<void> {
    return this.real.setLink(index, change);
  }
  dumpAddresses(index: number): Promise<AddressSpec[]> {
    return this.real.dumpAddresses(index);
  }
  addAddress(a: AddressSpec): Promise<void> {
    return this.real.addAddress(a);
  }
  deleteAddress(a: AddressSpec): Promise<void> {
    return this.real.deleteAddress(a);
  }
  dumpRoutes(protocol?: number): Promise<RouteSpec[]> {
    return this.real.dumpRoutes(protocol);
  }
  addRoute(r: RouteSpec, o?: { replace?: boolean }): Promise<void> {
    return this.real.addRoute(r, o);
  }
  deleteRoute(r: RouteSpec): Promise<void> {
    return this.real.deleteRoute(r);
  }
  dumpRules(protocol: number): Promise<RuleSpec[]> {
    return this.real.dumpRules(protocol);
  }
  addRule(r: RuleSpec): Promise<void> {
    return this.real.addRule(r);
  }
  deleteRule(r: RuleSpec): Promise<void> {
    return this.real.deleteRule(r);
  }
  xfrmState(): Promise<{ sas: SaState[]; policies: PolicyState[] }> {
    return this.real.xfrmState();
  }
  espOffload(dev: string): Promise<EspOffload | undefined> {
    return this.real.espOffload(dev);
  }
  close(): void {
    this.real.close();
  }
}
