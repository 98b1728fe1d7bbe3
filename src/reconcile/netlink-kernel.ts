// Opens the real kernel for the commands: the reconciler's Kernel over our
// netlink layer, plus the link events the daemon follows parents with.
import type { Logger } from '../log.ts';
import { NetlinkKernel } from '../netlink/kernel.ts';
import { Netlink } from '../netlink/index.ts';
import type { KernelEvents } from '../daemon/daemon.ts';
import type { Kernel } from './kernel.ts';

export interface OpenKernel {
  kernel: Kernel;
  events: KernelEvents | undefined;
  close(): void;
}

export async function openKernel(o: { netns?: string; events?: boolean; log?: Logger } = {}): Promise<OpenKernel> {
  const nl = Netlink.open(o.netns !== undefined ? { netns: o.netns } : {});
  const kernel = new NetlinkKernel(nl);
  let events: KernelEvents | undefined;
  if (o.events) {
    // Only link events: addresses/routes/rules are ours and re-checked on resync.
    await nl.subscribe(['link']);
    nl.on('error', (e) => o.log?.warn(`netlink event socket: ${e.message}`));
    events = {
      on(event: 'linkNew' | 'linkDel' | 'overflow', cb: ((l: { index: number; name: string }) => void) | (() => void)): void {
        if (event === 'overflow') nl.on('overflow', cb as () => void);
        else
          nl.on('link', (e) => {
            if ((e.action === 'new') === (event === 'linkNew')) (cb as (l: { index: number; name: string }) => void)({ index: e.link.index, name: e.link.name });
          });
      },
    } as KernelEvents;
  }
  return { kernel, events, close: () => nl.close() };
}
