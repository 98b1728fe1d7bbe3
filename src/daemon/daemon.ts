// `xfrmd run`: the long-running protocol handler. It publishes the `xfrmd` object
// the netifd shim calls, turns kernel events about our devices, parents and tagged
// objects into lifecycle events, and resyncs whenever the bus or netifd came back
// or kernel events were lost. It never tears interfaces down on exit: netifd owns
// their lifecycle, and a restarted daemon adopts what is there.
import type { Logger } from '../log.ts';
import type { RouteSpec, RuleSpec } from '../model.ts';
import { errorText } from '../errors.ts';
import { BlobmsgType } from '../ubus/wire.ts';
import { UbusClient } from '../ubus/client.ts';
import { Status, UbusError } from '../ubus/errors.ts';
import type { UbusRequest } from '../ubus/object.ts';
import type { Kernel } from '../reconcile/kernel.ts';
import { StateStore } from '../state/store.ts';
import { InterfaceManager } from './manager.ts';
import { Netifd, type Bus } from './netifd.ts';
import { probeCapabilities, type Capabilities } from './probe.ts';
import { whenQuiet } from './quiet.ts';
import { resync, type ResyncOptions, type ResyncReport } from './resync.ts';

/** What the daemon needs to hear from the kernel (src/reconcile/netlink-kernel.ts provides it). */
export interface KernelEvents {
  onLink(cb: (e: { action: 'new' | 'del'; index: number; name: string; up: boolean }) => void): void;
  /** a route carrying our tag was deleted */
  onRouteDeleted(cb: (r: RouteSpec) => void): void;
  /** a route without our tag was added or replaced */
  onForeignRoute(cb: (r: RouteSpec) => void): void;
  /** an SA or policy changed */
  onXfrm(cb: () => void): void;
  /** a rule carrying our tag was deleted */
  onRuleDeleted(cb: (r: RuleSpec) => void): void;
  /** events were lost: state must be re-read */
  onOverflow(cb: () => void): void;
}

export interface DaemonOptions {
  socketPath?: string;
  stateDir?: string;
  kernel: Kernel;
  kernelEvents?: KernelEvents;
  log: Logger;
  retryMs?: number;
  repairDelayMs?: number;
  resync?: ResyncOptions;
  summaryDelayMs?: number;
  /** what the kernel can do; default: probe it in a private namespace */
  probe?: () => Promise<Capabilities>;
  /** run once the interfaces have been quiet a while after some work (the C heap's free pages
   *  back to the kernel: src/cli/run.ts) */
  releaseMemory?: () => void;
  /** that while; default RELEASE_AFTER_MS */
  releaseAfterMs?: number;
}

export interface Daemon {
  manager: InterfaceManager;
  client: UbusClient;
  /** resolves when the start-up resync is done */
  ready: Promise<ResyncReport | undefined>;
  /** run a resync now (as on a fault) */
  resync(why: string): Promise<ResyncReport | undefined>;
  close(): void;
}

/** How long a teardown call may wait for the teardown before it is answered anyway. */
const TEARDOWN_REPLY_MS = 4000;

/** Quiet time after a burst of interface work before memory is released. */
const RELEASE_AFTER_MS = 3000;

function busOf(client: UbusClient): Bus {
  return {
    call: async (path, method, args, opts) => (await client.call(path, method, args ?? {}, opts ?? {})) as Array<Record<string, unknown>>,
  };
}

export async function startDaemon(o: DaemonOptions): Promise<Daemon> {
  const log = o.log;
  const client = new UbusClient({ socketPath: o.socketPath, reconnect: true, logger: log });
  const netifd = new Netifd(busOf(client));
  const release = o.releaseMemory ? whenQuiet(o.releaseMemory, o.releaseAfterMs ?? RELEASE_AFTER_MS) : undefined;
  const manager = new InterfaceManager({
    kernel: o.kernel,
    netifd,
    store: new StateStore(o.stateDir),
    log,
    ...(o.retryMs !== undefined ? { retryMs: o.retryMs } : {}),
    ...(o.repairDelayMs !== undefined ? { repairDelayMs: o.repairDelayMs } : {}),
    ...(o.summaryDelayMs !== undefined ? { summaryDelayMs: o.summaryDelayMs } : {}),
    ...(release ? { worked: () => release.poke() } : {}),
  });

  const caps = await (o.probe ?? probeCapabilities)();
  manager.capabilities = caps;
  if (caps.xfrmInterface) log.info({ caps }, 'kernel capabilities');
  else log.warn({ caps }, caps.hint ?? 'no XFRM interface support');

  const nameArg = (req: UbusRequest): string => {
    const name = req.args.interface;
    if (typeof name !== 'string' || name === '') throw new UbusError(Status.INVALID_ARGUMENT, 'interface (string) is required');
    return name;
  };
  const allStatus = async () => ({ capabilities: { ...caps }, interfaces: (await manager.status()).map((r) => ({ ...r })) });

  await client.connect();
  // setup answers as soon as the request is queued (the shim is one short process; the dump
  // declares no-proto-task, so netifd waits for our notify instead)
  await client.addObject('xfrmd', {
    setup: {
      policy: { interface: BlobmsgType.STRING, config: BlobmsgType.TABLE },
      handler: (req) => {
        const name = nameArg(req);
        log.debug({ iface: name }, 'setup requested');
        void manager.setup(name, (req.args.config ?? {}) as Record<string, unknown>);
      },
    },
    teardown: {
      policy: { interface: BlobmsgType.STRING },
      // answered once done (or after TEARDOWN_REPLY_MS, within netifd's 5 s for the script):
      // netifd starts the next setup only after this script ends, so an update we sent before
      // reaches netifd ahead of that setup instead of being taken for it
      handler: async (req) => {
        const done = manager.teardown(nameArg(req));
        await Promise.race([done, new Promise((r) => setTimeout(r, TEARDOWN_REPLY_MS).unref())]);
      },
    },
    status: {
      policy: { interface: BlobmsgType.STRING },
      handler: async (req) => {
        const name = req.args.interface;
        if (typeof name !== 'string') return allStatus();
        const [r] = await manager.status(name);
        if (!r) throw new UbusError(Status.NOT_FOUND);
        return { ...r };
      },
    },
    dump: { handler: allStatus },
  });

  const ev = o.kernelEvents;
  ev?.onLink((e) => manager.linkEvent(e));
  ev?.onRouteDeleted((route) => manager.objectDeleted({ route }));
  ev?.onRuleDeleted((rule) => manager.objectDeleted({ rule }));
  ev?.onForeignRoute((route) => manager.foreignRoute(route));
  ev?.onXfrm(() => manager.xfrmChanged());

  let running: Promise<ResyncReport | undefined> | undefined;
  const runResync = (why: string, since?: number): Promise<ResyncReport | undefined> => {
    running ??= resync(manager, why, o.resync, since)
      .catch((e) => {
        log.warn(`resync failed: ${errorText(e)}`);
        return undefined;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };
  ev?.onOverflow(() => {
    log.warn('kernel events were lost: checking every interface');
    manager.eventsLost();
  });
  // netifd (re)started: it sets everything up again (its requests decide for the interfaces they
  // name); what it no longer has is dropped. Not at once: netifd's start is its busiest moment,
  // every setup arrives together, and a resync then only competes with them for the CPU.
  let netifdResync: NodeJS.Timeout | undefined;
  await client.listen('ubus.object.add', (_e, data) => {
    if (data.path !== 'network.interface') return;
    const since = manager.seq;
    clearTimeout(netifdResync);
    netifdResync = setTimeout(() => void runResync('netifd (re)started', since), o.resync?.afterNetifdMs ?? 2000);
    netifdResync.unref();
  });
  client.on('reconnect', () => void runResync('ubus reconnected'));

  const ready = runResync('start');
  return {
    manager,
    client,
    ready,
    resync: runResync,
    close() {
      clearTimeout(netifdResync);
      release?.close();
      manager.close();
      client.close();
    },
  };
}
