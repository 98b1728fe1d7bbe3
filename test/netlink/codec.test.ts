// The codec without a kernel: addresses, attributes, nests, error payloads.
import { describe, expect, it } from 'vitest';
import { Attrs, MessageBuilder, NLA_F_NESTED, splitMessages } from '../../src/netlink/attrs.ts';
import { r16, w16, w32, wi32 } from '../../src/netlink/host.ts';
import { bytesToIp, ipToBytes } from '../../src/netlink/ip.ts';
import { NLMSG_ERROR, parseError } from '../../src/netlink/socket.ts';

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
