// One interface's lifecycle, kept the way netifd's proto-ext keeps one per
// interface (S_IDLE, S_SETUP, S_TEARDOWN): an explicit state, one queue, one
// handler per event. Every event waits for its turn in the queue and then acts
// on the state it finds there, so a late event — the link-down of a device we
// deleted ourselves, a resync that looked at netifd before its setup arrived —
// can never undo a newer transition.
//
// Who acts on what (one owner per transition):
//   netifd          setup, teardown (through the shim); it also drives tunlink
//                   parents: when the tunlink goes down it tears us down, when it
//                   comes back it sets us up (host dependency), so we never
//                   recreate a device for a tunlink change ourselves.
//   the kernel      device-lost (our device deleted or set down behind our back),
//                   repair (our routes/rules deleted behind our back),
//                   parent-up / parent-gone (a `parent_device` NIC replaced or removed)
//   our own timer   retry (after a transient failure: make the interface available
//                   again, and netifd sets it up)
//   another section reopen (it went down: one refused over it may fit now)
//   resync          adopt / release / kick, only for interfaces netifd has not asked
//                   about since resync looked (`since`); see resync.ts.
//
//   event \ state   idle          up             waiting          failed
//   setup           bring up      bring up       bring up         bring up
//   teardown        –             remove → idle  stays waiting    stays failed
//   adopt           bring up      re-apply, tell –                –
//   release         remove        remove → idle  remove → idle    remove → idle
//   kick            ask netifd    –              ask netifd       ask netifd
//   retry           –             –              make available   –
//   device-lost     –             recreate ¹     –                –
//   repair          –             re-apply       –                –
//   parent-up       –             recreate ²     retry now        –
//   parent-gone     –             fail (transient PARENT_GONE)    –
//   summary         –             tell netifd    –                –
//   reopen          –             –              –                ask netifd ³
//   ¹ or just bring it up and re-apply, if it was only set down   ² only if its ifindex changed
//   ³ only if refused over another section (a conflict code); queued, so it reaches netifd after
//     this one's failure report (an ifup before its `block restart` would be undone by it)
// setting-up, repairing and tearing-down are seen only by status: the queue runs one
// handler at a time, and each ends in one of the four states above.
import type { Logger } from '../log.ts';
import { XfrmdError, errorText } from '../errors.ts';
import type { RawConfig } from '../config/validate.ts';
import type { Kernel } from '../reconcile/kernel.ts';
import { applyPlan, removeInstalled, type ActualIndex, type Installed } from '../reconcile/reconcile.ts';
import type { StateStore } from '../state/store.ts';
import { isTeardownRefusal, isUnreachable, type IfaceUp, type Netifd } from './netifd.ts';
import { prepare, type Prepared } from './prepare.ts';
import type { Capabilities } from './probe.ts';

export type State = 'idle' | 'setting-up' | 'up' | 'repairing' | 'waiting' | 'failed' | 'tearing-down';

export type LifecycleEvent =
  | { type: 'setup'; config: RawConfig }
  | { type: 'teardown' }
  | { type: 'adopt'; config: RawConfig; since: number; actual: ActualIndex }
  | { type: 'release'; since: number }
  | { type: 'kick'; since: number }
  | { type: 'retry' }
  | { type: 'device-lost'; ifindex: number }
  /** `actual`: a dump shared by several repairs; without it the repair dumps when its turn comes */
  | { type: 'repair'; actual?: ActualIndex }
  | { type: 'parent-up'; device: string; ifindex: number }
  | { type: 'parent-gone'; device: string }
  | { type: 'summary'; data: Record<string, number> }
  /** `over`: the section that went down */
  | { type: 'reopen'; over: string };

export interface ParentRef {
  /** the tunlink interface, when the parent was given as one */
  iface?: string;
  device: string;
  index: number;
}

/** What every lifecycle shares: the kernel, netifd, the store, and a view of the others. */
export interface LifecycleContext {
  kernel: Kernel;
  netifd: Netifd;
  store: StateStore;
  log: Logger;
  capabilities(): Capabilities | undefined;
  /** configs of the other interfaces that hold (or are getting) kernel objects */
  others(name: string): Prepared[];
  /** delay before the n-th retry after a transient failure */
  retryDelay(attempt: number): number;
  /** told whenever what an interface owns changes (for mapping kernel events to owners) */
  ownership(name: string, installed: Installed | undefined): void;
  /** told whenever the `parent_device` an interface follows changes (link events of that name concern it) */
  follows(name: string, device: string | undefined): void;
  /** our tagged routes and rules as the kernel has them now */
  ownObjects(): Promise<ActualIndex>;
  /** SA summaries may be out of date (refreshed after a short delay, once for all) */
  sasChanged(): void;
  /** this interface gave up its objects (down or released): sections refused over it may fit now */
  freed(name: string): void;
  /** a repair (with a fresh dump) after `ms` */
  repairLater(name: string, ms: number): void;
  /** an event was handled (the daemon tidies its memory once they stop coming) */
  worked(): void;
}

/** How long after a teardown netifd has settled (its own set-up attempt done). */
const ERROR_REPEAT_MS = 1000;

/** netifd's data before we have counted any SA */
const NO_SAS: Readonly<Record<string, number>> = { sa_in: 0, sa_out: 0, sa_offloaded: 0 };

/** Refusals because of another section (src/config/conflicts.ts) or its device (if_id held). */
export const CONFLICT_CODES = new Set(['DUPLICATE_IFID', 'DUPLICATE_EXTERNAL', 'TABLE_CONFLICT', 'ROUTE_CONFLICT', 'PRIORITY_CONFLICT']);

/** Errors a retry can fix; everything else blocks restarts until the config changes. */
const TRANSIENT_CODES = new Set(['PARENT_DOWN', 'PARENT_NOT_FOUND', 'PARENT_GONE', 'KERNEL_ERROR', 'NETIFD_ERROR', 'TEARDOWN_INCOMPLETE']);

function isTransient(e: unknown): boolean {
  return !(e instanceof XfrmdError) || !e.permanent || TRANSIENT_CODES.has(e.code);
}

export class Lifecycle {
  state: State = 'idle';
  /** the raw config of the last setup (or of the record adopted at resync) */
  config: RawConfig | undefined;
  /** validated config while it holds kernel objects (setting-up, up, repairing) */
  prepared: Prepared | undefined;
  installed: Installed | undefined;
  /** `installed` is what this process saw through to the end, not a record written ahead of
   *  changes (which a crash or a failed rollback may have cut short) nor one of an earlier run */
  private confirmed = false;
  parent: ParentRef | undefined;
  error: { code: string; message: string } | undefined;
  /** the `parent_device` of the last validated config: kernel events about it concern us */
  parentDevice: string | undefined;
  /** what netifd was last told (re-sent with a new SA summary) */
  private reported: IfaceUp | undefined;
  /** SA counts shown in netifd's data */
  private summary: Record<string, number> | undefined;
  /** sequence number of the last request from netifd (given when it arrives, not when it runs) */
  lastRequest = 0;
  /** every transition, newest last (bounded): for status and tests */
  readonly transitions: Array<{ event: LifecycleEvent['type']; from: State; to: State }> = [];
  private queue: Promise<void> = Promise.resolve();
  private retryTimer: NodeJS.Timeout | undefined;
  /** failures in a row, for the backoff; back to 0 once up */
  private retryAttempt = 0;
  private readonly log: Logger;

  constructor(
    readonly name: string,
    private readonly ctx: LifecycleContext,
  ) {
    this.log = ctx.log.child({ iface: name });
  }

  /** Queue an event; resolves when its handler has run (handlers never throw). */
  dispatch(ev: LifecycleEvent, requestSeq?: number): Promise<void> {
    if (requestSeq !== undefined) this.lastRequest = requestSeq;
    const run = async () => {
      const from = this.state;
      try {
        await this.handle(ev, requestSeq);
      } catch (e) {
        // handlers report their own failures; anything escaping is a bug, never a crash
        this.log.error({ event: ev.type }, `unexpected: ${errorText(e)}`);
      }
      // SA summaries and kicks that changed nothing are not worth keeping (a daemon keeps this per interface)
      this.ctx.worked();
      if (from === this.state && (ev.type === 'summary' || ev.type === 'kick' || ev.type === 'reopen')) return;
      this.transitions.push({ event: ev.type, from, to: this.state });
      if (this.transitions.length > 16) this.transitions.shift();
    };
    this.queue = this.queue.then(run, run);
    return this.queue;
  }

  /** True when nothing is queued or running (for tests and resync). */
  idle(): Promise<void> {
    return this.queue;
  }

  /**
   * netifd's requests carry a sequence number. One that a newer request has superseded by the
   * time its turn comes is skipped: the newest one reconciles whatever is there (a teardown
   * followed by a setup keeps the device, so netifd's idea of its ifindex stays true).
   */
  private superseded(seq: number | undefined): boolean {
    return seq !== undefined && this.lastRequest > seq;
  }

  private async handle(ev: LifecycleEvent, seq: number | undefined): Promise<void> {
    switch (ev.type) {
      case 'setup':
        if (this.superseded(seq)) return this.log.info('setup superseded by a newer request from netifd');
        this.cancelRetry();
        return this.bringUp(ev.config, { mode: 'setup', seq });
      case 'teardown':
        if (this.superseded(seq)) return this.log.info('teardown superseded by a newer request from netifd');
        return this.teardown();
      case 'adopt':
        // netifd has it up (or waits for our report): put back what is missing and report
        // again (a report may have been lost with the bus)
        if (this.lastRequest > ev.since || (this.state !== 'up' && this.state !== 'idle')) return;
        return this.bringUp(this.state === 'up' ? (this.config ?? ev.config) : ev.config, { mode: 'adopt', actual: ev.actual });
      case 'release':
        if (this.lastRequest > ev.since) return;
        this.cancelRetry();
        if (await this.removeAll()) this.log.info('released: netifd does not want it');
        this.state = 'idle';
        this.ctx.freed(this.name);
        return;
      case 'kick':
        return this.kick(ev.since);
      case 'retry':
        return this.retryNow();
      case 'device-lost': {
        const mine = this.installed?.link;
        if (this.state !== 'up' || mine?.index !== ev.ifindex || !this.config) return;
        // events can be stale by the time their turn comes: look again
        const link = await this.ctx.kernel.getLinkByIndex(ev.ifindex).catch(() => undefined);
        if (link?.name === mine.name) {
          if (link.up) return;
          this.log.warn('device set down by someone else: bringing it up, putting its routes back');
          return this.bringUp(this.config, { mode: 'repair', actual: await this.ctx.ownObjects() });
        }
        return this.recreate(this.config, 'device removed by someone else');
      }
      case 'repair':
        if (this.state !== 'up' || !this.config) return;
        return this.bringUp(this.config, { mode: 'repair', actual: ev.actual ?? (await this.ctx.ownObjects()) });
      case 'parent-up':
        if (ev.device !== this.parentDevice) return;
        if (this.state === 'waiting') return this.retryNow();
        if (this.state !== 'up' || !this.config || this.parent?.index === ev.ifindex) return;
        return this.recreate(this.config, `parent ${ev.device} is a new device (ifindex ${ev.ifindex})`);
      case 'parent-gone':
        if (this.state !== 'up' || ev.device !== this.parentDevice) return;
        return this.fail(new XfrmdError('PARENT_GONE', `parent device ${ev.device} was removed`, { permanent: false }));
      case 'summary':
        return this.updateSummary(ev.data);
      case 'reopen':
        if (this.state !== 'failed' || !this.error || !CONFLICT_CODES.has(this.error.code)) return;
        this.log.info(`${ev.over} is down: asking netifd to set this one up again (refused with ${this.error.code})`);
        return this.ctx.netifd.ifup(this.name).catch((e) => this.log.warn(`could not ask netifd: ${errorText(e)}`));
    }
  }

  /**
   * Validate, plan, reconcile and tell netifd. `setup`: netifd asked; `adopt`: resync found
   * it up in netifd with our record; `repair`: put back what vanished (with a fresh dump);
   * `recreate`: the device must be made again. A host dependency is registered only on a
   * real setup: netifd keeps it until the next one.
   */
  private async bringUp(config: RawConfig, o: { mode: 'setup' | 'adopt' | 'repair' | 'recreate'; actual?: ActualIndex; seq?: number | undefined }): Promise<void> {
    const { ctx } = this;
    this.state = o.mode === 'repair' || o.mode === 'recreate' ? 'repairing' : 'setting-up';
    this.config = config;
    if (o.mode === 'setup' || o.mode === 'adopt') this.error = undefined;
    try {
      const prepared = prepare(this.name, config, ctx.others(this.name));
      this.prepared = prepared;
      if (this.parentDevice !== prepared.parentDevice) ctx.follows(this.name, prepared.parentDevice);
      this.parentDevice = prepared.parentDevice;
      this.checkCapabilities(prepared);
      const parent = await this.resolveParent(prepared, o.mode === 'setup');
      await this.checkOffload(prepared, parent?.device);
      const plan = prepared.plan(parent ? { ifindex: parent.index, name: parent.device } : undefined);
      const changes = { count: 0 };
      const previous = this.installed ?? ctx.store.load(this.name)?.installed;
      // An unconfirmed record says what may be ours, not what exists: the kernel tells (a dump;
      // only after a crash or a failed rollback, so bringing up N interfaces stays linear)
      const actual = o.actual ?? (previous && !this.confirmed ? await ctx.ownObjects() : undefined);
      const installed = await applyPlan(ctx.kernel, plan, {
        ...(previous ? { previous } : {}),
        ...(actual ? { actual } : {}),
        persist: (i) => {
          this.confirmed = false;
          this.record(i);
        },
        log: (msg, fields) => this.log.info(fields ?? {}, msg),
        changes,
        // a repair never fails a running interface over another program's route or rule
        keepForeign: o.mode === 'repair',
      });
      this.record(installed);
      this.confirmed = true;
      this.parent = parent;
      // netifd asked again meanwhile: our update would land in its newer setup (accepted there,
      // for the wrong run) or its teardown (refused). The newer request decides; nothing to say.
      if (this.superseded(o.seq)) {
        this.state = 'up';
        return this.log.info('setup superseded by a newer request from netifd: not reporting it');
      }
      // a repair that found everything in place has nothing new to tell netifd
      if (o.mode !== 'repair' || changes.count > 0) {
        this.reported = {
          ifname: plan.link.name,
          ipaddr: plan.addresses.filter((a) => a.family === 4).map((a) => ({ address: a.address, prefixLen: a.prefixLen })),
          ip6addr: plan.addresses.filter((a) => a.family === 6).map((a) => ({ address: a.address, prefixLen: a.prefixLen })),
          data: { ...prepared.netifdData(parent), ...(this.summary ?? NO_SAS) },
        };
        try {
          await ctx.netifd.up(this.name, this.reported);
        } catch (e) {
          if (isTeardownRefusal(e)) return this.withdraw('netifd is tearing the interface down: setup withdrawn');
          // the bus or netifd is restarting: the kernel is right; the resync that follows their
          // return reports it again
          if (!isUnreachable(e)) throw new XfrmdError('NETIFD_ERROR', `netifd refused the update: ${errorText(e)}`, { cause: e, permanent: false });
          this.log.warn(`netifd not reachable (${errorText(e)}): reported again when it is back`);
        }
      }
      this.state = 'up';
      this.cancelRetry();
      this.retryAttempt = 0;
      // the IKE daemon's SAs may be there already: netifd's summary is refreshed soon
      ctx.sasChanged();
      this.log.info({ ifindex: installed.link.index, if_id: installed.link.ifId, mode: o.mode, changes: changes.count }, 'up');
    } catch (e) {
      // A transient fault while putting back what a running interface had (the bus or netifd
      // restarting, a kernel hiccup) must not take it down: applyPlan left it as it was, and
      // another repair follows. Setups, and anything permanent, fail as usual.
      // The same for a setup when the bus went away under it (its question to netifd about the
      // tunlink failed while ubusd restarted): what we hold stays, the resync after the bus decides.
      const keep = (o.mode === 'repair' || o.mode === 'adopt') ? isTransient(e) : isUnreachable(e);
      if (keep && this.installed) {
        this.state = 'up';
        this.log.warn({ code: (e as XfrmdError).code }, `${o.mode} did not finish (${errorText(e)}): trying again`);
        this.ctx.repairLater(this.name, this.ctx.retryDelay(++this.retryAttempt));
        return;
      }
      await this.fail(e);
    }
  }

  /** The SA summary changed: netifd's `ifstatus` data shows it (an update that keeps the device). */
  private async updateSummary(data: Record<string, number>): Promise<void> {
    const was = this.summary ?? NO_SAS;
    const same = Object.keys(data).every((k) => was[k] === data[k]);
    this.summary = data;
    if (same || this.state !== 'up' || !this.reported) return;
    this.reported = { ...this.reported, data: { ...this.reported.data, ...data } };
    await this.ctx.netifd.up(this.name, { ...this.reported, keep: true }).catch((e) => this.log.warn(`could not update netifd's data: ${errorText(e)}`));
  }

  /** Our device (or its parent) must be made again: netifd sees the link go and come back. */
  private async recreate(config: RawConfig, why: string): Promise<void> {
    this.log.warn(why);
    this.state = 'repairing';
    try {
      await this.ctx.netifd.linkLost(this.name);
    } catch (e) {
      if (isTeardownRefusal(e)) return this.withdraw('netifd is tearing the interface down: not recreating');
      this.log.warn(`could not tell netifd the link is lost: ${errorText(e)}`);
    }
    return this.bringUp(config, { mode: 'recreate' });
  }

  /** netifd waits for a setup we never got (lost with a dead daemon): have it start over. */
  private async kick(since: number): Promise<void> {
    // a request arrived after all, or we hold what netifd waits for (resync reported it)
    if (this.lastRequest > since || this.installed || ['setting-up', 'repairing', 'tearing-down'].includes(this.state)) return;
    this.cancelRetry();
    const s = await this.ctx.netifd.status(this.name).catch(() => undefined);
    if (!s || !(s.pending || s.up)) return;
    this.log.info('netifd is waiting for a setup request that never came: asking it to set up again');
    await this.ctx.netifd.setupFailed(this.name).catch((e) => this.log.warn(`could not ask netifd: ${errorText(e)}`));
  }

  /** netifd started a teardown while we were bringing up: take it all back; its teardown follows. */
  private async withdraw(why: string): Promise<void> {
    this.log.info(why);
    await this.removeAll();
    this.state = 'idle';
  }

  private async teardown(): Promise<void> {
    const was = this.state;
    this.state = 'tearing-down';
    const removed = await this.removeAll();
    if (was === 'waiting' || was === 'failed') {
      // netifd tears down after we reported the failure; the error (and a retry) stay
      this.state = was;
      // Once down, netifd sets the (unavailable) interface up again, which clears the errors
      // and records its own NO_DEVICE: say ours again after that, so `ifstatus` tells why.
      if (was === 'waiting' && this.error) this.repeatError(this.error);
      return;
    }
    this.state = 'idle';
    this.error = removed ? undefined : { code: 'TEARDOWN_INCOMPLETE', message: 'some objects could not be removed (see the log); they are removed at the next setup or resync' };
    this.log.info('down');
    this.ctx.freed(this.name);
  }

  private repeatError(err: { code: string; message: string }): void {
    const t = setTimeout(() => {
      if (this.state === 'waiting' && this.error === err) void this.ctx.netifd.error(this.name, err.code, err.message, false).catch(() => undefined);
    }, ERROR_REPEAT_MS);
    t.unref();
  }

  /** Remove what the record says we own; false (record kept, so a later pass retries) if anything resisted. */
  private async removeAll(): Promise<boolean> {
    this.prepared = undefined;
    const owned = this.installed ?? this.ctx.store.load(this.name)?.installed;
    if (!owned) return true;
    // a removal that stops halfway leaves less than the record says
    this.confirmed = false;
    try {
      await removeInstalled(this.ctx.kernel, owned, (msg, fields) => this.log.info(fields ?? {}, msg));
    } catch (e) {
      this.log.warn(errorText(e));
      return false;
    }
    this.record(undefined);
    return true;
  }

  /** Keep the store and the ownership index in step with what we own. */
  private record(installed: Installed | undefined): void {
    this.installed = installed;
    if (installed) this.ctx.store.save({ name: this.name, config: this.config ?? {}, installed });
    else this.ctx.store.remove(this.name);
    this.ctx.ownership(this.name, installed);
  }

  /**
   * A failed bring-up leaves nothing: applyPlan put back what we had, and that goes too
   * (netifd considers the interface down). Permanent errors block netifd's restarts;
   * transient ones make the interface unavailable and retry with backoff.
   */
  private async fail(e: unknown): Promise<void> {
    const err = e instanceof XfrmdError ? e : new XfrmdError('KERNEL_ERROR', errorText(e), { permanent: false });
    const transient = isTransient(err);
    await this.removeAll();
    this.parent = undefined;
    this.error = { code: err.code, message: err.message };
    this.state = transient ? 'waiting' : 'failed';
    this.log.warn({ code: err.code, transient }, err.message);
    const { netifd } = this.ctx;
    try {
      await netifd.error(this.name, err.code, err.message, !transient);
      // netifd waits for our notify (no-proto-task): each path must end its setup.
      // Permanent: setup failed, so it tears down (and, blocked, does not restart).
      // PARENT_DOWN: the host dependency already made it unavailable, which tore it down,
      // and netifd sets it up again when the tunlink is up: no timer of ours.
      // Other transient errors: unavailable (tears down) until our retry makes it available.
      if (!transient) await netifd.setupFailed(this.name);
      else if (err.code !== 'PARENT_DOWN') {
        await netifd.setAvailable(this.name, false);
        this.scheduleRetry();
      }
    } catch (ne) {
      if (!isTeardownRefusal(ne)) this.log.warn(`could not report to netifd: ${errorText(ne)}`);
      if (transient && err.code !== 'PARENT_DOWN') this.scheduleRetry();
    }
  }

  private checkCapabilities(p: Prepared): void {
    const caps = this.ctx.capabilities();
    if (!caps) return;
    if (!caps.xfrmInterface) throw new XfrmdError('NO_KERNEL_SUPPORT', caps.hint ?? 'this kernel cannot create XFRM interfaces: install kmod-xfrm-interface');
    if (p.config.external && !caps.collectMetadata) {
      throw new XfrmdError('EXTERNAL_UNSUPPORTED', `option external needs Linux 6.1 or later (collect_md XFRM devices); this kernel is ${caps.kernel}`);
    }
    if (p.offload === 'packet' && !caps.packetOffloadApi) {
      throw new XfrmdError('OFFLOAD_UNSUPPORTED', `offload packet needs Linux 6.2 or later; this kernel is ${caps.kernel}`);
    }
  }

  private async resolveParent(p: Prepared, registerDependency: boolean): Promise<ParentRef | undefined> {
    const { netifd, kernel } = this.ctx;
    // Not a new setup: the parent we are bound to, while it exists, needs no question to netifd
    // (which may be restarting and not answer for every interface yet). A tunlink whose device
    // changes takes us down through netifd anyway.
    const bound = this.parent?.index ?? (this.installed ?? this.ctx.store.load(this.name)?.installed)?.link.parent;
    if (!registerDependency && bound && (p.tunlink || p.parentDevice)) {
      const link = await kernel.getLinkByIndex(bound).catch(() => undefined);
      if (link && (p.tunlink || link.name === p.parentDevice)) return { ...(p.tunlink ? { iface: p.tunlink } : {}), device: link.name, index: link.index };
    }
    if (p.tunlink) {
      // Like the stock proto: a host dependency keeps us unavailable until the tunlink is up,
      // and netifd sets us up again then.
      if (registerDependency && !(await netifd.dependOn(this.name, p.tunlink))) {
        throw new XfrmdError('PARENT_DOWN', `tunlink interface ${p.tunlink} is not up yet`, { permanent: false });
      }
      const device = await netifd.parentDevice(p.tunlink);
      if (!device) throw new XfrmdError('PARENT_NOT_FOUND', `tunlink interface ${p.tunlink} does not exist in netifd`, { permanent: false });
      const link = await kernel.getLink(device);
      if (!link) throw new XfrmdError('PARENT_NOT_FOUND', `device ${device} of tunlink ${p.tunlink} is not present`, { permanent: false });
      return { iface: p.tunlink, device, index: link.index };
    }
    if (p.parentDevice) {
      const link = await kernel.getLink(p.parentDevice);
      if (!link) throw new XfrmdError('PARENT_NOT_FOUND', `parent device ${p.parentDevice} is not present`, { permanent: false });
      return { device: p.parentDevice, index: link.index };
    }
    return undefined;
  }

  /** Offload asked for: the parent must offer it (status reads the features when asked). */
  private async checkOffload(p: Prepared, device: string | undefined): Promise<void> {
    if (p.offload === 'off') return;
    if (!device) throw new XfrmdError('OFFLOAD_UNSUPPORTED', `offload ${p.offload} needs a parent device (tunlink or parent_device)`);
    const features = await this.ctx.kernel.espOffload(device).catch(() => undefined);
    if (!features?.hwOffload) throw new XfrmdError('OFFLOAD_UNSUPPORTED', `offload ${p.offload} requested but ${device} has no esp-hw-offload`);
  }

  private async retryNow(): Promise<void> {
    if (this.state !== 'waiting') return;
    this.cancelRetry();
    try {
      // netifd sets the interface up if it still wants it (autostart)
      await this.ctx.netifd.setAvailable(this.name, true);
    } catch (e) {
      this.log.warn(`could not make available: ${errorText(e)}`);
      this.scheduleRetry();
    }
  }

  private scheduleRetry(): void {
    this.cancelRetry();
    this.retryTimer = setTimeout(() => void this.dispatch({ type: 'retry' }), this.ctx.retryDelay(++this.retryAttempt));
    this.retryTimer.unref();
  }

  private cancelRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  /** Stop timers (daemon shutdown). */
  close(): void {
    this.cancelRetry();
  }
}
