// Kernel behaviour of XFRM interfaces that xfrmd relies on, observed through iproute2 (the same
// facts are checked through our own netlink layer in netlink-*.ktest.ts).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { linkShow, Netns } from './lib.ts';

describe('xfrm links (iproute2)', () => {
  let ns: Netns;
  beforeEach(() => {
    ns = new Netns('xk-link');
    ns.batch(['link add d0 type dummy', 'link set d0 up']);
  });
  afterEach(() => ns.destroy());

  it('creates one bound to a parent and one without', () => {
    ns.batch(['link add ipsec1 type xfrm dev d0 if_id 1', 'link add ipsec2 type xfrm if_id 2']);
    const bound = linkShow(ns, 'ipsec1');
    expect(bound.link).toBe('d0');
    expect(Number(bound.linkinfo?.info_data?.if_id)).toBe(1);
    const free = linkShow(ns, 'ipsec2');
    expect(free.link ?? null).toBeNull();
    expect(Number(free.linkinfo?.info_data?.if_id)).toBe(2);
  });

  it('refuses if_id 0 with the ext-ack "if_id must be non zero"', () => {
    // iproute2 rejects "if_id 0" itself; without if_id it sends none and the kernel answers.
    const r = ns.tryIp('link', 'add', 'ipsec0', 'type', 'xfrm');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('if_id must be non zero');
    expect(ns.tryIp('link', 'show', 'ipsec0').code).not.toBe(0);
  });

  it('refuses a second device with the same if_id in a netns (EEXIST)', () => {
    ns.ip('link', 'add', 'ipsec1', 'type', 'xfrm', 'if_id', '7');
    const r = ns.tryIp('link', 'add', 'ipsec2', 'type', 'xfrm', 'dev', 'd0', 'if_id', '7');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('File exists');
  });

  it('allows the same if_id in another netns', () => {
    const other = new Netns('xk-link2');
    try {
      ns.ip('link', 'add', 'ipsec1', 'type', 'xfrm', 'if_id', '7');
      other.ip('link', 'add', 'ipsec1', 'type', 'xfrm', 'if_id', '7');
      expect(Number(linkShow(other, 'ipsec1').linkinfo?.info_data?.if_id)).toBe(7);
    } finally {
      other.destroy();
    }
  });

  it('cannot move a device to another parent with changelink', () => {
    ns.ip('link', 'add', 'ipsec1', 'type', 'xfrm', 'dev', 'd0', 'if_id', '3');
    const r = ns.tryIp('link', 'set', 'ipsec1', 'type', 'xfrm', 'dev', 'lo', 'if_id', '3');
    expect(r.code).not.toBe(0);
    expect(linkShow(ns, 'ipsec1').link).toBe('d0');
  });

  it('keeps the device with a dangling link when the parent goes away', () => {
    ns.ip('link', 'add', 'ipsec1', 'type', 'xfrm', 'dev', 'd0', 'if_id', '3');
    ns.ip('link', 'del', 'd0');
    const l = linkShow(ns, 'ipsec1');
    expect(l.linkinfo?.info_kind).toBe('xfrm');
    expect(l.link).toMatch(/^if\d+$/); // ipsec1@ifN: the old parent index no longer resolves
  });

  it('collect_md ("external"): one per netns, no if_id, no link', () => {
    ns.ip('link', 'add', 'xe', 'type', 'xfrm', 'external');
    expect(linkShow(ns, 'xe').linkinfo?.info_data?.external).toBe(true);
    const second = ns.tryIp('link', 'add', 'xe2', 'type', 'xfrm', 'external');
    expect(second.code).not.toBe(0);
    expect(second.stderr).toContain('File exists');
  });
});
