import { describe, expect, it } from 'vitest';
import { formatAddress, hasHostBits, networkOf, parseAddress, parsePrefix, prefixesOverlap } from '../../src/config/ip.ts';
import { describeValue, quote } from '../../src/config/text.ts';

const canon = (s: string) => {
  const p = parseAddress(s);
  return p ? formatAddress(p.family, p.value) : undefined;
};

describe('addresses', () => {
  it.each([
    ['1.2.3.4', '1.2.3.4'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    ['::', '::'],
    ['::1', '::1'],
    ['FD00::ABCD', 'fd00::abcd'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['1::2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
    ['64:ff9b::192.0.2.1', '64:ff9b::c000:201'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
  ])('%s → %s', (input, out) => expect(canon(input)).toBe(out));

  it.each(['1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.-4', ' 1.2.3.4', '1:2:3:4:5:6:7:8:9', ':::', '1::2::3', 'fe80::1%eth0', '12345::', 'g::1', '::1.2.3', '1:2:3:4:5:6:7:1.2.3.4', '', 'localhost'])(
    'rejects %j',
    (input) => expect(parseAddress(input)).toBeUndefined(),
  );
});

describe('prefixes', () => {
  it('parses with and without a length, per family', () => {
    expect(parsePrefix('10.0.0.1')).toMatchObject({ ok: true, prefix: { family: 4, addr: '10.0.0.1', len: 32 } });
    expect(parsePrefix('fd00::/8')).toMatchObject({ ok: true, prefix: { family: 6, addr: 'fd00::', len: 8 } });
    expect(parsePrefix('fd00::/8', 4)).toMatchObject({ ok: false, family: 6 });
    expect(parsePrefix('10.0.0.0/033')).toMatchObject({ ok: false });
    expect(parsePrefix('10.0.0.0/')).toMatchObject({ ok: false });
    expect(parsePrefix('::/129')).toMatchObject({ ok: false });
  });
  it('networks, host bits and overlap', () => {
    expect(networkOf({ family: 4, addr: '10.1.2.3', len: 16 })).toEqual({ family: 4, addr: '10.1.0.0', len: 16 });
    expect(networkOf({ family: 6, addr: 'fd00::1', len: 0 })).toEqual({ family: 6, addr: '::', len: 0 });
    expect(hasHostBits({ family: 4, addr: '10.1.0.0', len: 16 })).toBe(false);
    expect(hasHostBits({ family: 6, addr: 'fd00::1', len: 64 })).toBe(true);
    expect(prefixesOverlap({ family: 4, addr: '10.0.0.0', len: 8 }, { family: 4, addr: '10.9.0.0', len: 16 })).toBe(true);
    expect(prefixesOverlap({ family: 4, addr: '10.0.0.0', len: 8 }, { family: 4, addr: '11.0.0.0', len: 8 })).toBe(false);
    expect(prefixesOverlap({ family: 4, addr: '0.0.0.0', len: 0 }, { family: 4, addr: '11.0.0.0', len: 8 })).toBe(true);
    expect(prefixesOverlap({ family: 4, addr: '0.0.0.0', len: 0 }, { family: 6, addr: '::', len: 0 })).toBe(false);
  });
});

describe('quoting values in messages', () => {
  it('escapes everything outside printable ASCII and quotes', () => {
    expect(quote('plain')).toBe("'plain'");
    expect(quote("it's")).toBe("'it\\'s'");
    expect(quote('a\nb\tc\r')).toBe("'a\\nb\\tc\\r'");
    expect(quote('\u0000\u001b\u007f')).toBe("'\\x00\\x1b\\x7f'");
    expect(quote('ü\u202e💥')).toBe("'\\xfc\\u{202e}\\u{1f4a5}'");
    expect(quote('\\')).toBe("'\\\\'");
  });
  it('cuts long values', () => {
    expect(quote('y'.repeat(100))).toBe(`'${'y'.repeat(64)}…' (100 characters)`);
  });
  it('describes other types', () => {
    expect(describeValue(5)).toBe('5');
    expect(describeValue(null)).toBe('null');
    expect(describeValue({})).toBe('an object');
    expect(describeValue(['a', 1, true, null, 'e'])).toBe("['a', 1, true, null, … (5 entries)]");
  });
});
