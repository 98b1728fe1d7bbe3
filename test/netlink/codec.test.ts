// The codec without a kernel: addresses, attributes, nests, error payloads.
import { describe, expect, it } from 'vitest';
import { Attrs, MessageBuilder, NLA_F_NESTED, splitMessages } from '../../src/netlink/attrs.ts';
import { r16, w16, w32, wi32 } from '../../src/netlink/host.ts';
import { bytesToIp, ipToBytes } from '../../src/netlink/ip.ts';
import { NLMSG_ERROR, parseError } from '../../src/netlink/socket.ts';
import { addressMessage, decodeAddress, RTM_NEWADDR } from '../../src/netlink/addresses.ts';
import { decodeLink, xfrmLinkMessage } from '../../src/netlink/links.ts';
import { decodeRoute, routeMessage, RTM_NEWROUTE } from '../../src/netlink/routes.ts';
import { decodeRule, ruleMessage, RTM_NEWRULE } from '../../src/netlink/rules.ts';
import type { RouteSpec, RuleSpec } from '../../src/model.ts';

describe('addresses', () => {
  it.each([
    ['10.1.2.3', '10.1.2.3'],
    ['::', '::'],
    ['fd00::1', 'fd00::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    // IPv4-mapped as inet_ntop (and ip(8), and the planner) print it
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
  ])('%s → bytes → %s', (a, b) => {
    expect(bytesToIp(ipToBytes(a))).toBe(b);
  });
  it('refuses what is not an address', () => {
    expect(() => ipToBytes('10.1.2.300')).toThrow(TypeError);
    expect(() => ipToBytes('eth0')).toThrow(TypeError);
  });
});

describe('messages', () => {
  it('nests carry NLA_F_NESTED, attributes are 4-aligned, the header has the length', () => {
    const m = new MessageBuilder(16, 0x600, 16);
    m.str(3, 'x');
    m.nest(18, (n) => n.str(1, 'xfrm').nest(2, (d) => d.u32(2, 7).flag(3)));
    const buf = m.finish(42);
    const [msg] = splitMessages(buf);
    expect(msg).toMatchObject({ type: 16, flags: 0x600, seq: 42 });
    expect(buf.length % 4).toBe(0);
    // raw type of the nest has the flag; the parser masks it
    const nestAt = 16 + 16 + 8;
    expect(r16(buf, nestAt + 2)).toBe(18 | NLA_F_NESTED);
    const a = Attrs.parse(msg!.data, 16);
    expect(a.str(3)).toBe('x');
    const info = a.nested(18);
    expect(info?.str(1)).toBe('xfrm');
    expect(info?.nested(2)?.u32(2)).toBe(7);
    expect(info?.nested(2)?.has(3)).toBe(true);
  });

  it('unknown attributes survive parsing (kept by type, in order)', () => {
    const m = new MessageBuilder(16, 0, 0).u32(999, 1).u32(998, 2).u32(999, 3);
    const a = Attrs.parse(splitMessages(m.finish(1))[0]!.data);
    expect(a.list.map(([t]) => t)).toEqual([999, 998, 999]);
    expect(a.u32(999)).toBe(3);
  });

  it('reads errno and the extended-ack text from capped and uncapped error messages', () => {
    const text = Buffer.from('if_id must be non zero\0');
    const tlv = Buffer.alloc(4 + ((text.length + 3) & ~3));
    w16(tlv, 4 + text.length, 0);
    w16(tlv, 1, 2); // NLMSGERR_ATTR_MSG
    text.copy(tlv, 4);
    for (const capped of [true, false]) {
      const orig = Buffer.alloc(capped ? 16 : 40);
      w32(orig, 40, 0);
      const head = Buffer.alloc(4);
      wi32(head, -22, 0);
      const data = Buffer.concat([head, orig, tlv]);
      const e = parseError({ type: NLMSG_ERROR, flags: 0x200 | (capped ? 0x100 : 0), seq: 1, pid: 1, data });
      expect(e).toEqual({ errno: 22, extack: 'if_id must be non zero' });
    }
  });
});

describe('rtnetlink bodies', () => {
  const msgOf = (m: MessageBuilder) => splitMessages(m.finish(1))[0]!;

  it('a route encodes and decodes to the same spec (table above 255 in RTA_TABLE, metrics nest)', () => {
    const r: RouteSpec = { family: 6, dst: 'fd01::', dstLen: 64, table: 70000, type: 'unicast', dev: 'x0', prefsrc: 'fd00::2', metric: 5, mtu: 1400, protocol: 88 };
    const m = msgOf(routeMessage(RTM_NEWROUTE, r, 7));
    expect(m.data[4]).toBe(0); // RT_TABLE_UNSPEC in the header
    expect(decodeRoute(m, (i) => (i === 7 ? 'x0' : undefined))).toEqual({ ...r, oif: 7, scope: 0 });
  });

  it('route kinds we never install are dropped from the header alone', () => {
    const m = msgOf(routeMessage(RTM_NEWROUTE, { family: 4, dst: '10.0.0.0', dstLen: 8, table: 255, type: 'unicast', protocol: 2 }, 1));
    m.data[7] = 5; // RTN_MULTICAST
    expect(decodeRoute(m, () => undefined)).toBeUndefined();
  });

  it('a rule with every field RuleSpec has survives the round trip', () => {
    const r: RuleSpec = { family: 4, priority: 100, action: 'lookup', table: 10005, src: { addr: '192.168.1.0', len: 24 }, dst: { addr: '10.0.0.0', len: 8 }, fwmark: 6, fwmask: 0xff, iif: 'lan0', invert: true, suppressPrefixLength: 0, protocol: 88 };
    expect(decodeRule(msgOf(ruleMessage(RTM_NEWRULE, r)))).toEqual(r);
  });

  it('an xfrm link message carries kind, if_id, parent and external as the kernel reads them back', () => {
    const m = msgOf(xfrmLinkMessage({ name: 'x0', ifId: 5, link: 2, collectMetadata: false, mtu: 1400, multicast: true }, { up: true }));
    // the kernel answers with the same attribute layout: our decoder reads the request as a reply
    expect(decodeLink(m)).toMatchObject({ name: 'x0', kind: 'xfrm', mtu: 1400, up: true, multicast: true, xfrm: { ifId: 5, link: 2, collectMetadata: false } });
    const ext = msgOf(xfrmLinkMessage({ name: 'xe', ifId: 0, link: 0, collectMetadata: true, mtu: 0, multicast: false }));
    expect(decodeLink(ext)?.xfrm).toEqual({ ifId: 0, link: 0, collectMetadata: true });
  });

  it('an address decodes with the device name resolved', () => {
    const m = msgOf(addressMessage(RTM_NEWADDR, { family: 6, address: 'fd50::2', prefixLen: 128, dev: 'rw' }, 9));
    expect(decodeAddress(m, (i) => (i === 9 ? 'rw' : undefined))).toEqual({ family: 6, address: 'fd50::2', prefixLen: 128, dev: 'rw', index: 9, scope: 0, flags: 0x02 });
  });
});
