// Opens the real kernel for the commands: the reconciler's Kernel over our
// netlink layer, plus the link events the daemon follows parents with.
import type { Logger } from '../log.ts';
import { XFRMD_RTPROT } from '../model.ts';
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
    // links: our devices and parents; routes and rules: deletions of our tagged ones, and
    // other programs' routes (one may have replaced ours)
    await nl.subscribe(['link', 'route', 'rule']);
    // SA changes: the summary in netifd's data
    nl.subscribeXfrm();
    nl.on('error', (e) => o.log?.warn(`netlink event socket: ${e.message}`));
    events = {
      onLink: (cb) => nl.on('link', (e) => cb({ action: e.action, index: e.link.index, name: e.link.name, up: e.link.up })),
      onRouteDeleted: (cb) =>
        nl.on('route', (e) => {
          if (e.action !== 'del' || e.route.protocol !== XFRMD_RTPROT) return;
          const { oif: _oif, scope: _scope, ...r } = e.route;
          cb(r);
        }),
      onRuleDeleted: (cb) => nl.on('rule', (e) => e.action === 'del' && e.rule.protocol === XFRMD_RTPROT && cb(e.rule)),
      onForeignRoute: (cb) =>
        nl.on('route', (e) => {
          if (e.action !== 'new' || e.route.protocol === XFRMD_RTPROT) return;
          const { oif: _oif, scope: _scope, ...r } = e.route;
          cb(r);
        }),
      onXfrm: (cb) => nl.on('xfrm', () => cb()),
      onOverflow: (cb) => nl.on('overflow', cb),
    };
  }
  return { kernel, events, close: () => nl.close() };
}
