// Every error code the daemon, the validator or the shim can report, and every status hint, has
// a row (or a mention) in the README's "Errors" section: found in the sources, not listed by hand.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? sources(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : []));
}

/** The codes a source file can report. src/ubus and src/netlink speak ubus and errno codes, not ours. */
export function codesIn(text: string): string[] {
  const codes = new Set<string>();
  const add = (re: RegExp) => {
    for (const m of text.matchAll(re)) if (m[1]) codes.add(m[1]);
  };
  add(/new XfrmdError\(\s*'([A-Z][A-Z0-9_]+)'/g);
  add(/\bcode: '([A-Z][A-Z0-9_]+)'/g);
  add(/\.add\(\s*'([A-Z][A-Z0-9_]+)'/g);
  add(/badValue\(.*, '([A-Z][A-Z0-9_]+)'\)/g);
  add(/\?\? '([A-Z][A-Z0-9_]+)'/g);
  add(/\bcode = '([A-Z][A-Z0-9_]+)'/g);
  add(/\? '([A-Z][A-Z0-9_]+)' : '[A-Z][A-Z0-9_]+'/g);
  add(/\? '[A-Z][A-Z0-9_]+' : '([A-Z][A-Z0-9_]+)'/g);
  // reconcile: `${s.what.toUpperCase()}_EXISTS` for each kind it syncs
  if (/\$\{s\.what\.toUpperCase\(\)\}_EXISTS/.test(text)) for (const m of text.matchAll(/\bwhat: '(\w+)'/g)) codes.add(`${m[1]!.toUpperCase()}_EXISTS`);
  return [...codes];
}

describe('README: the Errors section', () => {
  const readme = readFileSync('README.md', 'utf8');
  const section = readme.slice(readme.indexOf('\n## Errors'), readme.indexOf('\n## ', readme.indexOf('\n## Errors') + 1));

  it('lists every error code and hint found in src/ and the netifd shim', () => {
    const files = sources('src').filter((f) => !f.startsWith(join('src', 'ubus')) && !f.startsWith(join('src', 'netlink')));
    const codes = new Set(files.flatMap((f) => codesIn(readFileSync(f, 'utf8'))));
    for (const m of readFileSync('files/lib/netifd/proto/xfrm.sh', 'utf8').matchAll(/proto_notify_error "\$iface" ([A-Z][A-Z0-9_]+)/g)) codes.add(m[1]!);
    // the scan finds what it must (a broken pattern would make this test pass on nothing)
    for (const c of ['ROUTE_EXISTS', 'RULE_EXISTS', 'PRIORITY_CONFLICT', 'OFFLOAD_UNSUPPORTED', 'RESERVED_TABLE', 'INVALID_CONFIG', 'DAEMON_UNAVAILABLE', 'SA_WITHOUT_EXEMPT_MARK']) expect(codes, c).toContain(c);
    const missing = [...codes].filter((c) => !section.includes(`\`${c}\``)).sort();
    expect(missing).toEqual([]);
  });

  it('every row of the table has a meaning and something to do', () => {
    const rows = section.split('\n').filter((l) => /^\| `[A-Z]/.test(l));
    expect(rows.length).toBeGreaterThan(30);
    for (const r of rows) expect(r.split('|').map((c) => c.trim()).filter(Boolean).length, r).toBe(3);
  });
});
