// The defect that made us write our own socket addon: a flooded event socket must
// not take the process down. 5000 route changes against a 16 KiB receive buffer:
// the socket reports 'overflow', the caller resyncs with a dump, events go on.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { XFRMD_RTPROT, type RouteSpec } from '../../src/model.ts';
import { Netlink, type RouteEvent } from '../../src/netlink/index.ts';
import { makeNetns, removeNetns } from './netns.ts';

let ns: string;
let nl: Netlink;
let ev: Netlink;
beforeAll(async () => {
  ns = makeNetns('flood');
  nl = Netlink.open({ netns: ns });
  ev = Netlink.open({ netns: ns });
  // the host has no dummy module: a veth stands in
  await nl.createLink('fl0', 'veth', { peer: 'fl1', up: true });
});
afterAll(() => {
  nl?.close();
  ev?.close();
  removeNetns(ns);
});

const N = 5000;
const route = (i: number): RouteSpec => ({ family: 4, dst: `10.${i >> 8}.${i & 255}.0`, dstLen: 24, table: 600, type: 'unicast', dev: 'fl0', protocol: XFRMD_RTPROT });

it(`survives ${N} route changes flooding a small event socket, reports overflow, resyncs and continues`, async () => {
  await ev.subscribe(['route'], { rcvbuf: 16384 });
  let overflows = 0;
  let seen = 0;
  ev.on('overflow', () => overflows++);
  ev.on('route', (e) => {
    if (e.route.table === 600) seen++;
  });

  await Promise.all(Array.from({ length: N }, (_, i) => nl.addRoute(route(i))));
  // let the event socket drain what it kept
  await new Promise((r) => setTimeout(r, 200));
  expect(overflows).toBeGreaterThanOrEqual(1);
  expect(seen).toBeLessThan(N);

  // resync: the dump is the truth
  const now = await ev.dumpRoutes({ protocol: XFRMD_RTPROT, table: 600 });
  expect(now).toHaveLength(N);

  // and events keep coming afterwards
  const next = new Promise<RouteEvent>((resolve) => ev.on('route', (e) => e.route.dst === '10.200.0.0' && resolve(e)));
  await nl.addRoute({ ...route(0), dst: '10.200.0.0' });
  expect(await next).toMatchObject({ action: 'new', route: { dst: '10.200.0.0', table: 600, protocol: XFRMD_RTPROT } });
  console.log(`flood: ${N} routes, ${seen} events delivered, ${overflows} overflow report(s), resync dump ${now.length} routes`);
}, 60_000);
