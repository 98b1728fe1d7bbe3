// All interfaces of the daemon: one Lifecycle each (lifecycle.ts), the things they
// share (conflict checks against each other, the ownership of kernel objects), and
// the routing of outside events to the lifecycle they concern. Data flows one way:
// raw config → validated → plan → reconcile → netlink, inside each lifecycle.
import type { Logger } from '../log.ts';
import { XFRMD_RTPROT, type RouteSpec, type RuleSpec } from '../model.ts';
import type { RawConfig } from '../config/validate.ts';
import { errorText } from '../errors.ts';
import type { EspOffload, Kernel } from '../reconcile/kernel.ts';
import { indexActual, type ActualIndex, type Installed } from '../reconcile/reconcile.ts';
import { routeKey, ruleKey } from '../reconcile/keys.ts';
import { byName, type StateStore } from '../state/store.ts';
import { CONFLICT_CODES, Lifecycle, type LifecycleContext, type LifecycleEvent } from './lifecycle.ts';
import type { Netifd } from './netifd.ts';
import type { Prepared } from './prepare.ts';
import type { Capabilities } from './probe.ts';
import { reportOf, saSummary, type InterfaceReport, type KernelView } from './status.ts';

export type { InterfaceReport } from './status.ts';

export interface ManagerOptions {
  kernel: Kernel;
  netifd: Netifd;
  store: StateStore;
  log: Logger;
  /** first retry delay for transient failures; doubles up to maxRetryMs */
  retryMs?: number;
  maxRetryMs?: number;
  /** how long kernel deletions of our objects are collected before one repair pass */
  repairDelayMs?: number;
  /** how long SA changes are collected before netifd's summaries are refreshed */
  summaryDelayMs?: number;
  /** told after each event an interface handled */
  worked?: () => void;
}

export class InterfaceManager {
  private readonly lifecycles = new Map<string, Lifecycle>();
  readonly kernel: Kernel;
  readonly netifd: Netifd;
  readonly store: StateStore;
  readonly log: Logger;
  private readonly ctx: LifecycleContext;
  /** object key (route|…, rule|…) → the interface that owns it */
  private readonly owners = new Map<string, string>();
  private readonly ownedKeys = new Map<string, string[]>();
  /** ifindex of each interface's device, and the interfaces following each `parent_device`:
   *  a link event finds what it concerns without looking at every interface */
  private readonly byIfindex = new Map<number, string>();
  private readonly ifindexOf = new Map<string, number>();
  private readonly followers = new Map<string, Set<string>>();
  /** sequence of netifd requests: resync skips interfaces netifd asked about after it looked */
  private requestSeq = 0;
  private nextDump: Promise<ActualIndex> | undefined;
  private repairTimer: NodeJS.Timeout | undefined;
  private readonly repairWanted = new Set<string>();
  private readonly repairDelayMs: number;
  private summaryTimer: NodeJS.Timeout | undefined;
  private readonly summaryDelayMs: number;
  /** set by the daemon after its start-up probe */
  capabilities: Capabilities | undefined;

  constructor(o: ManagerOptions) {
    this.kernel = o.kernel;
    this.netifd = o.netifd;
    this.store = o.store;
    this.log = o.log;
    this.repairDelayMs = o.repairDelayMs ?? 200;
    this.summaryDelayMs = o.summaryDelayMs ?? 2000;
    const retryMs = o.retryMs ?? 1000;
    const maxRetryMs = o.maxRetryMs ?? 60_000;
    this.ctx = {
      kernel: o.kernel,
      netifd: o.netifd,
      store: o.store,
      log: o.log,
      capabilities: () => this.capabilities,
      others: (name) => this.others(name),
      retryDelay: (attempt) => Math.min(retryMs * 2 ** (attempt - 1), maxRetryMs),
      ownership: (name, installed) => this.setOwnership(name, installed),
      follows: (name, device) => this.setFollows(name, device),
      ownObjects: () => this.ownObjects(),
      sasChanged: () => this.xfrmChanged(),
      freed: (name) => this.freed(name),
      worked: o.worked ?? (() => {}),
      repairLater: (name, ms) => {
        const t = setTimeout(() => this.scheduleRepair([name]), ms);
        t.unref();
      },
    };
  }

  lifecycle(name: string): Lifecycle {
    let l = this.lifecycles.get(name);
    if (!l) {
      l = new Lifecycle(name, this.ctx);
      this.lifecycles.set(name, l);
    }
    return l;
  }

  all(): Lifecycle[] {
    return [...this.lifecycles.values()];
  }

  has(name: string): boolean {
    return this.lifecycles.has(name);
  }

  /** The current request sequence number (what resync compares against). */
  get seq(): number {
    return this.requestSeq;
  }

  /** netifd asks (through the shim). Resolves when handled. */
  setup(name: string, config: RawConfig): Promise<void> {
    return this.lifecycle(name).dispatch({ type: 'setup', config }, ++this.requestSeq);
  }

  teardown(name: string): Promise<void> {
    return this.lifecycle(name).dispatch({ type: 'teardown' }, ++this.requestSeq);
  }

  dispatch(name: string, ev: LifecycleEvent): Promise<void> {
    return this.lifecycle(name).dispatch(ev);
  }

  /** Everything queued so far has run (tests, resync). */
  async settled(): Promise<void> {
    await Promise.all(this.all().map((l) => l.idle()));
  }

  private others(name: string): Prepared[] {
    const out: Prepared[] = [];
    for (const l of this.lifecycles.values()) if (l.name !== name && l.prepared) out.push(l.prepared);
    return out;
  }

  private setFollows(name: string, device: string | undefined): void {
    for (const [dev, names] of this.followers) {
      if (dev !== device && names.delete(name) && !names.size) this.followers.delete(dev);
    }
    if (device === undefined) return;
    let names = this.followers.get(device);
    if (!names) this.followers.set(device, (names = new Set()));
    names.add(name);
  }

  /** An interface holds this object (`route|…` / `rule|…` key), or is adding it right now. */
  owns(key: string): boolean {
    return this.owners.has(key);
  }

  private setOwnership(name: string, installed: Installed | undefined): void {
    const was = this.ifindexOf.get(name);
    if (was !== undefined && this.byIfindex.get(was) === name) this.byIfindex.delete(was);
    this.ifindexOf.delete(name);
    if (installed?.link.index) {
      this.byIfindex.set(installed.link.index, name);
      this.ifindexOf.set(name, installed.link.index);
    }
    for (const k of this.ownedKeys.get(name) ?? []) if (this.owners.get(k) === name) this.owners.delete(k);
    const keys = installed ? [...installed.routes.map((r) => 'route|' + routeKey(r)), ...installed.rules.map((r) => 'rule|' + ruleKey(r))] : [];
    for (const k of keys) this.owners.set(k, name);
    if (keys.length) this.ownedKeys.set(name, keys);
    else this.ownedKeys.delete(name);
  }

  /**
   * A section went down: one refused because of it (the same if_id, priority, table…) was
   * blocked by netifd and would stay down, though the clash may be gone — as when a reload
   * renames a section and the new name's setup comes before the old one's teardown. netifd
   * sets it up again; if the clash is still there it is refused again, with the same error.
   */
  private freed(name: string): void {
    // each decides in its own queue: one still being refused (setting up) or reporting its
    // refusal must finish that first
    for (const l of this.lifecycles.values()) {
      if (l.name !== name && (l.state === 'setting-up' || CONFLICT_CODES.has(l.error?.code ?? ''))) void l.dispatch({ type: 'reopen', over: name });
    }
  }

  // ---- kernel events ----

  /** A link appeared, changed or went away. */
  linkEvent(e: { action: 'new' | 'del'; index: number; name: string; up: boolean }): void {
    const owner = this.byIfindex.get(e.index);
    const l = owner === undefined ? undefined : this.lifecycles.get(owner);
    const ours = l?.installed?.link.index === e.index && l.installed.link.name === e.name;
    if (l && ours && (e.action === 'del' || !e.up)) void l.dispatch({ type: 'device-lost', ifindex: e.index });
    for (const name of this.followers.get(e.name) ?? []) {
      void this.lifecycles.get(name)?.dispatch(e.action === 'new' ? { type: 'parent-up', device: e.name, ifindex: e.index } : { type: 'parent-gone', device: e.name });
    }
  }

  /** Someone else's route appeared at the place of one of ours (`ip route replace` by an IKE
   *  daemon's updown): its owner takes the place back (the route goes through our device). */
  foreignRoute(route: RouteSpec): void {
    const owner = this.owners.get('route|' + routeKey(route));
    if (owner) this.scheduleRepair([owner]);
  }

  /** One of our routes or rules was deleted (by us, or behind our back): have its owner check. */
  objectDeleted(what: { route: RouteSpec } | { rule: RuleSpec }): void {
    const key = 'route' in what ? 'route|' + routeKey(what.route) : 'rule|' + ruleKey(what.rule);
    const owner = this.owners.get(key);
    if (owner) this.scheduleRepair([owner]);
  }

  /** Kernel events were lost: every interface that is up checks its objects. */
  eventsLost(): void {
    this.scheduleRepair(this.all().filter((l) => l.state === 'up').map((l) => l.name));
  }

  /** Collect repair requests briefly, then one dump for all of them. */
  private scheduleRepair(names: string[]): void {
    for (const n of names) this.repairWanted.add(n);
    if (this.repairTimer || !this.repairWanted.size) return;
    this.repairTimer = setTimeout(() => void this.repairNow(), this.repairDelayMs);
    this.repairTimer.unref();
  }

  /** Our tagged routes and rules as the kernel has them, dumped after this call: callers in the
   *  same turn of the event loop share one dump (after a restart, setups come all at once). */
  ownObjects(): Promise<ActualIndex> {
    this.nextDump ??= new Promise<void>((r) => setImmediate(r)).then(async () => {
      this.nextDump = undefined;
      const [routes, rules] = await Promise.all([this.kernel.dumpRoutes(XFRMD_RTPROT), this.kernel.dumpRules(XFRMD_RTPROT)]);
      return indexActual(routes, rules);
    });
    return this.nextDump;
  }

  private async repairNow(): Promise<void> {
    this.repairTimer = undefined;
    const names = [...this.repairWanted];
    this.repairWanted.clear();
    const wanted = names.map((n) => this.lifecycles.get(n)).filter((l): l is Lifecycle => l !== undefined);
    // one being set up or repaired right now checks after it, with a dump of its own (a deletion
    // while it was adding must not be lost); idle or failed ones have nothing to repair: our own
    // teardowns end here
    for (const l of wanted) if (l.state === 'setting-up' || l.state === 'repairing') void l.dispatch({ type: 'repair' });
    const up = wanted.filter((l) => l.state === 'up');
    if (!up.length) return;
    try {
      const actual = await this.ownObjects();
      for (const l of up) void l.dispatch({ type: 'repair', actual });
    } catch (e) {
      this.log.warn(`repair dump failed: ${errorText(e)}`);
      this.scheduleRepair(up.map((l) => l.name));
    }
  }

  // ---- status ----

  /** Everything status reads, in one dump each. */
  private async kernelView(): Promise<KernelView> {
    const [actual, routes, xfrm, links] = await Promise.all([this.ownObjects(), this.kernel.dumpRoutes(), this.kernel.xfrmState(), this.kernel.listLinks()]);
    const foreign = new Map(routes.filter((r) => r.protocol !== XFRMD_RTPROT).map((r) => [routeKey(r), r]));
    const names = new Map(links.map((l) => [l.index, l.name]));
    const features = new Map<string, Promise<EspOffload | undefined>>();
    const featuresOf = (dev: string) => {
      let f = features.get(dev);
      if (!f) features.set(dev, (f = this.kernel.espOffload(dev).catch(() => undefined)));
      return f;
    };
    return { actual, foreign, sas: xfrm.sas, policies: xfrm.policies, nameOf: (i) => names.get(i), features: featuresOf };
  }

  /** What each interface has, read from the kernel (not from our records). */
  async status(name?: string): Promise<InterfaceReport[]> {
    const list = name === undefined ? this.all() : [this.lifecycles.get(name)].filter((l): l is Lifecycle => l !== undefined);
    list.sort(byName);
    const view = await this.kernelView();
    return Promise.all(list.map((l) => reportOf(l, this.kernel, view)));
  }

  /** SAs or policies changed (rekeying, an IKE daemon started or stopped): refresh netifd's summaries soon. */
  xfrmChanged(): void {
    if (this.summaryTimer) return;
    this.summaryTimer = setTimeout(() => void this.refreshSummaries(), this.summaryDelayMs);
    this.summaryTimer.unref();
  }

  /** One XFRM dump for all interfaces: only SAs and policies are counted (no per-interface requests). */
  async refreshSummaries(): Promise<void> {
    this.summaryTimer = undefined;
    const up = this.all().filter((l) => l.state === 'up');
    if (!up.length) return;
    try {
      const { sas, policies } = await this.kernel.xfrmState();
      for (const l of up) void l.dispatch({ type: 'summary', data: saSummary(l.installed?.link.ifId ?? l.prepared?.config.ifId, sas, policies) });
    } catch (e) {
      this.log.warn(`SA summary: ${errorText(e)}`);
    }
  }

  close(): void {
    if (this.repairTimer) clearTimeout(this.repairTimer);
    if (this.summaryTimer) clearTimeout(this.summaryTimer);
    for (const l of this.lifecycles.values()) l.close();
  }
}
