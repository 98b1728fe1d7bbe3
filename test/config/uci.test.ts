// The UCI file parser and the standalone path: file → sections → validated
// configs → plans.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { interfacesWithProto, parseUci, UciParseError } from '../../src/config/uci.ts';
import { validateConfig } from '../../src/config/validate.ts';
import { checkConflicts } from '../../src/config/conflicts.ts';
import { plan, renderIpCommands } from '../../src/plan/plan.ts';

function parseError(text: string): UciParseError {
  try {
    parseUci(text);
  } catch (e) {
    if (e instanceof UciParseError) return e;
    throw e;
  }
  throw new Error('parsed without error');
}

describe('parseUci', () => {
  it('reads sections, options and lists', () => {
    const f = parseUci("package network\n\nconfig interface 'lan'\n\toption proto 'static'\n\tlist dns '1.1.1.1'\n\tlist dns \"9.9.9.9\"\n");
    expect(f.package).toBe('network');
    expect(f.sections).toEqual([{ type: 'interface', name: 'lan', anonymous: false, line: 3, options: { proto: 'static', dns: ['1.1.1.1', '9.9.9.9'] } }]);
  });

  it('names anonymous sections @type[i]', () => {
    const f = parseUci('config route\n option target 10.0.0.0/8\nconfig rule\nconfig route\n');
    expect(f.sections.map((s) => [s.name, s.anonymous, s.line])).toEqual([['@route[0]', true, 1], ['@rule[0]', true, 3], ['@route[1]', true, 4]]);
  });

  it('handles quoting: single quotes verbatim, double quotes and bare words with backslash escapes, concatenation', () => {
    const f = parseUci([
      'config x a',
      "option single 'a \\n \"b\" $(c)'",
      'option double "say \\"hi\\" \\\\ \'q\'"',
      "option concat 'it'\\''s'",
      'option bare a\\ b',
      "option empty ''",
      "option hash 'a # b'",
      'option tab\t"x"   # trailing comment',
    ].join('\n'));
    expect(f.sections[0]?.options).toEqual({
      single: 'a \\n "b" $(c)',
      double: 'say "hi" \\ \'q\'',
      concat: "it's",
      bare: 'a b',
      empty: '',
      hash: 'a # b',
      tab: 'x',
    });
  });

  it('lets quoted values span lines and continues lines ending in a backslash', () => {
    const f = parseUci("config x a\noption multi 'one\ntwo'\noption cont \\\n  'value'\noption after 'z'\n");
    expect(f.sections[0]?.options).toEqual({ multi: 'one\ntwo', cont: 'value', after: 'z' });
  });

  it('joins a word split by backslash-newline', () => {
    expect(parseUci('config x a\noption k ab\\\ncd\n').sections[0]?.options).toEqual({ k: 'abcd' });
  });

  it('throws only UciParseError on garbage, with a line inside the input', () => {
    const alphabet = ['config', 'option', 'list', ' ', '\t', '\n', "'", '"', '\\', '#', 'a', 'x', '_', '-', 'é', '\u0000'];
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
    for (let n = 0; n < 2000; n++) {
      const text = Array.from({ length: 1 + Math.floor(rnd() * 30) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join('');
      try {
        parseUci(text);
      } catch (e) {
        expect(e).toBeInstanceOf(UciParseError);
        const lines = text.split('\n').length;
        expect((e as UciParseError).line).toBeGreaterThanOrEqual(1);
        expect((e as UciParseError).line).toBeLessThanOrEqual(lines);
        expect((e as Error).message).toMatch(/^[\x20-\x7e…]*$/);
      }
    }
  });

  it('skips comments and blank lines, accepts CRLF', () => {
    const f = parseUci("# top\r\n\r\nconfig x 'a'\r\n  # inside\r\n  option k 'v'\r\n");
    expect(f.sections[0]?.options).toEqual({ k: 'v' });
  });

  it('merges a repeated section like libuci; list after option makes a list; option after list replaces', () => {
    const f = parseUci("config x a\noption k '1'\nlist k '2'\nconfig x a\nlist k '3'\noption j 'x'\nlist j 'y'\noption l 'q'\nlist m '1'\noption m '2'\n");
    expect(f.sections).toHaveLength(1);
    expect(f.sections[0]?.options).toEqual({ k: ['1', '2', '3'], j: ['x', 'y'], l: 'q', m: '2' });
  });

  it.each([
    ["option k 'v'\n", 1, 'outside of a section'],
    ["config x a\noption k 'v\n", 2, 'unterminated single quote'],
    ['config x a\n\noption k "v\n\n', 3, 'unterminated double quote'],
    ['config x a\noption k\n', 2, "'option' needs a name and a value"],
    ['config x a\noption k v w\n', 2, 'too many words'],
    ['config\n', 1, "'config' needs a type"],
    ['config x a b\n', 1, 'too many words'],
    ["config x 'a-b'\n", 1, "invalid section name 'a-b'"],
    ["config 'x y' a\n", 1, "invalid section type 'x y'"],
    ["config x a\noption 'k.k' v\n", 2, "invalid option name 'k.k'"],
    ['config x a\nconfig y a\n', 2, "declared with type 'x' on line 1"],
    ['config x a\nfrobnicate\n', 2, "unknown statement 'frobnicate'"],
    ['config x a\nopt\u0007ion k v\n', 2, "unknown statement 'opt\\u{7}ion'"],
    ['config x a\npackage p\n', 2, 'before the first section'],
    ['config x a\noption k v\\', 2, 'backslash at the end'],
  ])('error %#: line %i, %s', (text, line, msg) => {
    const e = parseError(text);
    expect(e.line).toBe(line);
    expect(e.message).toContain(msg);
    expect(e.message.startsWith(`line ${line}: `)).toBe(true);
  });
});

describe('standalone: a network file to plans', () => {
  const file = parseUci(readFileSync(join(import.meta.dirname, '../fixtures/uci/network'), 'utf8'));

  it('finds the proto xfrm interfaces', () => {
    const ifs = interfacesWithProto(file);
    expect(ifs.map((i) => [i.section, i.line])).toEqual([['ipsec1', 14], ['xfrm_ds', 23]]);
  });

  it('validates strictly and plans them', () => {
    const configs = interfacesWithProto(file).map((i) => {
      const r = validateConfig(i.raw, i.section, { strict: true });
      if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
      return r.config;
    });
    expect(checkConflicts(configs)).toEqual([]);
    const [a, b] = configs.map((c) => renderIpCommands(plan(c)));
    expect(a).toEqual([
      'link add ipsec1 mtu 1280 type xfrm if_id 1',
      'link set ipsec1 multicast on',
      'address add 10.9.0.2/32 dev ipsec1',
      'link set ipsec1 up',
      'route add 192.0.2.1/32 dev ipsec1 table 50 proto 88 src 10.9.0.2',
      'rule add prio 99 fwmark 0x6/0xffffffff lookup main proto 88',
      'rule add prio 100 to 192.0.2.1/32 lookup 50 proto 88',
    ]);
    expect(b).toEqual([
      'link add xfrm_ds mtu 1400 type xfrm if_id 42',
      'link set xfrm_ds multicast on',
      'address add fd42::1/64 dev xfrm_ds',
      'address add fd42:1::1/128 dev xfrm_ds',
      'link set xfrm_ds up',
      '-6 route add fd43::/48 dev xfrm_ds table main proto 88 src fd42::1 metric 1024 mtu 1300',
    ]);
  });

  it('reports unknown options of a section with its name', () => {
    const f = parseUci("config interface 't1'\n\toption proto 'xfrm'\n\toption ifid '3'\n\toption tunnlink 'wan'\n");
    const [i] = interfacesWithProto(f);
    const r = validateConfig(i?.raw ?? {}, 't1', { strict: true });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map((e) => [e.code, e.option])).toEqual([['UNKNOWN_OPTION', 'tunnlink']]);
  });
});
