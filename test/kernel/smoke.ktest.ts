// The harness itself: the right kernel booted, XFRM interfaces exist, the modules are loaded.
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { inGuest, linkShow, Netns } from './lib.ts';

describe('guest kernel', () => {
  it('runs inside the guest on the kernel that was asked for', () => {
    expect(inGuest).toBe(true);
    const flavour = process.env.XFRMD_GUEST_KERNEL ?? '';
    expect(['6.1', '6.12']).toContain(flavour);
    expect(release()).toBe(process.env.XFRMD_GUEST_KERNEL_RELEASE);
    expect(release().startsWith(`${flavour}.`)).toBe(true);
  });

  it('has the XFRM, ESP, veth and dummy modules loaded (dummy without a stray dummy0)', () => {
    const mods = readFileSync('/proc/modules', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[0]);
    for (const m of ['xfrm_interface', 'esp4', 'esp6', 'xfrm_user', 'veth', 'dummy']) expect(mods).toContain(m);
    expect(readFileSync('/proc/sys/kernel/modprobe', 'utf8').trim()).toBe('/run/xfrmd/modprobe');
  });

  describe('in a fresh netns', () => {
    const ns = new Netns('xk-smoke');
    afterAll(() => ns.destroy());

    it('has only lo', () => {
      const links = JSON.parse(ns.ip('-j', 'link', 'show')) as { ifname: string }[];
      expect(links.map((l) => l.ifname)).toEqual(['lo']);
    });

    it('creates an xfrm interface with ip link add x type xfrm if_id 1', () => {
      ns.ip('link', 'add', 'x', 'type', 'xfrm', 'if_id', '1');
      const l = linkShow(ns, 'x');
      expect(l.linkinfo?.info_kind).toBe('xfrm');
      // iproute2 prints if_id as a string ("0x1").
      expect(Number(l.linkinfo?.info_data?.if_id)).toBe(1);
      ns.ip('link', 'del', 'x');
    });
  });
});
