// The option schema: the netifd dump line and the README table come from it.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { BLOBMSG, dumpLine, OPTIONS } from '../../src/config/schema.ts';
import { renderOptionTable } from '../../src/config/options-doc.ts';
import { validateConfig } from '../../src/config/validate.ts';

describe('schema', () => {
  it('keeps the stock xfrm option names', () => {
    const stock = OPTIONS.filter((o) => o.stock).map((o) => o.name);
    expect(stock).toEqual(['ifid', 'tunlink', 'mtu', 'zone', 'multicast']);
  });

  it('is well formed: unique names, lists are arrays, sentences, codes', () => {
    expect(new Set(OPTIONS.map((o) => o.name)).size).toBe(OPTIONS.length);
    for (const o of OPTIONS) {
      expect(o.name).toMatch(/^[a-z0-9_]+$/);
      expect(o.list, o.name).toBe(o.type === 'array');
      expect(o.description, o.name).toMatch(/^[A-Z].*\.$/);
      expect(o.code, o.name).toMatch(/^[A-Z_]+$/);
      expect(o.format.length, o.name).toBeGreaterThan(0);
    }
  });

  it('every default validates and is what an unset option gives', () => {
    for (const o of OPTIONS.filter((x) => x.default !== undefined)) {
      const withDefault = validateConfig({ ifid: '1', [o.name]: o.default }, 'x');
      const unset = validateConfig({ ifid: '1' }, 'x');
      expect(withDefault.ok && unset.ok, o.name).toBe(true);
      if (withDefault.ok && unset.ok) expect(withDefault.config, o.name).toEqual(unset.config);
    }
  });

  it('every enumerated value validates', () => {
    for (const o of OPTIONS) for (const v of o.values ?? []) {
      const r = validateConfig({ ifid: '1', tunlink: 'wan', exempt_mark: '1', [o.name]: v }, 'x');
      expect(r.ok, `${o.name}=${v}`).toBe(true);
    }
  });
});

describe('dump line', () => {
  it('is one line of JSON in the shape netifd reads', () => {
    const line = dumpLine();
    expect(line).not.toContain('\n');
    const d = JSON.parse(line) as { name: string; config: Array<[string, number]>; [k: string]: unknown };
    expect(Object.keys(d)).toEqual(['name', 'config', 'no-device', 'no-proto-task', 'available']);
    expect(d.name).toBe('xfrm');
    expect(d['no-device']).toBe(true);
    // the shim only queues the request: netifd must wait for the daemon's notify
    expect(d['no-proto-task']).toBe(true);
    expect(d.available).toBe(true);
    expect(d.config).toEqual(OPTIONS.map((o) => [o.name, BLOBMSG[o.type]]));
    for (const [, t] of d.config) expect([1, 3, 5, 7]).toContain(t);
  });

  it('declares our options as strings (exact text), lists as arrays, full_tunnel too', () => {
    const d = JSON.parse(dumpLine()) as { config: Array<[string, number]> };
    const t = Object.fromEntries(d.config);
    expect(t).toMatchObject({ ifid: 3, mtu: 3, multicast: 3, tunlink: 3, zone: 3, ipaddr: 1, route: 1, mark: 1, source: 1, full_tunnel: 3 });
  });

  it('prints only true flags', () => {
    expect(dumpLine({ 'no-device': true, available: true, 'no-proto-task': true, 'renew-handler': false })).toMatch(/"no-device":true,"no-proto-task":true,"available":true}$/);
  });

  it('is exactly this line (change it on purpose, the shim ships it)', () => {
    expect(dumpLine()).toBe(
      '{"name":"xfrm","config":[["ifid",3],["tunlink",3],["parent_device",3],["mtu",3],["zone",3],["multicast",3],["offload",3],["external",3],' +
        '["ipaddr",1],["ip6addr",1],["route",1],["route6",1],["ip4table",3],["ip6table",3],["full_tunnel",3],["rule_priority",3],' +
        '["rule_style",3],["exempt_mark",3],["mark",1],["source",1]],"no-device":true,"no-proto-task":true,"available":true}',
    );
  });
});

describe('README option table', () => {
  const table = renderOptionTable();
  const rows = table.split('\n').filter((l) => l.startsWith('| `'));

  it('has one row per option, in schema order, with six cells', () => {
    expect(rows.map((r) => /^\| `([a-z0-9_]+)`/.exec(r)?.[1])).toEqual(OPTIONS.map((o) => o.name));
    for (const r of rows) expect(r.replace(/\\\|/g, '').split('|').length - 2).toBe(6);
  });

  it('renders the header, defaults and the stock footnote', () => {
    expect(table.startsWith('| option | kind | default | values | group | description |\n|---|---|---|---|---|---|\n')).toBe(true);
    expect(rows[0]).toBe('| `ifid` ¹ | option | – | 1..4294967295, decimal or 0x-hex; required unless `external` | device | XFRM interface id (if_id) that the IKE daemon puts on the SAs and policies of this tunnel. |');
    expect(rows.find((r) => r.startsWith('| `mtu`'))).toContain('| `1280` |');
    expect(rows.find((r) => r.startsWith('| `route`'))).toContain('| list |');
    expect(table).toContain("¹ also an option of OpenWrt's stock `xfrm` proto");
  });

  it('scripts/gen-docs.ts prints it, and the dump line with --dump', () => {
    const out = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/gen-docs.ts'], { encoding: 'utf8' });
    expect(out.status).toBe(0);
    expect(out.stdout).toBe(table);
    const dump = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/gen-docs.ts', '--dump'], { encoding: 'utf8' });
    expect(dump.stdout).toBe(`${dumpLine()}\n`);
  });
});

describe('README routing notes', () => {
  it('describes the derived table and the rule layout with the schema numbers', async () => {
    const { renderRoutingNotes } = await import('../../src/config/options-doc.ts');
    const md = renderRoutingNotes();
    expect(md).toContain('10000 + (ifid mod 2^31), so `ifid 5` uses table 10005');
    expect(md).toContain('Valid bases are 2..32763');
    expect(md).toContain('| B-1 | `fwmark EXEMPT lookup main` |');
    expect(md).toContain('`PRIORITY_CONFLICT`');
  });
});
