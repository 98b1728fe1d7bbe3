// Refusals and edges under the real netifd: what `ifstatus` shows for each, that a refused setup
// leaves the namespace byte for byte as it was and is not retried in a loop, adoption of a
// matching device we did not create (and leaving it at teardown), a rollback halfway, and a
// `parent_device` NIC that is replaced or removed.
import { afterEach, describe, expect, it } from 'vitest';
import { Netlink } from '../../src/netlink/index.ts';
import type { Kernel } from '../../src/reconcile/kernel.ts';
import { Netns } from './lib.ts';
import { NetifdStack, until, type IfStatus } from './netifd-stack.ts';
import { diff, kernelState, ours, type KernelState } from './kernel-state.ts';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
});

/** A router namespace; `before` is taken once netifd runs without our sections (it rewrites the
 *  default rules at its start), then the sections are loaded with a reload. */
async function router(network: string, batch: string[], o: { wrapKernel?: (k: Kernel) => Kernel; retryMs?: number } = {}) {
  const ns = new Netns('xk-edg');
  cleanups.push(() => ns.destroy());
  ns.batch(['link set lo up', ...batch]);
  const nl = Netlink.open({ netns: ns.name });
  cleanups.push(() => nl.close());
  const stack = await NetifdStack.start({ ns, network: '', logName: 'edges', ...o });
  cleanups.push(() => stack.close());
  await until(async () => (await kernelState(nl)).lines.includes('rule prio 0 lookup local proto 0'), 'netifd flushed the rules', 60_000, 200);
  const before = await kernelState(nl);
  stack.writeNetwork(network);
  await stack.reload();
  return { ns, nl, stack, before, state: () => kernelState(nl) };
}

const errorOf = (i: IfStatus | undefined) => i?.errors?.[0];

describe('refusals and edges under the real netifd', () => {
  it('DEVICE_EXISTS, DUPLICATE_IFID (naming the holder), a config error: shown by ifstatus, restart blocked, namespace untouched; a matching device is adopted and left at teardown', async () => {
    const network = `
config interface 'taken'
\toption proto 'xfrm'
\toption ifid '8'
\tlist ipaddr '10.9.1.2/32'

config interface 'dupid'
\toption proto 'xfrm'
\toption ifid '9'
\tlist ipaddr '10.9.2.2/32'

config interface 'bad'
\toption proto 'xfrm'
\toption ifid '7'
\tlist route '10.0.0.0/33'

config interface 'adopt'
\toption proto 'xfrm'
\toption ifid '5'
\toption parent_device 'd0'
\tlist ipaddr '10.9.0.2/32'
\tlist route '10.20.0.0/16'
`;
    const r = await router(network, [
      'link add d0 type dummy',
      'link set d0 up',
      'link add adopt type xfrm dev d0 if_id 5',
      'link add taken type xfrm if_id 16',
      'link add other type xfrm if_id 9',
      // someone else's route, on a device netifd does not touch (netifd claims, and on first
      // sight resets, the parent of every device it is told about: d0 here; see the README)
      'link add d9 type dummy',
      'link set d9 up',
      'route add 10.77.0.0/16 dev d9 table 77',
    ]);
    const d = await r.stack.waitFor('refusals reported, adopt up', (m) => ['taken', 'dupid', 'bad'].every((n) => errorOf(m.get(n)) && !m.get(n)!.pending) && m.get('adopt')?.up === true);
    expect(errorOf(d.get('taken'))).toMatchObject({ subsystem: 'xfrm', code: 'DEVICE_EXISTS' });
    expect(errorOf(d.get('dupid'))).toMatchObject({ code: 'DUPLICATE_IFID' });
    expect(errorOf(d.get('dupid'))?.data?.join(' ')).toContain('other');
    expect(errorOf(d.get('bad'))).toMatchObject({ code: 'INVALID_ROUTE' });
    for (const n of ['taken', 'dupid', 'bad']) expect(d.get(n)?.autostart, n).toBe(false);
    // netifd did not loop: one setup each
    await new Promise((res) => setTimeout(res, 2000));
    for (const n of ['taken', 'dupid', 'bad']) expect((r.stack.netifdLog().match(new RegExp(`Interface '${n}' is setting up now`, 'g')) ?? []).length, n).toBe(1);
    // xfrmd status says the same; the start-up probe found this kernel's XFRM support
    expect(await r.stack.xfrmdStatus('dupid')).toMatchObject({ phase: 'failed', error: { code: 'DUPLICATE_IFID' } });
    expect(await r.stack.call('xfrmd', 'status')).toMatchObject({ capabilities: { xfrmInterface: true, collectMetadata: true, packetOffloadApi: process.env.XFRMD_GUEST_KERNEL === '6.12' } });

    const s = await r.state();
    expect(s.ifindex.get('adopt')).toBe(r.before.ifindex.get('adopt'));
    const mine = ours(s).filter((l) => !l.startsWith('link '));
    expect(mine).toEqual(['route 10.20.0.0/16 dev adopt table main proto 88 src 10.9.0.2']);
    // apart from the adopted device's address and route, nothing changed
    expect(diff(r.before, s)).toEqual({ leaked: ['addr adopt 10.9.0.2/32', 'link adopt xfrm UP mtu 1280 if_id 5 parent d0', 'route 10.20.0.0/16 dev adopt table main proto 88 src 10.9.0.2'], missing: ['link adopt xfrm down mtu 1500 if_id 5 parent d0'] });

    await r.stack.ifdown('adopt');
    await r.stack.waitDown(['adopt']);
    await until(async () => !ours(await r.state()).some((l) => l.includes('proto 88')), 'route removed', 60_000, 250);
    const after = await r.state();
    // the adopted device stays (same ifindex), without what we added; netifd, releasing the parent
    // it claimed (no interface of its own uses d0), set it down (README: parent_device)
    expect(after.ifindex.get('adopt')).toBe(r.before.ifindex.get('adopt'));
    expect(diff(r.before, after)).toEqual({
      leaked: ['link adopt xfrm UP mtu 1280 if_id 5 parent d0', 'link d0 dummy down mtu 1500'],
      missing: ['link adopt xfrm down mtu 1500 if_id 5 parent d0', 'link d0 dummy UP mtu 1500'],
    });
  });

  it('a failure halfway (the 2nd rule refused): rolled back to exactly the namespace before, reported, retried with backoff, then up', async () => {
    let rules = 0;
    const wrap = (k: Kernel): Kernel => {
      const w = Object.create(k) as Kernel;
      w.addRule = (rule) => (++rules === 2 ? Promise.reject(Object.assign(new Error('injected: rule refused'), { code: 'EIO' })) : k.addRule(rule));
      return w;
    };
    const network = `
config interface 'rw'
\toption proto 'xfrm'
\toption ifid '5'
\toption parent_device 'd0'
\tlist ipaddr '10.9.0.2/32'
\tlist ip6addr 'fd09::2/128'
\tlist route '10.20.0.0/16'
\toption full_tunnel '1'
\toption exempt_mark '0x6'
`;
    // a slow retry, so the failed state can be seen before it
    const r = await router(network, ['link add d0 type dummy', 'link set d0 up', 'route add 10.77.0.0/16 dev d0 table 77'], { wrapKernel: wrap, retryMs: 5000 });
    // the first attempt fails: KERNEL_ERROR in ifstatus (after netifd's own NO_DEVICE), unavailable, nothing left.
    // The report is two notifies (the error, then available false): a dump can fall between them.
    const d = await r.stack.waitFor('rw failed and unavailable', (m) => m.get('rw')?.errors?.some((e) => e.code === 'KERNEL_ERROR') === true && m.get('rw')?.available === false, 60_000);
    expect(d.get('rw')?.errors?.find((e) => e.code === 'KERNEL_ERROR')?.data?.join(' ')).toContain('injected');
    const mid = await r.state();
    expect(diff(r.before, mid).leaked).toEqual([]);
    // the retry (rules 3.. go through) brings it up
    await r.stack.waitUp(['rw']);
    await until(async () => ours(await r.state()).filter((l) => l.includes('proto 88')).length === 10, 'all rules and routes', 60_000, 250);
    expect(rules).toBeGreaterThan(2);
  });

  it('parent_device replaced (new ifindex): the device is recreated on it; removed: unavailable (PARENT_GONE) until it is back', async () => {
    const network = `
config interface 'x1'
\toption proto 'xfrm'
\toption ifid '5'
\toption parent_device 'nic0'
\tlist ipaddr '10.9.0.2/32'
\tlist route '10.20.0.0/16'
`;
    const r = await router(network, ['link add nic0 type dummy', 'link set nic0 up']);
    await r.stack.waitUp(['x1']);
    const first = await r.state();
    expect(first.lines).toContain('link x1 xfrm UP mtu 1280 if_id 5 parent nic0');

    r.ns.batch(['link del nic0']);
    // PARENT_GONE, then PARENT_NOT_FOUND while the retries find no nic0
    await r.stack.waitFor('x1 down without its parent', (m) => !m.get('x1')?.up && m.get('x1')?.available === false && (m.get('x1')?.errors ?? []).some((e) => /^PARENT_(GONE|NOT_FOUND)$/.test(e.code)));
    expect(r.stack.daemonLog()).toContain('"code":"PARENT_GONE"');
    await until(async () => !(await r.state()).lines.some((l) => / x1 /.test(l + ' ')), 'nothing of x1 left', 60_000, 250);

    r.ns.batch(['link add nic0 type dummy', 'link set nic0 up']);
    await r.stack.waitUp(['x1']);
    await until(async () => (await r.state()).lines.includes('route 10.20.0.0/16 dev x1 table main proto 88 src 10.9.0.2'), 'x1 back with its route', 60_000, 250);
    const back: KernelState = await r.state();
    expect(back.lines).toContain('link x1 xfrm UP mtu 1280 if_id 5 parent nic0');
    expect(back.ifindex.get('nic0')).not.toBe(first.ifindex.get('nic0'));
  });
});
