import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netlink } from '../../src/netlink/index.ts';
import { ipn, makeNetns, rejection, removeNetns } from './netns.ts';

let ns: string;
let nl: Netlink;
beforeAll(() => {
  ns = makeNetns('links');
  nl = Netlink.open({ netns: ns });
});
afterAll(() => {
  nl?.close();
  removeNetns(ns);
});

describe('links in a namespace', () => {
  it('creates a veth pair, looks it up by name and index, sees kind and operstate', async () => {
    const a = await nl.createLink('va0', 'veth', { peer: 'vb0' });
    expect(a).toMatchObject({ name: 'va0', kind: 'veth', up: false, mtu: 1500 });
    const b = await nl.getLink('vb0');
    expect(b?.parent).toBe(a.index);
    expect((await nl.getLink(a.index))?.name).toBe('va0');
    expect(await nl.ifindex('va0')).toBe(a.index);
    expect(ipn(ns, '-d', 'link', 'show', 'va0')).toContain('veth');
  });

  it('sets up/down and MTU, and reads them back', async () => {
    await nl.setLinkUp('va0');
    await nl.setLinkUp('vb0');
    await nl.setMtu('va0', 1400);
    const a = await nl.getLink('va0');
    expect(a).toMatchObject({ up: true, mtu: 1400, operstate: 'up' });
    await nl.setLink('va0', { up: false, multicast: false });
    expect(await nl.getLink('va0')).toMatchObject({ up: false, multicast: false, operstate: 'down' });
  });

  it('dumps every link', async () => {
    const names = (await nl.dumpLinks()).map((l) => l.name).sort();
    expect(names).toEqual(['lo', 'va0', 'vb0']);
  });

  it('refuses a duplicate name with EEXIST', async () => {
    const e = await rejection(nl.createLink('va0', 'veth', { peer: 'vc0' }));
    expect(e).toMatchObject({ code: 'EEXIST', errno: 17 });
    expect(e.op).toContain('va0');
  });

  it('creating kind "xfrm" on this kernel: EOPNOTSUPP with the kernel text "Unknown device type"', async () => {
    const e = await rejection(nl.createXfrmLink({ name: 'ipsec1', ifId: 1, link: 0, collectMetadata: false, mtu: 1400, multicast: false }));
    expect(e.code).toBe('EOPNOTSUPP');
    expect(e.errno).toBe(95);
    expect(e.extack).toBe('Unknown device type');
    expect(e.message).toContain('Unknown device type');
  });

  it('deletes by name and by index; a missing link is undefined / ENODEV', async () => {
    const c = await nl.createLink('vx0', 'veth', { peer: 'vy0' });
    await nl.deleteLink(c.index);
    expect(await nl.getLink('vx0')).toBeUndefined();
    expect(await nl.getLink('vy0')).toBeUndefined();
    expect((await rejection(nl.deleteLink('vx0'))).code).toBe('ENODEV');
    await nl.createLink('vx1', 'veth', { peer: 'vy1' });
    await nl.deleteLink('vx1');
    expect(await nl.getLink('vx1')).toBeUndefined();
  });
});
