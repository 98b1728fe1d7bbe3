// The LuCI protocol page runs in the browser; here it runs with stand-ins for
// LuCI's form/network/widgets so we know it renders every schema option with
// a fitting widget, and that its option list is the generated one.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { LUCI, stampLuci } from '../../scripts/gen-files.ts';
import { OPTIONS } from '../../src/config/schema.ts';

type Opt = Record<string, unknown> & { widget: string; values: string[]; value(v: string): void };

function load() {
  const text = readFileSync(LUCI, 'utf8');
  const widget = (name: string) => name;
  const form = { Flag: 'Flag', ListValue: 'ListValue', DynamicList: 'DynamicList', Value: 'Value' };
  const widgets = { NetworkSelect: 'NetworkSelect', DeviceSelect: 'DeviceSelect' };
  const network = { registerProtocol: (name: string, proto: Record<string, unknown>) => ({ name, ...proto }), getIfnameOf: widget };
  const i18n = (s: string) => Object.assign(new String(s), { format: (...a: unknown[]) => `${s} ${a.join(' ')}` });
  const run = new Function('network', 'form', 'widgets', '_', text) as (...a: unknown[]) => { name: string; renderFormOptions(s: unknown): void };
  return run(network, form, widgets, i18n);
}

describe('LuCI protocol page', () => {
  it('carries the option list generated from the schema', () => {
    const text = readFileSync(LUCI, 'utf8');
    expect(stampLuci(text)).toBe(text);
  });

  it('registers proto xfrm and renders every option once, with a fitting widget', () => {
    const proto = load();
    expect(proto.name).toBe('xfrm');
    const rendered: Opt[] = [];
    const section = {
      section: 'vpn0',
      taboption(tab: string, widget: string, name: string) {
        const values: string[] = [];
        const o = { tab, widget, name, values, value: (v: string) => void values.push(v), enabled: '1', disabled: '0' } as unknown as Opt;
        rendered.push(o);
        return o;
      },
    };
    proto.renderFormOptions(section);
    expect(rendered.map((o) => o.name)).toEqual(OPTIONS.map((o) => o.name));
    const by = (n: string) => rendered.find((o) => o.name === n)!;
    expect(by('tunlink').widget).toBe('NetworkSelect');
    expect(by('tunlink').exclude).toBe('vpn0');
    expect(by('parent_device').widget).toBe('DeviceSelect');
    expect(by('ipaddr').widget).toBe('DynamicList');
    expect(by('multicast').widget).toBe('Flag');
    expect(by('offload').widget).toBe('ListValue');
    expect(by('offload').values).toEqual(['off', 'crypto', 'packet']);
    expect(by('ifid').rmempty).toBe(false);
    expect(by('exempt_mark').tab).toBe('advanced');
  });

  it('validates numeric ranges like the daemon (ifid, mtu)', () => {
    const proto = load();
    const rendered: Opt[] = [];
    proto.renderFormOptions({ section: 'x', taboption: (_t: string, widget: string, name: string) => { const o = { widget, name, values: [], value() {} } as unknown as Opt; rendered.push(o); return o; } });
    const validate = (n: string, v: string) => (rendered.find((o) => o.name === n)!.validate as (id: string, v: string) => unknown)('x', v);
    expect(validate('ifid', '5')).toBe(true);
    expect(validate('ifid', '0xffffffff')).toBe(true);
    expect(validate('ifid', '0')).not.toBe(true);
    expect(validate('ifid', '4294967296')).not.toBe(true);
    expect(validate('ifid', '5; reboot')).not.toBe(true);
    expect(validate('mtu', '67')).not.toBe(true);
    expect(validate('mtu', '1400')).toBe(true);
  });
});
