// Multicast events (NEW vs DEL for links, addresses, routes, rules) and the
// request machinery: timeouts, serialized dumps, pipelined batches.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XFRMD_RTPROT, type RouteSpec } from '../../src/model.ts';
import { MessageBuilder } from '../../src/netlink/attrs.ts';
import { Netlink, NetlinkError, type NetlinkEvents } from '../../src/netlink/index.ts';
import { NLMSG_NOOP } from '../../src/netlink/socket.ts';
import { makeNetns, removeNetns } from './netns.ts';

let ns: string;
let nl: Netlink;
let ev: Netlink;
beforeAll(async () => {
  ns = makeNetns('ev');
  nl = Netlink.open({ netns: ns });
  ev = Netlink.open({ netns: ns });
  await ev.subscribe();
});
afterAll(() => {
  nl?.close();
  ev?.close();
  removeNetns(ns);
});

function next<K extends 'link' | 'addr' | 'route' | 'rule'>(kind: K, pred: (e: NetlinkEvents[K][0]) => boolean): Promise<NetlinkEvents[K][0]> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${kind} event`)), 3000);
    const f = (e: NetlinkEvents[K][0]): void => {
      if (!pred(e)) return;
      clearTimeout(t);
      (ev.off as (k: K, l: typeof f) => void)(kind, f);
      resolve(e);
    };
    (ev.on as (k: K, l: typeof f) => void)(kind, f);
  });
}

describe('events', () => {
  it('link NEW, address NEW/DEL, route NEW/DEL, rule NEW/DEL, link DEL', async () => {
    let p: Promise<unknown> = next('link', (e) => e.action === 'new' && e.link.name === 'ev0');
    await nl.createLink('ev0', 'veth', { peer: 'ev1', up: true });
    expect(await p).toMatchObject({ action: 'new', link: { name: 'ev0', kind: 'veth' } });

    p = next('addr', (e) => e.address.address === '192.0.2.1');
    await nl.addAddress({ family: 4, address: '192.0.2.1', prefixLen: 24, dev: 'ev0' });
    expect(await p).toMatchObject({ action: 'new', address: { address: '192.0.2.1', prefixLen: 24, dev: 'ev0' } });

    const r: RouteSpec = { family: 4, dst: '198.51.100.0', dstLen: 24, table: 300, type: 'unicast', dev: 'ev0', protocol: XFRMD_RTPROT };
    p = next('route', (e) => e.route.table === 300 && e.action === 'new');
    await nl.addRoute(r);
    expect(await p).toMatchObject({ action: 'new', route: { ...r } });
    p = next('route', (e) => e.route.table === 300 && e.action === 'del');
    await nl.deleteRoute(r);
    expect(await p).toMatchObject({ action: 'del', route: { dst: '198.51.100.0' } });

    const rule = { family: 4 as const, priority: 77, action: 'lookup' as const, table: 300, fwmark: 5, protocol: XFRMD_RTPROT };
    p = next('rule', (e) => e.rule.priority === 77 && e.action === 'new');
    await nl.addRule(rule);
    expect(await p).toMatchObject({ action: 'new', rule });
    p = next('rule', (e) => e.rule.priority === 77 && e.action === 'del');
    await nl.deleteRule(rule);
    expect(await p).toMatchObject({ action: 'del', rule });

    p = next('addr', (e) => e.action === 'del' && e.address.address === '192.0.2.1');
    await nl.deleteAddress({ family: 4, address: '192.0.2.1', prefixLen: 24, dev: 'ev0' });
    await p;

    p = next('link', (e) => e.action === 'del' && e.link.name === 'ev0');
    await nl.deleteLink('ev0');
    expect(await p).toMatchObject({ action: 'del', link: { name: 'ev0' } });
  });
});

describe('requests', () => {
  it('a request the kernel never answers times out with ETIMEDOUT and the socket stays usable', async () => {
    const t0 = Date.now();
    const e = await nl.rtnl.request(new MessageBuilder(NLMSG_NOOP, 0), 'NLMSG_NOOP', { ack: false, timeoutMs: 150 }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(NetlinkError);
    expect(e).toMatchObject({ code: 'ETIMEDOUT', op: 'NLMSG_NOOP' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect((await nl.getLink('lo'))?.index).toBe(1);
  });

  it('concurrent dumps are serialized (no EBUSY) while other requests are pipelined between them', async () => {
    await nl.createLink('sd0', 'veth', { peer: 'sd1', up: true });
    const adds = Array.from({ length: 300 }, (_, i) => nl.addRule({ family: 4, priority: 1000 + i, action: 'lookup', table: 400, protocol: XFRMD_RTPROT }));
    const dumps = Promise.all([nl.dumpLinks(), nl.dumpRules(), nl.dumpRoutes(), nl.dumpAddresses(), nl.dumpRules({ protocol: XFRMD_RTPROT }), nl.dumpLinks()] as const);
    await Promise.all(adds);
    const [links, , , , , links2] = await dumps;
    expect(links.map((l) => l.name)).toContain('sd0');
    expect(links2.length).toBe(links.length);
    expect(await nl.dumpRules({ protocol: XFRMD_RTPROT })).toHaveLength(300);
  });

  it('a failing request in a pipelined batch fails alone; the others go through', async () => {
    const mk = (i: number): RouteSpec => ({ family: 4, dst: `10.${i >> 8}.${i & 255}.0`, dstLen: 24, table: 500, type: 'unicast', dev: 'sd0', protocol: XFRMD_RTPROT });
    await nl.addRoute(mk(250));
    const res = await Promise.allSettled(Array.from({ length: 500 }, (_, i) => nl.addRoute(mk(i))));
    const failed = res.flatMap((r, i) => (r.status === 'rejected' ? [[i, (r.reason as NetlinkError).code]] : []));
    expect(failed).toEqual([[250, 'EEXIST']]);
    expect(await nl.dumpRoutes({ table: 500 })).toHaveLength(500);
    await Promise.all(Array.from({ length: 500 }, (_, i) => nl.deleteRoute(mk(i))));
    expect(await nl.dumpRoutes({ table: 500 })).toHaveLength(0);
  });

  it('a closed handle rejects with EBADF', async () => {
    const x = Netlink.open({ netns: ns });
    x.close();
    await expect(x.getLink('lo')).rejects.toMatchObject({ code: 'EBADF' });
  });

  it('a namespace that does not exist: ENOENT at open', () => {
    expect(() => Netlink.open({ netns: `xnl-missing-${process.pid}` })).toThrow(expect.objectContaining({ code: 'ENOENT' }) as Error);
  });
});
