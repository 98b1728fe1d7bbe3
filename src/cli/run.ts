// `xfrmd run [-s ubus-socket] [--state-dir DIR]`: the daemon procd starts.
import { createLogger } from '../log.ts';
import { errorText } from '../errors.ts';
import { startDaemon } from '../daemon/daemon.ts';
import type { Capabilities } from '../daemon/probe.ts';
import type { Kernel } from '../reconcile/kernel.ts';
import { openKernel } from '../reconcile/netlink-kernel.ts';
import { loadNative } from '../netlink/native.ts';
import { DEFAULT_SOCKET } from '../ubus/connection.ts';
import { parseArgs } from './args.ts';

export function main(argv: string[]): Promise<number> {
  return runDaemon(argv);
}

/** The daemon's whole life; benchmarks on kernels without XFRM wrap the kernel (test/support/standin-daemon.ts). */
export async function runDaemon(argv: string[], o: { wrapKernel?: (k: Kernel) => Kernel; probe?: () => Promise<Capabilities> } = {}): Promise<number> {
  let a;
  try {
    a = parseArgs(argv, { values: ['-s', '--state-dir'] });
  } catch (e) {
    process.stderr.write(`xfrmd run: ${errorText(e)}\nusage: xfrmd run [-s ubus-socket] [--state-dir DIR]\n`);
    return 2;
  }
  const log = createLogger();
  const k = await openKernel({ events: true, log });
  const daemon = await startDaemon({
    socketPath: a.values.get('-s') ?? DEFAULT_SOCKET,
    stateDir: a.values.get('--state-dir'),
    kernel: o.wrapKernel ? o.wrapKernel(k.kernel) : k.kernel,
    kernelEvents: k.events,
    log,
    releaseMemory: () => void loadNative().releaseFreeMemory(),
    ...(o.probe ? { probe: o.probe } : {}),
  });
  log.info('xfrmd running');
  // The daemon never exits on a fault; only a signal ends it. Kernel state stays
  // for the next start to adopt: netifd, not us, decides when interfaces go down.
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log.info({ sig }, 'stopping');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  daemon.close();
  k.close();
  return 0;
}
