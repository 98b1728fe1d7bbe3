// Our rtnetlink layer (src/netlink) against a kernel that has XFRM interfaces: create, dump and
// delete xfrm links with and without a parent, the kernel's refusals with errno and ext-ack text,
// collect_md. Each test works in its own namespace through a socket opened inside it.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isNetlinkError, NetlinkError } from '../../src/netlink/errors.ts';
import { createLink, createXfrmLink, deleteLink, dumpLinks, getLink, setLink } from '../../src/netlink/links.ts';
import { NETLINK_ROUTE, NlSocket } from '../../src/netlink/socket.ts';
import type { XfrmLinkSpec } from '../../src/model.ts';
import { linkShow, Netns } from './lib.ts';

const spec = (name: string, ifId: number, link = 0, extra: Partial<XfrmLinkSpec> = {}): XfrmLinkSpec => ({
  name,
  ifId,
  link,
  collectMetadata: false,
  mtu: 0,
  multicast: false,
  ...extra,
});

async function refusal(p: Promise<unknown>): Promise<NetlinkError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof NetlinkError) return e;
    throw e;
  }
  throw new Error('the kernel accepted it');
}

describe('netlink: xfrm links', () => {
  let ns: Netns;
  let s: NlSocket;
  let parent: number;

  beforeEach(async () => {
    ns = new Netns('xk-nl');
    s = new NlSocket(NETLINK_ROUTE, { netns: ns.name });
    parent = (await createLink(s, 'd0', 'dummy', { up: true })).index;
  });
  afterEach(() => {
    s.close();
    ns.destroy();
  });

  it('creates an xfrm link bound to a parent and reads it back (getLink, dumpLinks, ip)', async () => {
    const l = await createXfrmLink(s, spec('ipsec1', 0x10, parent, { mtu: 1400 }));
    expect(l).toMatchObject({ name: 'ipsec1', kind: 'xfrm', mtu: 1400, up: false });
    expect(l.xfrm).toEqual({ ifId: 0x10, link: parent, collectMetadata: false });

    const dumped = (await dumpLinks(s)).find((x) => x.name === 'ipsec1');
    expect(dumped?.index).toBe(l.index);
    expect(dumped?.xfrm).toEqual(l.xfrm);
    expect((await getLink(s, l.index))?.name).toBe('ipsec1');

    // iproute2 sees the same device
    const ip = linkShow(ns, 'ipsec1');
    expect(ip.link).toBe('d0');
    expect(Number(ip.linkinfo?.info_data?.if_id)).toBe(0x10);
  });

  it('creates one without a parent', async () => {
    const l = await createXfrmLink(s, spec('ipsec2', 2));
    expect(l.xfrm).toEqual({ ifId: 2, link: 0, collectMetadata: false });
    expect(linkShow(ns, 'ipsec2').link ?? null).toBeNull();
  });

  it('sets up, mtu and multicast, then deletes by index', async () => {
    const l = await createXfrmLink(s, spec('ipsec3', 3, parent));
    await setLink(s, l.index, { up: true, mtu: 1380, multicast: true });
    const after = await getLink(s, 'ipsec3');
    expect(after).toMatchObject({ up: true, mtu: 1380, multicast: true });
    await deleteLink(s, l.index);
    expect(await getLink(s, 'ipsec3')).toBeUndefined();
    expect(await getLink(s, l.index)).toBeUndefined();
    expect(ns.tryIp('link', 'show', 'ipsec3').code).not.toBe(0);
  });

  it('if_id 0 is refused with EINVAL and the ext-ack "if_id must be non zero"', async () => {
    const e = await refusal(createXfrmLink(s, spec('ipsec0', 0, parent)));
    expect(e.code).toBe('EINVAL');
    expect(e.errno).toBe(22);
    expect(e.extack).toBe('if_id must be non zero');
    expect(await getLink(s, 'ipsec0')).toBeUndefined();
  });

  it('a second device with the same if_id is EEXIST', async () => {
    await createXfrmLink(s, spec('ipsec1', 7, parent));
    const e = await refusal(createXfrmLink(s, spec('ipsec2', 7)));
    expect(isNetlinkError(e, 'EEXIST')).toBe(true);
    expect(await getLink(s, 'ipsec2')).toBeUndefined();
  });

  it('an existing name is EEXIST (CREATE|EXCL, never adopts silently)', async () => {
    await createXfrmLink(s, spec('ipsec1', 8));
    const e = await refusal(createXfrmLink(s, spec('ipsec1', 9)));
    expect(e.code).toBe('EEXIST');
    expect((await getLink(s, 'ipsec1'))?.xfrm?.ifId).toBe(8);
  });

  it('deleting a missing link is ENODEV', async () => {
    const e = await refusal(deleteLink(s, 'nope0'));
    expect(e.code).toBe('ENODEV');
  });

  it('collect_md ("external"): if_id 0 and no link; one per netns; not with an if_id', async () => {
    const l = await createXfrmLink(s, spec('xfrm-md', 0, 0, { collectMetadata: true }));
    expect(l.xfrm).toEqual({ ifId: 0, link: 0, collectMetadata: true });
    expect(linkShow(ns, 'xfrm-md').linkinfo?.info_data?.external).toBe(true);

    const second = await refusal(createXfrmLink(s, spec('xfrm-md2', 0, 0, { collectMetadata: true })));
    expect(second.code).toBe('EEXIST');

    await deleteLink(s, l.index);
    const withId = await refusal(createXfrmLink(s, spec('xfrm-md3', 5, 0, { collectMetadata: true })));
    expect(withId.code).toBe('EINVAL');
    const withLink = await refusal(createXfrmLink(s, spec('xfrm-md4', 0, parent, { collectMetadata: true })));
    expect(withLink.code).toBe('EINVAL');
  });

  it('a socket opened in one netns does not see another netns', async () => {
    const other = new Netns('xk-nl2');
    const s2 = new NlSocket(NETLINK_ROUTE, { netns: other.name });
    try {
      await createXfrmLink(s, spec('ipsec1', 1));
      expect(await getLink(s2, 'ipsec1')).toBeUndefined();
      // the same if_id is free there
      const l = await createXfrmLink(s2, spec('ipsec1', 1));
      expect(l.xfrm?.ifId).toBe(1);
    } finally {
      s2.close();
      other.destroy();
    }
  });
});
