// An in-memory kernel for reconciler unit tests. It follows the kernel's rules
// that matter to us (EEXIST on duplicate if_id/route/rule, ENOENT on deleting
// what is not there, a delete naming a protocol only matches that protocol,
// addresses and routes vanish with their device and routes when it goes down)
// and can be told to fail the Nth call of an operation, to test rollback. It
// sends the events the daemon listens to (links; deletions of tagged routes and
// rules). The real thing is tested in namespaces (test/netlink,
// test/reconcile/*.netns.test.ts) and in the guest.
import type { KernelEvents } from '../../src/daemon/daemon.ts';
import { XFRMD_RTPROT, type AddressSpec, type RouteSpec, type RuleSpec, type XfrmLinkSpec } from '../../src/model.ts';
import type { EspOffload, Kernel, KernelError, LinkState, PolicyState, SaState } from '../../src/reconcile/kernel.ts';
import { addressKey, routeKey, ruleKey } from '../../src/reconcile/keys.ts';

function kerr(code: string, extack?: string): KernelError {
  const e = new Error(`${code}${extack ? `: ${extack}` : ''}`) as KernelError;
  e.code = code;
  if (extack !== undefined) e.extack = extack;
  return e;
}

export class FakeKernel implements Kernel {
  links = new Map<number, LinkState>();
  addresses = new Map<string, AddressSpec>();
  routes = new Map<string, RouteSpec>();
  rules = new Map<string, RuleSpec>();
  offload = new Map<string, EspOffload>();
  xfrmSupported = true;
  calls: string[] = [];
  private nextIndex = 10;
  private failures = new Map<string, { after: number; error: KernelError }>();
  private readonly listeners = {
    link: [] as Array<(e: { action: 'new' | 'del'; index: number; name: string; up: boolean }) => void>,
    route: [] as Array<(r: RouteSpec) => void>,
    rule: [] as Array<(r: RuleSpec) => void>,
    overflow: [] as Array<() => void>,
    foreign: [] as Array<(r: RouteSpec) => void>,
    xfrm: [] as Array<() => void>,
  };
  /** what the daemon subscribes to; events arrive asynchronously, as from a socket */
  readonly events: KernelEvents = {
    onLink: (cb) => void this.listeners.link.push(cb),
    onRouteDeleted: (cb) => void this.listeners.route.push(cb),
    onRuleDeleted: (cb) => void this.listeners.rule.push(cb),
    onOverflow: (cb) => void this.listeners.overflow.push(cb),
    onForeignRoute: (cb) => void this.listeners.foreign.push(cb),
    onXfrm: (cb) => void this.listeners.xfrm.push(cb),
  };

  /** Forget every event listener (the process that registered them is gone). */
  detachListeners(): void {
    for (const l of Object.values(this.listeners)) l.length = 0;
  }

  /** an IKE daemon (the test) changed SAs */
  xfrmChanged(): void {
    for (const cb of this.listeners.xfrm) setImmediate(cb);
  }

  private emitLink(action: 'new' | 'del', l: LinkState): void {
    const e = { action, index: l.index, name: l.name, up: l.up };
    for (const cb of this.listeners.link) setImmediate(() => cb(e));
  }

  private routeGone(r: RouteSpec): void {
    if (r.protocol === XFRMD_RTPROT) for (const cb of this.listeners.route) setImmediate(() => cb(r));
  }

  /** the event socket overflowed */
  overflow(): void {
    for (const cb of this.listeners.overflow) setImmediate(cb);
  }

  /** what netifd's system_if_clear_state does to a device it first sees: down, flushed */
  clearDevice(name: string): void {
    const l = [...this.links.values()].find((x) => x.name === name);
    if (!l) return;
    l.up = false;
    this.dropWithDevice(l.name, false);
    this.emitLink('new', l);
  }

  /** routes through a device go when it goes down; addresses only when it is deleted */
  private dropWithDevice(name: string, deleted: boolean): void {
    if (deleted) for (const [k, a] of this.addresses) if (a.dev === name) this.addresses.delete(k);
    for (const [k, r] of this.routes) {
      if (r.dev !== name) continue;
      this.routes.delete(k);
      // like IPv4, routes flushed with their device are not announced
    }
  }

  /** Make the (after+1)-th call of `op` fail with `error`. */
  failOn(op: keyof Kernel, error: KernelError = kerr('ENOBUFS'), after = 0): void {
    this.failures.set(op, { after, error });
  }

  private enter(op: keyof Kernel): void {
    this.calls.push(op);
    const f = this.failures.get(op);
    if (!f) return;
    if (f.after-- <= 0) {
      this.failures.delete(op);
      throw f.error;
    }
  }

  addDevice(name: string, kind: string | undefined = 'veth'): LinkState {
    const l: LinkState = { name, index: this.nextIndex++, kind, up: true, mtu: 1500, multicast: true };
    this.links.set(l.index, l);
    this.emitLink('new', l);
    return l;
  }

  /** Someone else deletes a device (by name). */
  removeDevice(name: string): void {
    const l = [...this.links.values()].find((x) => x.name === name);
    if (!l) return;
    this.links.delete(l.index);
    this.dropWithDevice(l.name, true);
    this.emitLink('del', l);
  }

  async getLink(name: string) {
    this.enter('getLink');
    return [...this.links.values()].find((l) => l.name === name);
  }
  async getLinkByIndex(index: number) {
    this.enter('getLinkByIndex');
    return this.links.get(index);
  }
  async listLinks() {
    this.enter('listLinks');
    return [...this.links.values()];
  }
  async createXfrmLink(spec: XfrmLinkSpec) {
    this.enter('createXfrmLink');
    if (!this.xfrmSupported) throw kerr('EOPNOTSUPP', 'Unknown device type');
    if (!spec.collectMetadata && spec.ifId === 0) throw kerr('EINVAL', 'if_id must be non zero');
    for (const l of this.links.values()) {
      if (l.name === spec.name) throw kerr('EEXIST');
      if (l.kind === 'xfrm' && l.xfrm && !spec.collectMetadata && l.xfrm.ifId === spec.ifId) throw kerr('EEXIST');
    }
    if (spec.link && !this.links.has(spec.link)) throw kerr('ENODEV');
    const l: LinkState = {
      name: spec.name,
      index: this.nextIndex++,
      kind: 'xfrm',
      up: false,
      mtu: 1500,
      multicast: false,
      xfrm: { ifId: spec.ifId, link: spec.link, collectMetadata: spec.collectMetadata },
    };
    this.links.set(l.index, l);
    this.emitLink('new', l);
    return { ...l };
  }
  async deleteLink(index: number) {
    this.enter('deleteLink');
    const l = this.links.get(index);
    if (!l) throw kerr('ENODEV');
    this.links.delete(index);
    this.dropWithDevice(l.name, true);
    this.emitLink('del', l);
  }
  async setLink(index: number, change: { up?: boolean; mtu?: number; multicast?: boolean }) {
    this.enter('setLink');
    const l = this.links.get(index);
    if (!l) throw kerr('ENODEV');
    const wasUp = l.up;
    Object.assign(l, change);
    if (wasUp && change.up === false) this.dropWithDevice(l.name, false);
    this.emitLink('new', l);
  }
  async dumpAddresses(index: number) {
    this.enter('dumpAddresses');
    const l = this.links.get(index);
    return [...this.addresses.values()].filter((a) => a.dev === l?.name);
  }
  async addAddress(a: AddressSpec) {
    this.enter('addAddress');
    if (![...this.links.values()].some((l) => l.name === a.dev)) throw kerr('ENODEV');
    if (this.addresses.has(addressKey(a))) throw kerr('EEXIST');
    this.addresses.set(addressKey(a), a);
  }
  async deleteAddress(a: AddressSpec) {
    this.enter('deleteAddress');
    if (!this.addresses.delete(addressKey(a))) throw kerr('EADDRNOTAVAIL');
  }
  async dumpRoutes(protocol?: number) {
    this.enter('dumpRoutes');
    return [...this.routes.values()].filter((r) => protocol === undefined || r.protocol === protocol);
  }
  async addRoute(r: RouteSpec, o: { replace?: boolean } = {}) {
    this.enter('addRoute');
    if (r.dev && ![...this.links.values()].some((l) => l.name === r.dev)) throw kerr('ENODEV');
    if (this.routes.has(routeKey(r)) && !o.replace) throw kerr('EEXIST');
    this.routes.set(routeKey(r), r);
    if (r.protocol !== XFRMD_RTPROT) for (const cb of this.listeners.foreign) setImmediate(() => cb(r));
  }
  /** like the kernel: a delete naming a protocol only removes a route of that protocol */
  async deleteRoute(r: RouteSpec) {
    this.enter('deleteRoute');
    const have = this.routes.get(routeKey(r));
    if (!have || (r.protocol && have.protocol !== r.protocol)) throw kerr('ESRCH');
    this.routes.delete(routeKey(r));
    this.routeGone(have);
  }
  async dumpRules(protocol: number) {
    this.enter('dumpRules');
    return [...this.rules.values()].filter((r) => r.protocol === protocol);
  }
  async addRule(r: RuleSpec) {
    this.enter('addRule');
    if (this.rules.has(ruleKey(r))) throw kerr('EEXIST');
    this.rules.set(ruleKey(r), r);
  }
  async deleteRule(r: RuleSpec) {
    this.enter('deleteRule');
    const have = this.rules.get(ruleKey(r));
    if (!have || (r.protocol && have.protocol !== r.protocol)) throw kerr('ENOENT');
    this.rules.delete(ruleKey(r));
    if (have.protocol === XFRMD_RTPROT) for (const cb of this.listeners.rule) setImmediate(() => cb(have));
  }
  /** SAs and policies "an IKE daemon installed" (tests put them here) */
  sas: SaState[] = [];
  policies: PolicyState[] = [];
  async xfrmState() {
    this.enter('xfrmState');
    return { sas: this.sas.map((x) => ({ ...x })), policies: this.policies.map((x) => ({ ...x })) };
  }
  async espOffload(dev: string) {
    this.enter('espOffload');
    return this.offload.get(dev) ?? { hwOffload: false, txCsumOffload: false };
  }

  /** Everything, for "nothing is left" assertions. */
  snapshot() {
    return {
      links: [...this.links.values()].map((l) => l.name).sort(),
      addresses: [...this.addresses.keys()].sort(),
      routes: [...this.routes.keys()].sort(),
      rules: [...this.rules.keys()].sort(),
    };
  }
}

export { kerr };
