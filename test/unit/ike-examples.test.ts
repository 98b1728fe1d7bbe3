// The README's IKE configurations (examples/ike/) agree with each other: the guest tests run the
// xfrmd sections, the swanctl.conf/strongswan.conf/ipsec.conf files and the peers' files; this
// checks what they cannot: that each file says what the xfrmd section says (if_id, marks, subnets),
// that both ends match, and that the OpenWrt UCI variants (ipsec.uci, read by openwrt/packages'
// /etc/init.d/swanctl) ask for the same as the swanctl.conf they stand for.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseUci, type UciSection } from '../../src/config/uci.ts';
import { IKE_DIR, IKE_SCENARIOS } from '../../scripts/ike-examples.ts';

/** strongswan.conf / swanctl.conf: `name {` … `}` sections and `key = value` settings. */
type Conf = { [k: string]: string | Conf };

export function parseSwanConf(text: string): Conf {
  const root: Conf = {};
  const stack: Conf[] = [root];
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (!line) continue;
    const top = stack[stack.length - 1]!;
    let m: RegExpExecArray | null;
    if ((m = /^([\w.%-]+)\s*\{$/.exec(line))) {
      const sub: Conf = {};
      top[m[1]!] = sub;
      stack.push(sub);
    } else if (line === '}') {
      if (stack.length === 1) throw new Error(`line ${i + 1}: unbalanced }`);
      stack.pop();
    } else if ((m = /^([\w.-]+)\s*=\s*(.*)$/.exec(line))) top[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
    else throw new Error(`line ${i + 1}: cannot read ${JSON.stringify(line)}`);
  }
  if (stack.length !== 1) throw new Error('unclosed section');
  return root;
}

const sub = (c: Conf | undefined, ...path: string[]): Conf => {
  let cur = c;
  for (const p of path) {
    const v = cur?.[p];
    if (typeof v !== 'object') throw new Error(`no section ${path.join('.')}`);
    cur = v;
  }
  return cur ?? {};
};
const val = (c: Conf, key: string): string | undefined => (typeof c[key] === 'string' ? c[key] : undefined);
const sections = (c: Conf): Array<[string, Conf]> => Object.entries(c).filter((e): e is [string, Conf] => typeof e[1] === 'object');
const words = (s: string | undefined) => (s ?? '').split(',').map((x) => x.trim()).filter(Boolean);
const listOf = (s: UciSection, k: string): string[] => {
  const v = s.options[k];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
};
const opt = (s: UciSection, k: string): string | undefined => {
  const v = s.options[k];
  return Array.isArray(v) ? v.join(' ') : v;
};

function read(scenario: string, file: string): string {
  return readFileSync(join(IKE_DIR, scenario, file), 'utf8');
}

/** The xfrm sections of a scenario's network file. */
function xfrmSections(scenario: string): UciSection[] {
  return parseUci(read(scenario, 'network')).sections.filter((s) => s.type === 'interface' && s.options.proto === 'xfrm');
}

/** Every child of a swanctl.conf with its connection. */
function children(c: Conf): Array<{ conn: string; connConf: Conf; child: string; conf: Conf }> {
  return sections(sub(c, 'connections')).flatMap(([conn, connConf]) => sections(sub(connConf, 'children')).map(([child, conf]) => ({ conn, connConf, child, conf })));
}

const swanctlScenarios = IKE_SCENARIOS.filter((s) => existsSync(join(IKE_DIR, s, 'swanctl.conf')));

describe('examples/ike: each file says what the xfrmd section says', () => {
  it("the scenario directories are exactly the README's list", () => {
    const dirs = readdirSync(IKE_DIR, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    expect(dirs.sort()).toEqual([...IKE_SCENARIOS].sort());
  });

  it.each(swanctlScenarios)('%s: each child carries the if_id of one section (in = out), each section has a child; charon installs no routes', (scenario) => {
    const conf = parseSwanConf(read(scenario, 'swanctl.conf'));
    const ifids = xfrmSections(scenario).map((s) => Number(s.options.ifid));
    const used = children(conf).map(({ conf: c }) => {
      expect(val(c, 'if_id_in')).toBe(val(c, 'if_id_out'));
      return Number(val(c, 'if_id_in'));
    });
    expect(used.sort()).toEqual(ifids.sort());
    expect(val(sub(parseSwanConf(read(scenario, 'strongswan.conf')), 'charon'), 'install_routes')).toBe('no');
  });

  it.each(swanctlScenarios)("%s: the child's remote_ts are the section's routes (or everything for a full tunnel), its local_ts its sources where it has some", (scenario) => {
    const conf = parseSwanConf(read(scenario, 'swanctl.conf'));
    for (const s of xfrmSections(scenario)) {
      const c = children(conf).find((x) => val(x.conf, 'if_id_in') === s.options.ifid)!.conf;
      const routes = [...listOf(s, 'route'), ...listOf(s, 'route6')];
      if (s.options.full_tunnel === '1') expect(words(val(c, 'remote_ts'))).toEqual(['0.0.0.0/0', '::/0']);
      else expect(words(val(c, 'remote_ts'))).toEqual(routes);
      const sources = listOf(s, 'source');
      if (sources.length) expect(words(val(c, 'local_ts'))).toEqual(sources);
      const addrs = [...listOf(s, 'ipaddr'), ...listOf(s, 'ip6addr')];
      if (addrs.length) expect(words(val(c, 'local_ts'))).toEqual(addrs);
    }
  });

  it('road warrior: the exempt mark is the SA output mark, IKE socket mark and the mark of charon route lookups', () => {
    const [s] = xfrmSections('road-warrior');
    const mark = s?.options.exempt_mark;
    expect(mark).toBe('0x6');
    const [c] = children(parseSwanConf(read('road-warrior', 'swanctl.conf')));
    expect(val(c!.conf, 'set_mark_out')).toBe(mark);
    const plugins = sub(parseSwanConf(read('road-warrior', 'strongswan.conf')), 'charon', 'plugins');
    expect(val(sub(plugins, 'socket-default'), 'fwmark')).toBe(mark);
    expect(val(sub(plugins, 'kernel-netlink'), 'fwmark')).toBe(`!${mark}`);
  });

  it('offload: the section asks for crypto offload on its parent; the child for hardware offload with an AES-GCM-16 proposal', () => {
    const [s] = xfrmSections('offload');
    expect(s?.options).toMatchObject({ offload: 'crypto', tunlink: 'wan' });
    const [c] = children(parseSwanConf(read('offload', 'swanctl.conf')));
    expect(val(c!.conf, 'hw_offload')).toBe('yes');
    expect(val(c!.conf, 'esp_proposals')).toMatch(/^aes128gcm16\b/);
  });

  it('libreswan: the section is ipsecN with ifid N = ipsec-interface, not ipsec1; _updown is off; the subnets are its routes', () => {
    const [s] = xfrmSections('libreswan');
    const ifid = s!.options.ifid as string;
    expect(s!.name).toBe(`ipsec${ifid}`);
    expect(ifid).not.toBe('1');
    const conns = parseIpsecConf(read('libreswan', 'ipsec.conf'));
    const site = conns.get('site')!;
    expect(site['ipsec-interface']).toBe(ifid);
    expect(site.leftupdown).toBe('%disabled');
    const started = [...conns.entries()].filter(([, c]) => c.auto === 'start').map(([, c]) => c);
    expect(started.map((c) => c.rightsubnet).sort()).toEqual([...listOf(s!, 'route'), ...listOf(s!, 'route6')].sort());
    expect(started.every((c) => c.also === 'site')).toBe(true);
    // the secret pairs the two ends
    expect(read('libreswan', 'ipsec.secrets')).toMatch(new RegExp(`^${site.left} ${site.right} : PSK "<PSK>"$`, 'm'));
  });
});

describe('examples/ike: both ends match', () => {
  const pairs: Array<[string, string, string]> = [
    ['site-to-site', 'swanctl.conf', 'peer-swanctl.conf'],
    ['road-warrior', 'swanctl.conf', 'peer-swanctl.conf'],
    ['routed-vpn', 'swanctl.conf', 'peer1-swanctl.conf'],
    ['routed-vpn', 'swanctl.conf', 'peer2-swanctl.conf'],
  ];
  it.each(pairs)('%s: %s and %s: addresses, ids, traffic selectors, proposals, one secret', (scenario, mine, theirs) => {
    const a = parseSwanConf(read(scenario, mine));
    const b = parseSwanConf(read(scenario, theirs));
    const [bConn] = children(b);
    // the router's connection to this peer: the one whose remote address is the peer's own
    const aConn = children(a).find((x) => val(x.connConf, 'remote_addrs') === val(bConn!.connConf, 'local_addrs'))!;
    expect(aConn, `no connection to ${val(bConn!.connConf, 'local_addrs')}`).toBeDefined();
    if (val(bConn!.connConf, 'remote_addrs')) expect(val(bConn!.connConf, 'remote_addrs')).toBe(val(aConn.connConf, 'local_addrs') ?? '192.0.2.1');
    expect(val(sub(aConn.connConf, 'local'), 'id')).toBe(val(sub(bConn!.connConf, 'remote'), 'id'));
    expect(val(sub(aConn.connConf, 'remote'), 'id')).toBe(val(sub(bConn!.connConf, 'local'), 'id'));
    expect(words(val(aConn.conf, 'local_ts'))).toEqual(words(val(bConn!.conf, 'remote_ts')));
    expect(words(val(aConn.conf, 'remote_ts'))).toEqual(words(val(bConn!.conf, 'local_ts')));
    expect(val(aConn.connConf, 'proposals')).toBe(val(bConn!.connConf, 'proposals'));
    expect(val(aConn.conf, 'esp_proposals')).toBe(val(bConn!.conf, 'esp_proposals'));
    // the router's secret for this peer and the peer's secret for the router are one placeholder
    const secretFor = (c: Conf, id: string | undefined) => sections(sub(c, 'secrets')).find(([, s]) => val(s, 'id') === id)?.[1];
    const mineSecret = secretFor(a, val(sub(aConn.connConf, 'remote'), 'id'));
    const theirSecret = secretFor(b, val(sub(bConn!.connConf, 'remote'), 'id'));
    expect(mineSecret && val(mineSecret, 'secret')).toMatch(/^<PSK\d?>$/);
    expect(val(theirSecret!, 'secret')).toBe(val(mineSecret!, 'secret'));
  });
});

/** libreswan's ipsec.conf: `conn <name>` followed by indented `key=value` lines. */
function parseIpsecConf(text: string): Map<string, Record<string, string>> {
  const conns = new Map<string, Record<string, string>>();
  let cur: Record<string, string> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '');
    let m: RegExpExecArray | null;
    if ((m = /^conn\s+(\S+)\s*$/.exec(line))) conns.set(m[1]!, (cur = {}));
    else if (/^\S/.test(line)) cur = undefined;
    else if (cur && (m = /^\s+([\w-]+)=(.*)$/.exec(line))) cur[m[1]!] = m[2]!.trim().replace(/^"(.*)"$/, '$1');
  }
  return conns;
}

/**
 * What openwrt/packages' swanctl.init writes for a UCI `remote` and its `tunnel`s (read for the
 * option names and their mapping; the test compares, it does not generate a configuration).
 */
describe('examples/ike: the OpenWrt UCI variants ask for what swanctl.conf says', () => {
  const uciScenarios = IKE_SCENARIOS.filter((s) => existsSync(join(IKE_DIR, s, 'ipsec.uci')));

  it.each(uciScenarios)('%s: ipsec.uci = swanctl.conf', (scenario) => {
    const uci = parseUci(read(scenario, 'ipsec.uci')).sections;
    const conf = parseSwanConf(read(scenario, 'swanctl.conf'));
    const byName = new Map(uci.map((s) => [s.name, s]));
    /** swanctl.init: encryption[-hash][-prf][-dh] per crypto_proposal, comma-joined */
    const proposals = (s: UciSection) =>
      listOf(s, 'crypto_proposal')
        .map((n) => byName.get(n)!)
        .map((p) => [opt(p, 'encryption_algorithm'), opt(p, 'hash_algorithm'), opt(p, 'prf_algorithm'), opt(p, 'dh_group')].filter(Boolean).join('-'))
        .join(',');
    expect(opt(byName.get('globals')!, 'rtinstall_enabled')).toBe('0');
    expect(val(sub(parseSwanConf(read(scenario, 'strongswan.conf')), 'charon'), 'install_routes')).toBe('no');
    const remotes = uci.filter((s) => s.type === 'remote');
    expect(remotes.map((r) => r.name).sort()).toEqual(sections(sub(conf, 'connections')).map(([n]) => n).sort());
    for (const r of remotes) {
      const c = sub(conf, 'connections', r.name);
      expect(opt(r, 'enabled')).toBe('1');
      expect(listOf(r, 'local_addrs').join(',') || undefined).toBe(val(c, 'local_addrs'));
      expect(listOf(r, 'remote_addrs').join(',')).toBe(val(c, 'remote_addrs'));
      expect(opt(r, 'authentication_method')).toBe(val(sub(c, 'local'), 'auth'));
      expect(opt(r, 'local_identifier')).toBe(val(sub(c, 'local'), 'id'));
      expect(opt(r, 'remote_identifier')).toBe(val(sub(c, 'remote'), 'id'));
      expect(opt(r, 'dpddelay')).toBe(val(c, 'dpd_delay'));
      expect(proposals(r)).toBe(val(c, 'proposals'));
      const secret = sections(sub(conf, 'secrets')).find(([, s]) => val(s, 'id') === opt(r, 'remote_identifier'));
      expect(opt(r, 'pre_shared_key')).toBe(secret && val(secret[1], 'secret'));
      expect(listOf(r, 'tunnel').sort()).toEqual(sections(sub(c, 'children')).map(([n]) => n).sort());
      for (const tn of listOf(r, 'tunnel')) {
        const t = byName.get(tn)!;
        const ch = sub(c, 'children', tn);
        expect(t.type).toBe('tunnel');
        expect(listOf(t, 'local_subnet').join(', ')).toBe(val(ch, 'local_ts'));
        expect(listOf(t, 'remote_subnet').join(', ')).toBe(val(ch, 'remote_ts'));
        // if_id → if_id_in and if_id_out
        expect(opt(t, 'if_id')).toBe(val(ch, 'if_id_in'));
        expect(opt(t, 'if_id')).toBe(val(ch, 'if_id_out'));
        expect(opt(t, 'hw_offload')).toBe(val(ch, 'hw_offload'));
        // startaction start → start_action = start, dpdaction restart → dpd_action = restart
        expect(opt(t, 'startaction')).toBe(val(ch, 'start_action'));
        expect(opt(t, 'dpdaction')).toBe(val(ch, 'dpd_action'));
        expect(proposals(t)).toBe(val(ch, 'esp_proposals'));
        // what UCI cannot say must not be in the swanctl.conf it stands for
        for (const k of Object.keys(ch)) expect(['local_ts', 'remote_ts', 'if_id_in', 'if_id_out', 'hw_offload', 'start_action', 'dpd_action', 'esp_proposals'], `${tn}.${k}`).toContain(k);
      }
    }
  });
});
