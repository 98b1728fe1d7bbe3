// A stand-in for netifd's ubus side, for fast host tests of the daemon. It follows
// netifd's proto-ext state machine (proto-ext.c: S_IDLE, S_SETUP, S_SETUP_ABORT,
// S_TEARDOWN) and interface states (IFS_DOWN/SETUP/UP), as read from netifd's
// source and checked against the real one (test/kernel/netifd-*.ktest.ts runs one
// scenario against both):
//  - notify_proto with strict blobmsg types and netifd's status codes; 6
//    (PERMISSION_DENIED) for an update during teardown or an aborted setup;
//  - a device netifd did not know, reported without `address-external`, gets its
//    state cleared (set down, addresses and routes gone: `clearDevice`);
//  - `no-proto-task` (our dump): the script's end is not the end of the setup, the
//    notify is; without it a setup script that exits without one means teardown;
//  - host dependencies: unavailable (and torn down) while the other interface is
//    not up; a dependency going down tears its dependents down (link lost), and
//    netifd sets them up again at once, where their new dependency makes them
//    unavailable until it is back;
//  - action 7 (setup failed) tears down; link-up false marks the link lost;
//  - interface_set_up (ifup, autostart after a teardown) clears the errors and, while the
//    interface is unavailable, records netifd's own NO_DEVICE error instead of setting up;
//  - a failed setup is retried at once, in a tight loop, while autostart is on
//    (capped here so a test cannot hang).
import { BlobmsgType } from '../../src/ubus/wire.ts';
import { Status, UbusError } from '../../src/ubus/errors.ts';
import type { UbusRequest } from '../../src/ubus/object.ts';

type Table = Record<string, unknown>;

export interface BusForNetifd {
  addObject(path: string, methods: Record<string, { policy?: Record<string, BlobmsgType>; handler: (req: UbusRequest) => unknown }>): Promise<unknown>;
  call(path: string, method: string, args?: Table): Promise<unknown>;
  send(event: string, data: Table): Promise<void>;
}

/** interface state as tests see it: IFS_DOWN/SETUP/UP, and 'teardown' while the proto tears down */
export type IfState = 'down' | 'setup' | 'up' | 'teardown';
type ProtoState = 'idle' | 'setup' | 'setup-abort' | 'teardown';

export interface FakeIface {
  name: string;
  proto: string;
  config: Table;
  autostart: boolean;
  available: boolean;
  state: IfState;
  sm: ProtoState;
  device: string | undefined;
  l3Device: string | undefined;
  errors: Array<{ subsystem: string; code: string; data: string[] }>;
  dependsOn: Set<string>;
  ipaddr: Array<{ ipaddr: string; mask: string }>;
  ip6addr: Array<{ ipaddr: string; mask: string }>;
  data: Table;
  setups: number;
  teardowns: number;
  /** every notify_proto this interface received, with the status netifd answered */
  notifications: Array<{ action: number | undefined; fields: Table; status: number }>;
}

const NOTIFY_POLICY: Record<string, BlobmsgType> = {
  interface: BlobmsgType.STRING,
  action: BlobmsgType.INT32,
  'link-up': BlobmsgType.BOOL,
  ifname: BlobmsgType.STRING,
  keep: BlobmsgType.BOOL,
  'address-external': BlobmsgType.BOOL,
  ipaddr: BlobmsgType.ARRAY,
  ip6addr: BlobmsgType.ARRAY,
  data: BlobmsgType.TABLE,
  error: BlobmsgType.ARRAY,
  available: BlobmsgType.BOOL,
  host: BlobmsgType.STRING,
  signal: BlobmsgType.INT32,
  command: BlobmsgType.ARRAY,
};

/** Protocols with a notify hook (proto-shell); others answer NOT_SUPPORTED like `static`. */
const SHELL_PROTOS = new Set(['xfrm']);
const MAX_RETRIES = 40;

export interface FakeNetifdOptions {
  /** the handler's dump flag; ours declares it */
  noProtoTask?: boolean;
  /** what netifd does to a device it first sees without address-external (set down, flush) */
  clearDevice?: (ifname: string) => Promise<void> | void;
}

export class FakeNetifd {
  readonly ifaces = new Map<string, FakeIface>();
  /** devices netifd knows (first claim clears the state of the others) */
  readonly devices = new Set<string>();
  /** how the handler is run: the shim's job, i.e. `ubus call xfrmd setup|teardown` */
  private readonly runHandler: (cmd: 'setup' | 'teardown', iface: FakeIface) => Promise<void>;
  private readonly bus: BusForNetifd;
  private readonly opts: FakeNetifdOptions;
  private started = false;

  constructor(bus: BusForNetifd, runHandler?: (cmd: 'setup' | 'teardown', iface: FakeIface) => Promise<void>, opts: FakeNetifdOptions = {}) {
    this.bus = bus;
    this.opts = { noProtoTask: true, ...opts };
    this.runHandler =
      runHandler ??
      (async (cmd, iface) => {
        const args = cmd === 'setup' ? { interface: iface.name, config: iface.config } : { interface: iface.name };
        await this.bus.call('xfrmd', cmd, args).catch(() => undefined);
      });
  }

  addInterface(name: string, proto: string, config: Table = {}, opts: { autostart?: boolean; device?: string } = {}): FakeIface {
    const f: FakeIface = {
      name,
      proto,
      config: { proto, ...config },
      autostart: opts.autostart ?? true,
      available: true,
      state: 'down',
      sm: 'idle',
      device: opts.device,
      l3Device: undefined,
      errors: [],
      dependsOn: new Set(),
      ipaddr: [],
      ip6addr: [],
      data: {},
      setups: 0,
      teardowns: 0,
      notifications: [],
    };
    this.ifaces.set(name, f);
    if (opts.device) this.devices.add(opts.device);
    if (this.started) void this.publish(f);
    return f;
  }

  async start(): Promise<void> {
    this.started = true;
    const methods = {
      notify_proto: { policy: NOTIFY_POLICY, handler: (req: UbusRequest) => this.notifyProto(this.target(req), req) },
      status: { policy: { interface: BlobmsgType.STRING }, handler: (req: UbusRequest) => this.statusOf(this.target(req)) },
      up: { policy: { interface: BlobmsgType.STRING }, handler: (req: UbusRequest) => void this.ifup(this.target(req).name) },
      down: { policy: { interface: BlobmsgType.STRING }, handler: (req: UbusRequest) => void this.ifdown(this.target(req).name) },
      dump: { handler: () => ({ interface: [...this.ifaces.values()].map((f) => ({ interface: f.name, ...this.statusOf(f) })) }) },
    };
    await this.bus.addObject('network.interface', methods);
    for (const f of this.ifaces.values()) await this.publish(f);
  }

  /** interfaces whose own ubus object answers NOT_FOUND, as while netifd re-registers its objects */
  readonly unregistered = new Set<string>();

  private async publish(f: FakeIface): Promise<void> {
    const bound = (fn: (f: FakeIface, req: UbusRequest) => unknown) => (req: UbusRequest) => {
      if (this.unregistered.has(f.name)) throw new UbusError(Status.NOT_FOUND);
      return fn(f, req);
    };
    await this.bus.addObject(`network.interface.${f.name}`, {
      notify_proto: { policy: NOTIFY_POLICY, handler: bound((f, req) => this.notifyProto(f, req)) },
      status: { handler: bound((f) => this.statusOf(f)) },
      up: { handler: bound((f) => void this.ifup(f.name)) },
      down: { handler: bound((f) => void this.ifdown(f.name)) },
    });
  }

  /** network.interface methods name their interface; missing → INVALID_ARGUMENT, unknown → NOT_FOUND. */
  private target(req: UbusRequest): FakeIface {
    const name = req.args.interface;
    if (typeof name !== 'string') throw new UbusError(Status.INVALID_ARGUMENT);
    const f = this.ifaces.get(name);
    if (!f) throw new UbusError(Status.NOT_FOUND);
    return f;
  }

  statusOf(f: FakeIface): Table {
    const s: Table = {
      up: f.state === 'up',
      pending: f.state === 'setup',
      available: f.available,
      autostart: f.autostart,
      dynamic: false,
      proto: f.proto,
      data: f.data,
    };
    if (f.device) s.device = f.device;
    if (f.state === 'up') {
      s.uptime = 1;
      if (f.l3Device) s.l3_device = f.l3Device;
      s['ipv4-address'] = f.ipaddr.map((a) => ({ address: a.ipaddr, mask: Number(a.mask) }));
      s['ipv6-address'] = f.ip6addr.map((a) => ({ address: a.ipaddr, mask: Number(a.mask) }));
    }
    if (f.errors.length) s.errors = f.errors;
    return s;
  }

  private async notifyProto(f: FakeIface, req: UbusRequest): Promise<void> {
    const status = await this.applyNotify(f, req.args);
    f.notifications.push({ action: typeof req.args.action === 'number' ? req.args.action : undefined, fields: { ...req.args }, status });
    if (status !== Status.OK) throw new UbusError(status);
  }

  private async applyNotify(f: FakeIface, a: Table): Promise<number> {
    if (!SHELL_PROTOS.has(f.proto)) return Status.NOT_SUPPORTED;
    const action = a.action;
    if (typeof action !== 'number') return Status.INVALID_ARGUMENT;
    const refusing = f.sm === 'teardown' || f.sm === 'setup-abort';
    switch (action) {
      case 0: {
        if (refusing) return Status.PERMISSION_DENIED;
        if (typeof a['link-up'] !== 'boolean') return Status.INVALID_ARGUMENT;
        if (!a['link-up']) {
          this.linkLost(f);
          return Status.OK;
        }
        const ifname = typeof a.ifname === 'string' ? a.ifname : f.l3Device;
        if (!ifname) return Status.INVALID_ARGUMENT;
        // device_get(): a device netifd does not know yet is created and its state cleared,
        // unless the handler says it is external (address-external)
        if (!this.devices.has(ifname)) {
          this.devices.add(ifname);
          if (a['address-external'] !== true) await this.opts.clearDevice?.(ifname);
        }
        f.l3Device = ifname;
        f.ipaddr = addrList(a.ipaddr);
        f.ip6addr = addrList(a.ip6addr);
        if (a.data && typeof a.data === 'object') f.data = { ...f.data, ...(a.data as Table) };
        const wasUp = f.state === 'up';
        if (f.state === 'setup') {
          f.state = 'up';
          f.errors = [];
        }
        f.sm = 'idle';
        if (!wasUp && f.state === 'up') {
          void this.bus.send('network.interface', { action: 'ifup', interface: f.name }).catch(() => undefined);
          this.dependencyChanged(f);
        }
        return Status.OK;
      }
      case 3: {
        const list = Array.isArray(a.error) ? a.error.filter((e): e is string => typeof e === 'string') : [];
        if (list.length < 1 || list.length > 15) return Status.INVALID_ARGUMENT;
        f.errors.push({ subsystem: f.proto, code: list[0]!, data: list.slice(1) });
        return Status.OK;
      }
      case 4:
        f.autostart = false;
        return Status.OK;
      case 5: {
        if (typeof a.available !== 'boolean') return Status.INVALID_ARGUMENT;
        this.setAvailable(f, a.available);
        return Status.OK;
      }
      case 6: {
        if (refusing) return Status.PERMISSION_DENIED;
        const other = typeof a.ifname === 'string' ? a.ifname : undefined;
        if (other === undefined && typeof a.host !== 'string') return Status.INVALID_ARGUMENT;
        if (other === undefined) return Status.OK;
        f.dependsOn.add(other);
        const dep = this.ifaces.get(other);
        if (!dep || dep.state !== 'up') {
          // netifd keeps the dependency and makes us unavailable (which tears down) until it is up
          this.setAvailable(f, false);
          return Status.NOT_FOUND;
        }
        return Status.OK;
      }
      case 7:
        if (refusing) return Status.PERMISSION_DENIED;
        if (f.sm === 'idle') this.linkLost(f);
        queueMicrotask(() => void this.teardown(f));
        return Status.OK;
      default:
        return Status.INVALID_ARGUMENT;
    }
  }

  private setAvailable(f: FakeIface, available: boolean): void {
    if (f.available === available) return;
    f.available = available;
    if (!available && f.state !== 'down') void this.teardown(f);
    if (available && f.autostart && f.state === 'down' && f.sm === 'idle') void this.setup(f);
  }

  /** `ifup`: autostart back on, then interface_set_up. */
  async ifup(name: string): Promise<void> {
    const f = this.ifaces.get(name);
    if (!f) return;
    f.autostart = true;
    await this.setUp(f);
  }

  /** interface_set_up(): errors cleared; set up if available, else netifd's own NO_DEVICE error. */
  private async setUp(f: FakeIface): Promise<void> {
    if (f.state !== 'down' || f.sm !== 'idle') return;
    f.errors = [];
    if (f.available) await this.setup(f);
    else f.errors.push({ subsystem: 'interface', code: 'NO_DEVICE', data: [] });
  }

  async ifdown(name: string): Promise<void> {
    const f = this.ifaces.get(name);
    if (!f) return;
    f.autostart = false;
    if (f.state !== 'down') await this.teardown(f);
  }

  /** A non-xfrm interface (a WAN) coming up on a device, e.g. after a PPPoE reconnect. */
  async setStaticUp(name: string, l3Device: string): Promise<void> {
    const f = this.ifaces.get(name);
    if (!f) throw new Error(`no interface ${name}`);
    if (f.state === 'up') await this.setStaticDown(name);
    f.state = 'up';
    f.l3Device = l3Device;
    this.devices.add(l3Device);
    await this.bus.send('network.interface', { action: 'ifup', interface: name });
    this.dependencyChanged(f);
  }

  async setStaticDown(name: string): Promise<void> {
    const f = this.ifaces.get(name);
    if (!f) throw new Error(`no interface ${name}`);
    f.state = 'down';
    delete f.l3Device;
    await this.bus.send('network.interface', { action: 'ifdown', interface: name });
    this.dependencyChanged(f);
  }

  /** proto_ext_if_up_cb / proto_ext_if_down_cb for everyone depending on `dep`. */
  private dependencyChanged(dep: FakeIface): void {
    for (const f of this.ifaces.values()) {
      if (!f.dependsOn.has(dep.name)) continue;
      if (dep.state === 'up') {
        if ([...f.dependsOn].every((d) => this.ifaces.get(d)?.state === 'up')) this.setAvailable(f, true);
      } else if (f.sm === 'idle' && f.state !== 'down') {
        this.linkLost(f);
        void this.teardown(f);
      }
    }
  }

  private async setup(f: FakeIface): Promise<void> {
    if (f.state !== 'down' || f.sm !== 'idle') return;
    f.state = 'setup';
    f.sm = 'setup';
    f.dependsOn.clear();
    f.setups++;
    await this.runHandler('setup', f);
    // The script exited: without no-proto-task and without an update, the setup failed.
    if (!this.opts.noProtoTask && f.sm === 'setup') await this.teardown(f);
  }

  private async teardown(f: FakeIface): Promise<void> {
    if (f.sm === 'teardown' || (f.state === 'down' && f.sm === 'idle')) return;
    const wasUp = f.state === 'up';
    f.sm = 'teardown';
    f.state = 'teardown';
    f.teardowns++;
    await this.runHandler('teardown', f);
    f.sm = 'idle';
    f.state = 'down';
    delete f.l3Device;
    f.ipaddr = [];
    f.ip6addr = [];
    if (wasUp) await this.bus.send('network.interface', { action: 'ifdown', interface: f.name }).catch(() => undefined);
    this.dependencyChanged(f);
    // netifd sets an interface up again at once while autostart is on (a failed one too: the tight loop)
    if (f.autostart && f.setups < MAX_RETRIES) queueMicrotask(() => void this.setUp(f));
  }

  /** IFPEV_LINK_LOST: an interface that is up goes back to setting up. */
  private linkLost(f: FakeIface): void {
    if (f.state !== 'up') return;
    f.state = 'setup';
    void this.bus.send('network.interface', { action: 'ifdown', interface: f.name }).catch(() => undefined);
    this.dependencyChanged(f);
  }
}

function addrList(v: unknown): Array<{ ipaddr: string; mask: string }> {
  if (!Array.isArray(v)) return [];
  return v.flatMap((e: unknown) => {
    if (typeof e !== 'object' || e === null) return [];
    const r = e as Table;
    return typeof r.ipaddr === 'string' && typeof r.mask === 'string' ? [{ ipaddr: r.ipaddr, mask: r.mask }] : [];
  });
}
