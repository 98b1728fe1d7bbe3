// A stand-in for netifd's ubus side, for integration tests of the daemon. It
// behaves as spec/netifd-handler.md and the h_*/v_*/i_* captures show:
// network.interface and network.interface.<name> objects, notify_proto with
// strict blobmsg types and netifd's status codes, status/dump replies, the
// `network.interface` ifup/ifdown events, host dependencies, availability,
// and — the part that bites — a failed setup is retried at once, in a tight
// loop, while autostart is on (capped here so a test cannot hang).
import { BlobmsgType } from '../../src/ubus/wire.ts';
import { Status, UbusError } from '../../src/ubus/errors.ts';
import type { UbusRequest } from '../../src/ubus/object.ts';

type Table = Record<string, unknown>;

export interface BusForNetifd {
  addObject(path: string, methods: Record<string, { policy?: Record<string, BlobmsgType>; handler: (req: UbusRequest) => unknown }>): Promise<unknown>;
  call(path: string, method: string, args?: Table): Promise<unknown>;
  send(event: string, data: Table): Promise<void>;
}

export type IfState = 'down' | 'setup' | 'up' | 'teardown';

export interface FakeIface {
  name: string;
  proto: string;
  config: Table;
  autostart: boolean;
  available: boolean;
  state: IfState;
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

export class FakeNetifd {
  readonly ifaces = new Map<string, FakeIface>();
  /** how the handler is run: the shim's job, i.e. `ubus call xfrmd setup|teardown` */
  private readonly runHandler: (cmd: 'setup' | 'teardown', iface: FakeIface) => Promise<void>;
  private readonly bus: BusForNetifd;
  private started = false;

  constructor(bus: BusForNetifd, runHandler?: (cmd: 'setup' | 'teardown', iface: FakeIface) => Promise<void>) {
    this.bus = bus;
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

  private async publish(f: FakeIface): Promise<void> {
    const bound = (fn: (f: FakeIface, req: UbusRequest) => unknown) => (req: UbusRequest) => fn(f, req);
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

  private notifyProto(f: FakeIface, req: UbusRequest): void {
    const status = this.applyNotify(f, req.args);
    f.notifications.push({ action: typeof req.args.action === 'number' ? req.args.action : undefined, fields: { ...req.args }, status });
    if (status !== Status.OK) throw new UbusError(status);
  }

  private applyNotify(f: FakeIface, a: Table): number {
    if (!SHELL_PROTOS.has(f.proto)) return Status.NOT_SUPPORTED;
    const action = a.action;
    if (typeof action !== 'number') return Status.INVALID_ARGUMENT;
    switch (action) {
      case 0: {
        if (f.state === 'teardown') return Status.PERMISSION_DENIED;
        if (typeof a['link-up'] !== 'boolean') return Status.INVALID_ARGUMENT;
        if (!a['link-up']) {
          if (f.state === 'up') queueMicrotask(() => void this.linkLost(f));
          return Status.OK;
        }
        f.l3Device = typeof a.ifname === 'string' ? a.ifname : f.l3Device;
        if (!f.l3Device) return Status.INVALID_ARGUMENT;
        f.ipaddr = addrList(a.ipaddr);
        f.ip6addr = addrList(a.ip6addr);
        if (a.data && typeof a.data === 'object') f.data = { ...f.data, ...(a.data as Table) };
        const wasUp = f.state === 'up';
        f.state = 'up';
        f.errors = [];
        if (!wasUp) void this.bus.send('network.interface', { action: 'ifup', interface: f.name }).catch(() => undefined);
        void this.dependentsChanged(f);
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
        const other = typeof a.ifname === 'string' ? a.ifname : undefined;
        if (other === undefined && typeof a.host !== 'string') return Status.INVALID_ARGUMENT;
        if (other === undefined) return Status.OK;
        f.dependsOn.add(other);
        const dep = this.ifaces.get(other);
        if (!dep || dep.state !== 'up') {
          // netifd keeps the dependency and makes us unavailable until it is up.
          queueMicrotask(() => this.setAvailable(f, false));
          return Status.NOT_FOUND;
        }
        return Status.OK;
      }
      case 7:
        if (f.state === 'teardown') return Status.PERMISSION_DENIED;
        queueMicrotask(() => void this.teardown(f));
        return Status.OK;
      default:
        return Status.INVALID_ARGUMENT;
    }
  }

  private setAvailable(f: FakeIface, available: boolean): void {
    f.available = available;
    if (!available && (f.state === 'up' || f.state === 'setup')) void this.teardown(f);
    if (available && f.autostart && f.state === 'down') void this.setup(f);
  }

  /** `ifup`: autostart back on, errors cleared, set up. */
  async ifup(name: string): Promise<void> {
    const f = this.ifaces.get(name);
    if (!f) return;
    f.autostart = true;
    f.errors = [];
    if (f.state === 'down' && f.available) await this.setup(f);
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
    f.state = 'up';
    f.l3Device = l3Device;
    await this.bus.send('network.interface', { action: 'ifup', interface: name });
    await this.dependentsChanged(f);
  }

  async setStaticDown(name: string): Promise<void> {
    const f = this.ifaces.get(name);
    if (!f) throw new Error(`no interface ${name}`);
    f.state = 'down';
    delete f.l3Device;
    await this.bus.send('network.interface', { action: 'ifdown', interface: name });
    await this.dependentsChanged(f);
  }

  private async dependentsChanged(dep: FakeIface): Promise<void> {
    for (const f of this.ifaces.values()) {
      if (f.dependsOn.has(dep.name)) this.setAvailable(f, dep.state === 'up');
    }
  }

  private async setup(f: FakeIface): Promise<void> {
    if (f.state !== 'down') return;
    f.state = 'setup';
    f.setups++;
    await this.runHandler('setup', f);
    // The script exited: without an update with link-up the setup failed.
    if (f.state === 'setup') await this.teardown(f);
  }

  private async teardown(f: FakeIface): Promise<void> {
    if (f.state === 'down' || f.state === 'teardown') return;
    const wasUp = f.state === 'up';
    f.state = 'teardown';
    f.teardowns++;
    await this.runHandler('teardown', f);
    f.state = 'down';
    delete f.l3Device;
    f.ipaddr = [];
    f.ip6addr = [];
    if (wasUp) await this.bus.send('network.interface', { action: 'ifdown', interface: f.name }).catch(() => undefined);
    await this.dependentsChanged(f);
    // netifd restarts a failed interface at once while autostart is on.
    if (f.autostart && f.available && f.setups < MAX_RETRIES) queueMicrotask(() => void this.setup(f));
  }

  private async linkLost(f: FakeIface): Promise<void> {
    await this.teardown(f);
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
