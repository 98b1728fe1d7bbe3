// Found while benchmarking the reconciler at scale (bench/scale.ts): a per-device
// address dump must not cost a dump of every link.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Netlink } from '../../src/netlink/index.ts';

let ns: string;
let nl: Netlink;
beforeAll(async () => {
  ns = `xrc-nlbug-${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  nl = Netlink.open({ netns: ns });
  await nl.createLink('v0', 'veth', { peer: 'v1' });
});
afterAll(() => {
  nl?.close();
  execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
});

// Netlink.dumpAddresses(dev) starts with `await this.dumpLinks()` (to refresh the name cache)
// before the RTM_GETADDR dump, so each call costs a dump of every link in the namespace: the
// reconciler calls it once per interface, and bringing up N interfaces was O(N^2) (N=1000:
// 116 s, of which ~10 s in sendBatch/kernel and ~5 s in decodeLink for the link dumps).
// Fixed: the layer resolves the one device (RTM_GETLINK) and dumps only its addresses.
it('dumpAddresses(ifindex) makes one dump, not a dump of all links first', async () => {
  const v0 = await nl.getLink('v0');
  const sock = nl.rtnl;
  const ops: string[] = [];
  const dump = sock.dump.bind(sock);
  sock.dump = ((msg, op, opts) => {
    ops.push(typeof op === 'string' ? op : op());
    return dump(msg, op, opts);
  }) as typeof sock.dump;
  try {
    await nl.dumpAddresses(v0!.index);
  } finally {
    sock.dump = dump;
  }
  expect(ops).toEqual([expect.stringMatching(/^RTM_GETADDR/) as string]);
});
