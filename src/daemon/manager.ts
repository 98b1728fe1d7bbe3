// The per-interface lifecycle behind the `xfrmd` ubus object: setup, teardown,
// status, following the parent, and resync after a restart or a kernel fault.
//
// Data flows one way: raw config → validated → plan → reconcile → netlink.
// Each interface's operations are serialized, so a parent change can never
// interleave with a teardown of the same interface.
import type { Logger } from '../log.ts';
import { XFRMD_RTPROT } from '../model.ts';
import { XfrmdError, errorText } from '../errors.ts';
import type { EspOffload, Kernel } from '../reconcile/kernel.ts';
import { applyPlan, devicePresent, indexActual, removeInstalled, type ApplyOptions, type Installed } from '../reconcile/reconcile.ts';
import type { StateStore } from '../state/store.ts';
import { routeKey, ruleKey } from '../reconcile/keys.ts';
import type { Netifd } from './netifd.ts';
import { prepare, type Prepared } from './prepare.ts';
import type { Capabilities } from './probe.ts';

export type Phase = 'setting-up' | 'up' | 'waiting' | 'error' | 'down';

interface Managed {
  name: string;
  phase: Phase;
  config: Record<string, unknown>;
  prepared?: Prepared;
  error?: { code: string; message: string };
  installed?: Installed;
  parent?: { iface?: string; device: string; index: number };
  offload?: EspOffload;
  retry?: { timer: NodeJS.Timeout; attempt: number };
  queue: Promise<unknown>;
}

export interface InterfaceReport {
  interface: string;
  phase: Phase;
  error?: { code: string; message: string };
  device?: string;
  ifindex?: number;
  ifid?: number;
  parent?: { interface?: string; device: string; ifindex: number };
  offload?: { mode: string; esp_hw_offload?: boolean; esp_tx_csum_hw_offload?: boolean };
  table?: number;
  addresses: string[];
  routes: string[];
  rules: string[];
}

export interface ManagerOptions {
  kernel: Kernel;
  netifd: Netifd;
  store: StateStore;
  log: Logger;
  /** first retry delay for transient failures; doubles up to maxRetryMs */
  retryMs?: number;
  maxRetryMs?: number;
}

const TRANSIENT_CODES = new Set(['PARENT_DOWN', 'PARENT_NOT_FOUND', 'PARENT_GONE', 'KERNEL_ERROR', 'NETIFD_ERROR']);

export class InterfaceManager {
  private readonly ifaces = new Map<string, Managed>();
  private readonly kernel: Kernel;
  private readonly netifd: Netifd;
  private readonly store: StateStore;
  private readonly log: Logger;
  private readonly retryMs: number;
  private readonly maxRetryMs: number;
  /** set by the daemon after its start-up probe */
  capabilities: Capabilities | undefined;

  constructor(o: ManagerOptions) {
    this.kernel = o.kernel;
    this.netifd = o.netifd;
    this.store = o.store;
    this.log = o.log;
    this.retryMs = o.retryMs ?? 1000;
    this.maxRetryMs = o.maxRetryMs ?? 60_000;
  }

  private entry(name: string): Managed {
    let m = this.ifaces.get(name);
    if (!m) {
      m = { name, phase: 'down', config: {}, queue: Promise.resolve() };
      this.ifaces.set(name, m);
    }
    return m;
  }

  /** Run `fn` after everything already queued for this interface. */
  private serialize<T>(m: Managed, fn: () => Promise<T>): Promise<T> {
    const run = m.queue.then(fn, fn);
    m.queue = run.catch(() => undefined);
    return run;
  }

  setup(name: string, config: Record<string, unknown>): Promise<InterfaceReport> {
    const m = this.entry(name);
    return this.serialize(m, () => this.doSetup(m, config));
  }

  teardown(name: string): Promise<void> {
    const m = this.entry(name);
    return this.serialize(m, () => this.doTeardown(m));
  }

  private others(name: string): Prepared[] {
    return [...this.ifaces.values()].filter((o) => o.name !== name && o.prepared && (o.phase === 'up' || o.phase === 'setting-up')).map((o) => o.prepared!);
  }

  /** `actual`: our tagged routes/rules as dumped (resync), so what vanished behind our back is put back. */
  private async doSetup(m: Managed, config: Record<string, unknown>, actual?: ApplyOptions['actual']): Promise<InterfaceReport> {
    const log = this.log.child({ iface: m.name });
    this.cancelRetry(m);
    m.phase = 'setting-up';
    m.config = config;
    delete m.error;
    try {
      const prepared = prepare(m.name, config, this.others(m.name));
      m.prepared = prepared;
      this.checkCapabilities(prepared);
      const parent = await this.resolveParent(m, prepared);
      m.offload = await this.checkOffload(prepared, parent?.device);
      const plan = prepared.plan(parent ? { ifindex: parent.index, name: parent.device } : undefined);
      const previous = this.store.load(m.name)?.installed;
      const installed = await applyPlan(this.kernel, plan, {
        previous,
        ...(actual ? { actual } : {}),
        persist: (i) => this.store.save({ name: m.name, config, installed: i }),
        log: (msg, fields) => log.info(fields ?? {}, msg),
      });
      this.store.save({ name: m.name, config, installed });
      m.installed = installed;
      m.parent = parent;
      try {
        await this.netifd.up(m.name, {
          ifname: plan.link.name,
          ipaddr: plan.addresses.filter((a) => a.family === 4).map((a) => ({ address: a.address, prefixLen: a.prefixLen })),
          ip6addr: plan.addresses.filter((a) => a.family === 6).map((a) => ({ address: a.address, prefixLen: a.prefixLen })),
          data: prepared.netifdData(parent),
        });
      } catch (e) {
        // netifd refused the device: take back what we installed.
        await removeInstalled(this.kernel, installed).catch(() => undefined);
        this.store.remove(m.name);
        delete m.installed;
        throw new XfrmdError('NETIFD_ERROR', `netifd refused the update: ${errorText(e)}`, { cause: e, permanent: false });
      }
      m.phase = 'up';
      log.info({ ifindex: installed.link.index, if_id: installed.link.ifId }, 'up');
      return this.report(m);
    } catch (e) {
      // applyPlan rolled back; an intent record it left for a device that is gone must go too.
      const rec = this.store.load(m.name);
      if (rec && !(await devicePresent(this.kernel, rec.installed))) {
        this.store.remove(m.name);
        delete m.installed;
      }
      await this.fail(m, e);
      throw e;
    }
  }

  /** Refuse early, with the fix, what this kernel cannot do (found by the start-up probe). */
  private checkCapabilities(p: Prepared): void {
    const caps = this.capabilities;
    if (!caps) return;
    if (!caps.xfrmInterface) throw new XfrmdError('NO_KERNEL_SUPPORT', caps.hint ?? 'this kernel cannot create XFRM interfaces: install kmod-xfrm-interface');
    if (p.config.external && !caps.collectMetadata) {
      throw new XfrmdError('EXTERNAL_UNSUPPORTED', `option external needs Linux 6.1 or later (collect_md XFRM devices); this kernel is ${caps.kernel}`);
    }
    if (p.offload === 'packet' && !caps.packetOffloadApi) {
      throw new XfrmdError('OFFLOAD_UNSUPPORTED', `offload packet needs Linux 6.2 or later; this kernel is ${caps.kernel}`);
    }
  }

  private async resolveParent(m: Managed, p: Prepared): Promise<Managed['parent']> {
    if (p.tunlink) {
      // Like the stock proto: netifd keeps us unavailable until tunlink is up and
      // sets us up again then — no retry loop of our own needed.
      const reachable = await this.netifd.dependOn(m.name, p.tunlink);
      if (!reachable) throw new XfrmdError('PARENT_DOWN', `tunlink interface ${p.tunlink} is not up yet`, { permanent: false });
      const device = await this.netifd.parentDevice(p.tunlink);
      if (!device) throw new XfrmdError('PARENT_NOT_FOUND', `tunlink interface ${p.tunlink} does not exist in netifd`, { permanent: false });
      const link = await this.kernel.getLink(device);
      if (!link) throw new XfrmdError('PARENT_NOT_FOUND', `device ${device} of tunlink ${p.tunlink} is not present`, { permanent: false });
      return { iface: p.tunlink, device, index: link.index };
    }
    if (p.parentDevice) {
      const link = await this.kernel.getLink(p.parentDevice);
      if (!link) throw new XfrmdError('PARENT_NOT_FOUND', `parent device ${p.parentDevice} is not present`, { permanent: false });
      return { device: p.parentDevice, index: link.index };
    }
    return undefined;
  }

  private async checkOffload(p: Prepared, device: string | undefined): Promise<EspOffload | undefined> {
    if (!device) {
      if (p.offload !== 'off') throw new XfrmdError('OFFLOAD_UNSUPPORTED', `offload ${p.offload} needs a parent device (tunlink or device)`);
      return undefined;
    }
    const features = await this.kernel.espOffload(device).catch(() => undefined);
    if (p.offload !== 'off' && !features?.hwOffload) {
      throw new XfrmdError('OFFLOAD_UNSUPPORTED', `offload ${p.offload} requested but ${device} has no esp-hw-offload`);
    }
    return features;
  }

  /** Report the failure to netifd: permanent ones block restarts, transient ones retry with backoff. */
  private async fail(m: Managed, e: unknown): Promise<void> {
    const err = e instanceof XfrmdError ? e : new XfrmdError('KERNEL_ERROR', errorText(e), { permanent: false });
    const transient = !err.permanent || TRANSIENT_CODES.has(err.code);
    m.error = { code: err.code, message: err.message };
    m.phase = transient ? 'waiting' : 'error';
    this.log.warn({ iface: m.name, code: err.code, transient }, err.message);
    try {
      await this.netifd.error(m.name, err.code, err.message, !transient);
      // PARENT_DOWN: the host dependency already made us unavailable; netifd brings us back.
      if (transient && err.code !== 'PARENT_DOWN') {
        await this.netifd.setAvailable(m.name, false);
        this.scheduleRetry(m);
      }
    } catch (ne) {
      this.log.warn({ iface: m.name }, `could not report to netifd: ${errorText(ne)}`);
      if (transient) this.scheduleRetry(m);
    }
  }

  private scheduleRetry(m: Managed): void {
    const attempt = (m.retry?.attempt ?? 0) + 1;
    this.cancelRetry(m);
    const delay = Math.min(this.retryMs * 2 ** (attempt - 1), this.maxRetryMs);
    const timer = setTimeout(() => void this.retryNow(m.name), delay);
    timer.unref();
    m.retry = { timer, attempt };
  }

  private cancelRetry(m: Managed): void {
    if (m.retry) clearTimeout(m.retry.timer);
    delete m.retry;
  }

  /** Let netifd try again: it sets the interface up if it is still wanted (autostart). */
  async retryNow(name: string): Promise<void> {
    const m = this.ifaces.get(name);
    if (!m || m.phase !== 'waiting') return;
    try {
      await this.netifd.setAvailable(name, true);
    } catch (e) {
      this.log.warn({ iface: name }, `could not make available: ${errorText(e)}`);
      this.scheduleRetry(m);
    }
  }

  private async doTeardown(m: Managed): Promise<void> {
    const log = this.log.child({ iface: m.name });
    const installed = m.installed ?? this.store.load(m.name)?.installed;
    if (installed) {
      await removeInstalled(this.kernel, installed, (msg, fields) => log.info(fields ?? {}, msg));
      this.store.remove(m.name);
    }
    delete m.installed;
    // A transient failure keeps its retry: netifd tears down after we mark it unavailable.
    if (m.phase !== 'waiting') {
      m.phase = 'down';
      delete m.error;
    }
    log.info('down');
  }

  /** Parent interface/device changed (netifd event or link event): re-setup those that follow it. */
  async parentChanged(match: { iface?: string; device?: string }): Promise<void> {
    for (const m of this.ifaces.values()) {
      const p = m.prepared;
      if (!p) continue;
      const follows = (match.iface !== undefined && p.tunlink === match.iface) || (match.device !== undefined && (p.parentDevice === match.device || m.parent?.device === match.device));
      if (!follows) continue;
      if (m.phase === 'waiting') {
        await this.retryNow(m.name);
        continue;
      }
      if (m.phase !== 'up') continue;
      await this.serialize(m, async () => {
        if (m.phase !== 'up' || !p) return;
        const now = await this.resolveParent(m, p).catch(() => undefined);
        if (now && m.parent && now.index === m.parent.index && now.device === m.parent.device) return;
        this.log.info({ iface: m.name, parent: now?.device }, 'parent changed, recreating device');
        await this.doSetup(m, m.config).catch(() => undefined);
      });
    }
  }

  /** Our device disappeared behind our back: tell netifd, and set up again. */
  async deviceLost(ifindex: number): Promise<void> {
    for (const m of this.ifaces.values()) {
      if (m.phase !== 'up' || m.installed?.link.index !== ifindex) continue;
      this.log.warn({ iface: m.name, ifindex }, 'device removed by someone else, recreating');
      await this.serialize(m, () => this.doSetup(m, m.config)).catch(() => undefined);
    }
  }

  /**
   * After a start or a kernel/bus fault: keep what netifd still wants, remove the
   * rest, and drop tagged routes/rules nobody owns (left by a crash mid-setup).
   */
  async resync(wanted: (name: string) => boolean): Promise<{ kept: string[]; removed: string[]; strays: number }> {
    const kept: string[] = [];
    const removed: string[] = [];
    const [routes, rules] = await Promise.all([this.kernel.dumpRoutes(XFRMD_RTPROT), this.kernel.dumpRules(XFRMD_RTPROT)]);
    const owned = new Set<string>();
    const actual = indexActual(routes, rules);
    for (const rec of this.store.all()) {
      if (wanted(rec.name)) {
        kept.push(rec.name);
        const m = this.entry(rec.name);
        try {
          await this.serialize(m, () => this.doSetup(m, rec.config, actual));
        } catch {
          // reported to netifd by doSetup
        }
        const now = this.store.load(rec.name)?.installed;
        for (const r of now?.routes ?? []) owned.add('route|' + routeKey(r));
        for (const r of now?.rules ?? []) owned.add('rule|' + ruleKey(r));
      } else {
        removed.push(rec.name);
        await removeInstalled(this.kernel, rec.installed).catch((e) => this.log.warn({ iface: rec.name }, errorText(e)));
        this.store.remove(rec.name);
      }
    }
    let strays = 0;
    for (const r of rules) {
      if (owned.has('rule|' + ruleKey(r))) continue;
      strays++;
      await this.kernel.deleteRule(r).catch(() => undefined);
    }
    for (const r of routes) {
      if (owned.has('route|' + routeKey(r))) continue;
      strays++;
      await this.kernel.deleteRoute(r).catch(() => undefined);
    }
    this.log.info({ kept, removed, strays }, 'resync done');
    return { kept, removed, strays };
  }

  report(m: Managed): InterfaceReport {
    const i = m.installed;
    const fmtRule = (r: Installed['rules'][number]) =>
      [
        `${r.priority}:`,
        r.invert ? 'not' : '',
        r.src ? `from ${r.src.addr}/${r.src.len}` : '',
        r.dst ? `to ${r.dst.addr}/${r.dst.len}` : '',
        r.fwmark !== undefined ? `fwmark 0x${r.fwmark.toString(16)}/0x${(r.fwmask ?? 0xffffffff).toString(16)}` : '',
        r.action === 'lookup' ? `lookup ${r.table}` : r.action,
      ]
        .filter(Boolean)
        .join(' ');
    const out: InterfaceReport = {
      interface: m.name,
      phase: m.phase,
      addresses: (i?.addresses ?? []).map((a) => `${a.address}/${a.prefixLen}`),
      routes: (i?.routes ?? []).map((r) => `${r.dst}/${r.dstLen} dev ${r.dev ?? '-'} table ${r.table}${r.prefsrc ? ` src ${r.prefsrc}` : ''}`),
      rules: (i?.rules ?? []).map(fmtRule),
    };
    if (m.error) out.error = m.error;
    if (i) {
      out.device = i.link.name;
      out.ifindex = i.link.index;
      out.ifid = i.link.ifId;
    }
    if (m.parent) out.parent = { ...(m.parent.iface ? { interface: m.parent.iface } : {}), device: m.parent.device, ifindex: m.parent.index };
    if (m.prepared) {
      out.offload = { mode: m.prepared.offload };
      if (m.offload) {
        out.offload.esp_hw_offload = m.offload.hwOffload;
        out.offload.esp_tx_csum_hw_offload = m.offload.txCsumOffload;
      }
      if (m.prepared.table !== undefined) out.table = m.prepared.table;
    }
    return out;
  }

  status(name?: string): InterfaceReport[] {
    const list = name === undefined ? [...this.ifaces.values()] : [this.ifaces.get(name)].filter((m): m is Managed => m !== undefined);
    return list.sort((a, b) => a.name.localeCompare(b.name)).map((m) => this.report(m));
  }

  has(name: string): boolean {
    return this.ifaces.has(name);
  }

  close(): void {
    for (const m of this.ifaces.values()) this.cancelRetry(m);
  }
}
