// Fast checks of the LuCI protocol page's generated parts; the page itself is
// tried in a real browser with LuCI's own code by test/luci/.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { ACL, LUCI, POT, potFor, scanTranslatable, stampLuci } from '../../scripts/gen-files.ts';
import { OPTIONS } from '../../src/config/schema.ts';

const page = readFileSync(LUCI, 'utf8');

describe('LuCI protocol page', () => {
  it('carries the option list, texts and validator generated from src/config', () => {
    expect(stampLuci(page)).toBe(page);
  });

  it('has a title and help for every option, plain text for people', () => {
    for (const o of OPTIONS) {
      expect(o.title, o.name).toMatch(/^[A-Z][^`]*[^.]$/);
      expect(o.help, o.name).toMatch(/^[A-Z][^`]*\.$/);
      // the help does not repeat the value format the README table gives
      expect(o.help, o.name).not.toContain(o.format);
    }
  });

  it('translates every title and help text: each is a _() msgid of the page and in the template', () => {
    const ids = new Set(scanTranslatable(LUCI, page).map((m) => m.id));
    const pot = readFileSync(POT, 'utf8');
    for (const o of OPTIONS) {
      expect(ids.has(o.title), o.name).toBe(true);
      expect(ids.has(o.help), o.name).toBe(true);
    }
    expect(potFor(page)).toBe(pot);
    expect(pot).toContain('msgid "XFRM interface ID"');
  });

  it('the scanner refuses a _() it cannot read', () => {
    expect(() => scanTranslatable('x.js', "\tvar t = _(title);\n")).toThrow(/without a string literal/);
    expect(scanTranslatable('x.js', "\t_('It\\'s') + _(\"two\")\n").map((m) => m.id)).toEqual(["It's", 'two']);
  });

  it('names every error code the validator reports to netifd', () => {
    const source = readFileSync('src/config/validate.ts', 'utf8');
    const codes = new Set([
      ...OPTIONS.map((o) => o.code),
      ...[...source.matchAll(/'([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)'/g)].map((m) => m[1]!),
    ]);
    const registered = new Set([...page.matchAll(/^\t([A-Z_0-9]+): _\(/gm)].map((m) => m[1]!));
    // INVALID_ADDRESS is one of LuCI's own codes (network.js), with its own text;
    // UNKNOWN_OPTION is reported by `xfrmd apply` only (strict mode), never to netifd
    codes.delete('INVALID_ADDRESS');
    codes.delete('UNKNOWN_OPTION');
    expect([...codes].filter((c) => !registered.has(c))).toEqual([]);
  });

  it('the rpcd ACL grants the status call the page makes', () => {
    const acl = JSON.parse(readFileSync(ACL, 'utf8')) as Record<string, { read?: { ubus?: Record<string, string[]> } }>;
    expect(acl['luci-proto-xfrm']?.read?.ubus?.xfrmd).toContain('status');
    expect(page).toMatch(/object: 'xfrmd',\s*method: 'status',\s*params: \[ 'interface' \]/);
  });
});
