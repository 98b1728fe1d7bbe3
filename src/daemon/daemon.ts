// `xfrmd run`: the long-running protocol handler. It publishes the `xfrmd`
// object the netifd shim calls, follows parents through netifd's events and
// the kernel's link events, and resyncs whenever the bus or the kernel event
// stream had a fault. It never tears interfaces down on exit: netifd owns their
// lifecycle, and a restarted daemon adopts what is there.
import type { Logger } from '../log.ts';
import { errorText, XfrmdError } from '../errors.ts';
import { BlobmsgType } from '../ubus/wire.ts';
import { UbusClient } from '../ubus/client.ts';
import { Status, UbusError } from '../ubus/errors.ts';
import type { UbusRequest } from '../ubus/object.ts';
import type { Kernel } from '../reconcile/kernel.ts';
import { StateStore } from '../state/store.ts';
import { InterfaceManager } from './manager.ts';
import { Netifd, type Bus } from './netifd.ts';
import { probeCapabilities, type Capabilities } from './probe.ts';

export interface KernelEvents {
  on(event: 'linkNew', cb: (l: { index: number; name: string }) => void): void;
  on(event: 'linkDel', cb: (l: { index: number; name: string }) => void): void;
  /** events were lost: state must be re-read */
  on(event: 'overflow', cb: () => void): void;
}

export interface DaemonOptions {
  socketPath?: string;
  stateDir?: string;
  kernel: Kernel;
  kernelEvents?: KernelEvents;
  log: Logger;
  retryMs?: number;
  /** what the kernel can do; default: probe it in a private namespace */
  probe?: () => Promise<Capabilities>;
}

export interface Daemon {
  manager: InterfaceManager;
  client: UbusClient;
  /** resolves when the initial resync is done */
  ready: Promise<void>;
  close(): void;
}

/** Map an error to the ubus status the shim (and `ubus call xfrmd setup`) sees. */
function toUbusError(e: unknown): UbusError {
  if (e instanceof UbusError) return e;
  if (e instanceof XfrmdError) return new UbusError(e.permanent ? Status.INVALID_ARGUMENT : Status.UNKNOWN_ERROR, `${e.code}: ${e.message}`);
  return new UbusError(Status.UNKNOWN_ERROR, errorText(e));
}

function busOf(client: UbusClient): Bus {
  return {
    call: async (path, method, args, opts) => (await client.call(path, method, args ?? {}, opts ?? {})) as Array<Record<string, unknown>>,
  };
}

export async function startDaemon(o: DaemonOptions): Promise<Daemon> {
  const log = o.log;
  const client = new UbusClient({ socketPath: o.socketPath, reconnect: true, logger: log });
  const netifd = new Netifd(busOf(client));
  const manager = new InterfaceManager({ kernel: o.kernel, netifd, store: new StateStore(o.stateDir), log, retryMs: o.retryMs });

  const caps = await (o.probe ?? probeCapabilities)();
  manager.capabilities = caps;
  if (caps.xfrmInterface) log.info({ caps }, 'kernel capabilities');
  else log.warn({ caps }, caps.hint ?? 'no XFRM interface support');

  const nameArg = (req: UbusRequest): string => {
    const name = req.args.interface;
    if (typeof name !== 'string' || name === '') throw new UbusError(Status.INVALID_ARGUMENT, 'interface (string) is required');
    return name;
  };

  await client.connect();
  await client.addObject('xfrmd', {
    setup: {
      policy: { interface: BlobmsgType.STRING, config: BlobmsgType.TABLE },
      handler: async (req) => {
        const name = nameArg(req);
        const config = (req.args.config ?? {}) as Record<string, unknown>;
        try {
          return { ...(await manager.setup(name, config)) };
        } catch (e) {
          throw toUbusError(e);
        }
      },
    },
    teardown: {
      policy: { interface: BlobmsgType.STRING },
      handler: async (req) => {
        try {
          await manager.teardown(nameArg(req));
        } catch (e) {
          throw toUbusError(e);
        }
      },
    },
    status: {
      policy: { interface: BlobmsgType.STRING },
      handler: (req) => {
        const name = req.args.interface;
        if (typeof name === 'string') {
          const [r] = manager.status(name);
          if (!r) throw new UbusError(Status.NOT_FOUND);
          return { ...r };
        }
        return { capabilities: { ...caps }, interfaces: manager.status().map((r) => ({ ...r })) };
      },
    },
    dump: { handler: () => ({ capabilities: { ...caps }, interfaces: manager.status().map((r) => ({ ...r })) }) },
  });

  // Parent changes: netifd events (ifup/ifdown of a tunlink) and interface updates.
  await client.listen('network.interface', (_ev, data) => {
    const iface = data.interface;
    if (typeof iface === 'string') void manager.parentChanged({ iface }).catch((e) => log.warn(errorText(e)));
  });
  await client
    .subscribe(
      'network.interface',
      (type, req) => {
        const iface = req.data.interface;
        if (type === 'interface.update' && typeof iface === 'string') void manager.parentChanged({ iface }).catch((e) => log.warn(errorText(e)));
      },
      { waitForTarget: true },
    )
    .catch((e) => log.warn(`subscribing to network.interface failed: ${errorText(e)}`));

  o.kernelEvents?.on('linkNew', (l) => void manager.parentChanged({ device: l.name }).catch((e) => log.warn(errorText(e))));
  o.kernelEvents?.on('linkDel', (l) => void manager.deviceLost(l.index).catch((e) => log.warn(errorText(e))));

  let resyncing: Promise<void> | undefined;
  const resync = (why: string): Promise<void> => {
    resyncing ??= (async () => {
      log.info({ why }, 'resync');
      try {
        const ifaces = await netifd.dump();
        await manager.resync((name) => {
          const s = ifaces.get(name);
          return s !== undefined && s.proto === 'xfrm' && (s.up || s.autostart);
        });
        // Interfaces whose setup ran while we were away are blocked; bring them back.
        for (const [name, s] of ifaces) {
          if (s.proto === 'xfrm' && !s.up && s.errors.some((e) => e.code === 'DAEMON_UNAVAILABLE')) {
            log.info({ iface: name }, 'setting up again after daemon start');
            await netifd.ifup(name).catch((e) => log.warn({ iface: name }, errorText(e)));
          }
        }
      } catch (e) {
        log.warn(`resync failed: ${errorText(e)}`);
      } finally {
        resyncing = undefined;
      }
    })();
    return resyncing;
  };
  o.kernelEvents?.on('overflow', () => void resync('kernel events overflowed'));
  // netifd restarted: it sets everything up again; drop what it no longer has.
  await client.listen('ubus.object.add', (_ev, data) => {
    if (data.path === 'network.interface') void resync('netifd (re)started');
  });
  client.on('reconnect', () => void resync('ubus reconnected'));

  const ready = resync('start');
  return {
    manager,
    client,
    ready,
    close() {
      manager.close();
      client.close();
    },
  };
}
