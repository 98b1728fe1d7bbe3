// Talking to netifd as a protocol handler does: notify_proto actions, interface
// status, and the parent's L3 device. Types on the wire are strict (ubus-wire.md
// §6.3): integers must be INT32, booleans INT8, masks strings — plain JS numbers,
// booleans and strings map to exactly those.

/** The part of a ubus connection this module needs. */
export interface Bus {
  call(path: string, method: string, args?: Record<string, BusValue>, opts?: { timeoutMs?: number }): Promise<Array<Record<string, unknown>>>;
}
export type BusValue = string | number | boolean | null | BusValue[] | { [k: string]: BusValue };

export const NOTIFY = {
  UPDATE: 0,
  ERROR: 3,
  BLOCK_RESTART: 4,
  SET_AVAILABLE: 5,
  HOST_DEPENDENCY: 6,
  SETUP_FAILED: 7,
} as const;

/** netifd answers 6 (PERMISSION_DENIED) to a notify while it tears the interface down. */
export function isTeardownRefusal(e: unknown): boolean {
  return statusOf(e) === 6;
}

/** The call never reached netifd: no bus (CONNECTION_FAILED), no netifd on it (NOT_FOUND), no answer (TIMEOUT). */
export function isUnreachable(e: unknown): boolean {
  const s = statusOf(e);
  return s === 10 || s === 4 || s === 7;
}

function statusOf(e: unknown): number | undefined {
  return typeof e === 'object' && e !== null && typeof (e as { status?: unknown }).status === 'number' ? (e as { status: number }).status : undefined;
}

export interface IfaceUp {
  ifname: string;
  ipaddr: Array<{ address: string; prefixLen: number }>;
  ip6addr: Array<{ address: string; prefixLen: number }>;
  data: Record<string, BusValue>;
  /** an update of an interface that is up: netifd keeps its device claim */
  keep?: boolean;
}

export interface InterfaceStatus {
  up: boolean;
  /** netifd is setting it up (waiting for the handler's notify) */
  pending: boolean;
  available: boolean;
  autostart: boolean;
  proto: string | undefined;
  device: string | undefined;
  l3Device: string | undefined;
  errors: Array<{ code: string; data: string[] }>;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function parseStatus(t: Record<string, unknown>): InterfaceStatus {
  const errors = Array.isArray(t.errors)
    ? t.errors.flatMap((e: unknown) => {
        if (typeof e !== 'object' || e === null) return [];
        const rec = e as Record<string, unknown>;
        const code = str(rec.code);
        return code ? [{ code, data: Array.isArray(rec.data) ? rec.data.filter((d): d is string => typeof d === 'string') : [] }] : [];
      })
    : [];
  return {
    up: t.up === true,
    pending: t.pending === true,
    available: t.available !== false,
    autostart: t.autostart !== false,
    proto: str(t.proto),
    device: str(t.device),
    l3Device: str(t.l3_device),
    errors,
  };
}

export class Netifd {
  constructor(private readonly bus: Bus) {}

  private notify(iface: string, action: number, fields: Record<string, BusValue> = {}) {
    return this.bus.call('network.interface', 'notify_proto', { action, ...fields, interface: iface });
  }

  /**
   * action 0: the interface is up on `ifname` with these addresses. `address-external`:
   * netifd then treats the device (and the addresses, which we install) as external and
   * leaves the link alone. Without it netifd sets a device it did not know down when it
   * first sees it, which drops every route through it, and down again on every ifdown.
   */
  async up(iface: string, u: IfaceUp): Promise<void> {
    await this.notify(iface, NOTIFY.UPDATE, {
      ifname: u.ifname,
      'link-up': true,
      'address-external': true,
      ...(u.keep ? { keep: true } : {}),
      ipaddr: u.ipaddr.map((a) => ({ ipaddr: a.address, mask: String(a.prefixLen) })),
      ip6addr: u.ip6addr.map((a) => ({ ipaddr: a.address, mask: String(a.prefixLen) })),
      data: u.data,
    });
  }

  /** action 0 with link-up false: the device went away under us. */
  async linkLost(iface: string): Promise<void> {
    await this.notify(iface, NOTIFY.UPDATE, { 'link-up': false });
  }

  /** action 3 (+4 when a retry cannot help): shown by `ifstatus` as errors[]. */
  async error(iface: string, code: string, message: string, permanent: boolean): Promise<void> {
    // netifd keeps at most 15 entries; ours are code + one sentence.
    await this.notify(iface, NOTIFY.ERROR, { error: [code, message] });
    if (permanent) await this.notify(iface, NOTIFY.BLOCK_RESTART);
  }

  /** action 5: an unavailable interface is not set up again until made available. */
  async setAvailable(iface: string, available: boolean): Promise<void> {
    await this.notify(iface, NOTIFY.SET_AVAILABLE, { available });
  }

  /** action 6 with an interface name; false if it is not up right now (netifd keeps the dependency). */
  async dependOn(iface: string, other: string): Promise<boolean> {
    try {
      await this.notify(iface, NOTIFY.HOST_DEPENDENCY, { ifname: other });
      return true;
    } catch (e) {
      if (statusOf(e) === 4) return false;
      throw e;
    }
  }

  /** action 7: the setup failed. netifd tears the interface down and, with autostart, sets it up
   *  again: how a restarted daemon gets a setup request it lost. */
  async setupFailed(iface: string): Promise<void> {
    await this.notify(iface, NOTIFY.SETUP_FAILED);
  }

  async status(iface: string): Promise<InterfaceStatus | undefined> {
    try {
      const [t] = await this.bus.call(`network.interface.${iface}`, 'status', {});
      return t ? parseStatus(t) : undefined;
    } catch (e) {
      if (statusOf(e) === 4) return undefined;
      throw e;
    }
  }

  /** netifd's rule for a parent: l3_device while up, else the main device. */
  async parentDevice(iface: string): Promise<string | undefined> {
    const s = await this.status(iface);
    if (!s) return undefined;
    return s.up ? (s.l3Device ?? s.device) : s.device;
  }

  /** All interfaces (network.interface dump), keyed by name. */
  async dump(): Promise<Map<string, InterfaceStatus>> {
    const [t] = await this.bus.call('network.interface', 'dump', {});
    const out = new Map<string, InterfaceStatus>();
    const list = t && Array.isArray(t.interface) ? t.interface : [];
    for (const item of list) {
      if (typeof item !== 'object' || item === null) continue;
      const rec = item as Record<string, unknown>;
      const name = str(rec.interface);
      if (name) out.set(name, parseStatus(rec));
    }
    return out;
  }

  /** `ifup`: used at daemon start for interfaces that failed while we were away. */
  async ifup(iface: string): Promise<void> {
    await this.bus.call(`network.interface.${iface}`, 'up', {});
  }
}
