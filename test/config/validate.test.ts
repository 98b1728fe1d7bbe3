// Validation, table-driven from test/fixtures/validation.json5: every option,
// every error code, bad values of every kind.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import JSON5 from 'json5';
import { ConfigError, validateConfig, validateOrThrow, type RawConfig } from '../../src/config/validate.ts';
import { OPTIONS } from '../../src/config/schema.ts';

interface Invalid {
  name: string;
  section?: string;
  strict?: boolean;
  options: RawConfig;
  code: string;
  option?: string;
  says?: string[];
}
interface Valid {
  name: string;
  strict?: boolean;
  options: RawConfig;
  expect: Record<string, unknown>;
}

const table = JSON5.parse(readFileSync(join(import.meta.dirname, '../fixtures/validation.json5'), 'utf8')) as { invalid: Invalid[]; valid: Valid[] };

// printable ASCII only: no control characters, no bidi tricks, no raw unicode
const SAFE = /^[\x20-\x7e…]*$/;

describe('validation: invalid values', () => {
  for (const c of table.invalid) {
    it(`${c.name} → ${c.code}`, () => {
      const section = c.section ?? 'ipsec1';
      const r = validateConfig(c.options, section, { strict: c.strict === true });
      expect(r.ok).toBe(false);
      if (r.ok) return;
      const first = r.errors.find((e) => e.code === c.code);
      expect(first, `codes were ${r.errors.map((e) => e.code).join(', ')}: ${r.errors.map((e) => e.message).join(' | ')}`).toBeDefined();
      if (!first) return;
      if (c.option) expect(first.option).toBe(c.option);
      for (const word of c.says ?? []) expect(first.message).toContain(word);
      for (const e of r.errors) {
        expect(e.message).toMatch(SAFE);
        expect(e.section).toBe(section);
        if (e.option && OPTIONS.some((o) => o.name === e.option)) expect(e.message).toContain(e.option);
      }
    });
  }
});

describe('validation: valid values', () => {
  for (const c of table.valid) {
    it(c.name, () => {
      const r = validateConfig(c.options, 'ipsec1', { strict: c.strict === true });
      if (!r.ok) throw new Error(r.errors.map((e) => `${e.code}: ${e.message}`).join('\n'));
      expect(r.config).toMatchObject(c.expect);
    });
  }
});

describe('validation: coverage of the table', () => {
  const codes = new Set(table.invalid.map((c) => c.code));
  it('exercises every single-section error code', () => {
    for (const code of [
      'NO_IFID', 'INVALID_IFID', 'INVALID_NAME', 'INVALID_TUNLINK', 'INVALID_DEVICE', 'PARENT_CONFLICT', 'INVALID_MTU',
      'MTU_TOO_SMALL_FOR_IPV6', 'INVALID_ZONE', 'INVALID_BOOL', 'INVALID_ADDRESS', 'FAMILY_MISMATCH', 'INVALID_OFFLOAD',
      'OFFLOAD_NEEDS_PARENT', 'EXTERNAL_CONFLICT', 'INVALID_ROUTE', 'INVALID_TABLE', 'RESERVED_TABLE', 'FULL_TUNNEL_IN_MAIN',
      'NEEDS_EXEMPT_MARK', 'INVALID_PRIORITY', 'INVALID_RULE_STYLE', 'INVALID_MARK', 'INVALID_SOURCE', 'UNKNOWN_OPTION',
    ]) expect(codes, code).toContain(code);
  });
  it('has a bad value for every option and each schema code is used', () => {
    const named = new Set(table.invalid.map((c) => c.option ?? Object.keys(c.options).find((k) => k !== 'ifid') ?? 'ifid'));
    for (const o of OPTIONS) {
      expect(named.has(o.name) || table.invalid.some((c) => o.name in c.options && c.code === o.code), o.name).toBe(true);
      expect(codes, `${o.name}'s code`).toContain(o.code);
    }
  });
});

describe('validation: behaviour', () => {
  it('reports every problem at once, not only the first', () => {
    const r = validateConfig({ mtu: 'x', zone: 'a b', route: '10.1.2.3/8' }, 'ipsec1');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => e.code)).toEqual(['NO_IFID', 'INVALID_MTU', 'INVALID_ZONE', 'INVALID_ROUTE']);
  });

  it('cuts very long values in messages', () => {
    const r = validateConfig({ ifid: 'x'.repeat(10_000) }, 'ipsec1');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors[0]?.message.length).toBeLessThan(200);
    expect(r.errors[0]?.message).toContain('(10000 characters)');
  });

  it('survives hostile input of every JSON type in every option', () => {
    const values: unknown[] = [null, true, false, 0, -1, 1.5, 1e300, NaN, '', ' ', '\u0000', '\n', 'é', '💥', '$(reboot)', '1; rm -rf /', [], [null], [[1]], {}, { toString: 'x' }, 'a'.repeat(5000)];
    for (const o of OPTIONS) {
      for (const v of values) {
        const r = validateConfig({ ifid: '1', [o.name]: v }, 'ipsec1', { strict: true });
        if (!r.ok) for (const e of r.errors) expect(e.message).toMatch(SAFE);
      }
    }
  });

  it('validateOrThrow throws a permanent ConfigError with all issues', () => {
    expect(() => validateOrThrow({}, 'ipsec1')).toThrow(ConfigError);
    try {
      validateOrThrow({ mtu: '1' }, 'ipsec1');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const ce = e as ConfigError;
      expect(ce.code).toBe('NO_IFID');
      expect(ce.permanent).toBe(true);
      expect(ce.issues).toHaveLength(2);
      expect(ce.message).toContain('and 1 more problem');
    }
  });

  it('the defaults are the documented ones', () => {
    const c = validateOrThrow({ ifid: '1' }, 'x');
    expect(c).toEqual({
      section: 'x', name: 'x', ifId: 1, external: false, mtu: 1280, multicast: true, offload: 'off', ipaddr: [], ip6addr: [],
      routes: [], routes6: [], fullTunnel: false, rulePriority: 100, ruleStyle: 'exempt', marks: [], sources: [],
    });
  });
});

describe('validation: follow-up errors are not piled on', () => {
  it('a bad exempt_mark is reported once, not again as NEEDS_EXEMPT_MARK', () => {
    const r = validateConfig({ ifid: '1', full_tunnel: '1', rule_style: 'invert', exempt_mark: '0/0' }, 'x');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map((e) => e.code)).toEqual(['INVALID_MARK']);
  });
  it('external with full_tunnel off is not a conflict', () => {
    expect(validateConfig({ external: '1', full_tunnel: 'no', route: [] }, 'x').ok).toBe(true);
  });
  it('external lists every routing option it cannot use', () => {
    const r = validateConfig({ external: '1', route: '10.0.0.0/8', mark: '1', full_tunnel: true }, 'x');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.find((e) => e.code === 'EXTERNAL_CONFLICT')?.message).toContain('route, mark, full_tunnel');
  });
});
