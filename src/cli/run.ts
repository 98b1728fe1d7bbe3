// `xfrmd run [-s ubus-socket] [--state-dir DIR]`: the daemon procd starts.
import { createLogger } from '../log.ts';
import { errorText } from '../errors.ts';
import { startDaemon } from '../daemon/daemon.ts';
import { openKernel } from '../reconcile/netlink-kernel.ts';
import { DEFAULT_SOCKET } from '../ubus/connection.ts';
import { parseArgs } from './args.ts';

export async function main(argv: string[]): Promise<number> {
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
    kernel: k.kernel,
    kernelEvents: k.events,
    log,
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
