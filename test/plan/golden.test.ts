// Golden plans: each recipe of xfrm-facts.md as a fixture (UCI options +
// resolved facts) → the exact iproute2 commands, written by hand in the fixture.
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import JSON5 from 'json5';
import { validateConfig, type RawConfig } from '../../src/config/validate.ts';
import { checkConflicts } from '../../src/config/conflicts.ts';
import { plan, renderIpCommands, splitBatch, type Facts, type Plan } from '../../src/plan/plan.ts';
import { XFRMD_RTPROT } from '../../src/model.ts';

interface Fixture {
  recipe: string;
  sections: Array<{ section: string; options: RawConfig; facts?: Facts }>;
  commands: string[];
  data?: Array<Record<string, unknown>>;
  skipped?: unknown[][];
  conflicts?: string[];
}

const dir = join(import.meta.dirname, '../fixtures/plans');
const fixtures = readdirSync(dir)
  .filter((f) => f.endsWith('.json5'))
  .sort()
  .map((f) => ({ file: f, fx: JSON5.parse(readFileSync(join(dir, f), 'utf8')) as Fixture }));

function plansOf(fx: Fixture): Plan[] {
  return fx.sections.map((s) => {
    const r = validateConfig(s.options, s.section, { strict: true });
    if (!r.ok) throw new Error(`${s.section}: ${r.errors.map((e) => `${e.code} ${e.message}`).join('; ')}`);
    return plan(r.config, s.facts ?? {});
  });
}

describe('golden plans', () => {
  it('has a fixture for every recipe', () => {
    expect(fixtures.map((f) => f.file)).toEqual([
      'dual-stack.json5', 'external-and-hex.json5', 'full-tunnel.json5', 'left-right-skip.json5', 'multihoming.json5',
      'road-warrior-exempt.json5', 'road-warrior-invert.json5', 'routed-vpn-sources.json5', 'stock-minimal.json5',
    ]);
  });

  for (const { file, fx } of fixtures) {
    describe(`${fx.recipe} (${file})`, () => {
      it('plans exactly the hand-written commands', () => {
        expect(plansOf(fx).flatMap(renderIpCommands)).toEqual(fx.commands);
      });
      if (fx.data) {
        it('notifies the expected data', () => {
          expect(plansOf(fx).map((p) => p.data)).toEqual(fx.data);
        });
      }
      if (fx.skipped) {
        it('reports the skipped routes', () => {
          expect(plansOf(fx).map((p) => p.skipped)).toEqual(fx.skipped);
        });
      }
      if (fx.conflicts) {
        it('has the expected cross-section issues', () => {
          const configs = fx.sections.map((s) => {
            const r = validateConfig(s.options, s.section);
            if (!r.ok) throw new Error('invalid');
            return r.config;
          });
          expect(checkConflicts(configs).map((i) => i.code)).toEqual(fx.conflicts);
        });
      }
      it('is deterministic', () => {
        expect(plansOf(fx)).toEqual(plansOf(fx));
      });
    });
  }
});

describe('plan objects', () => {
  it('road warrior: the rule and route specs the reconciler gets', () => {
    const r = validateConfig({ ifid: '1', tunlink: 'wan', ipaddr: '10.9.0.2', route: '192.0.2.1/32', exempt_mark: '6', ip4table: '50' }, 'ipsec1');
    if (!r.ok) throw new Error('invalid');
    const p = plan(r.config, { parent: { ifindex: 2, name: 'eth0' } });
    expect(p.link).toEqual({ name: 'ipsec1', ifId: 1, link: 2, collectMetadata: false, mtu: 1280, multicast: true });
    expect(p.addresses).toEqual([{ family: 4, address: '10.9.0.2', prefixLen: 32, dev: 'ipsec1' }]);
    expect(p.routes).toEqual([
      { family: 4, dst: '192.0.2.1', dstLen: 32, table: 50, type: 'unicast', dev: 'ipsec1', prefsrc: '10.9.0.2', protocol: XFRMD_RTPROT },
    ]);
    expect(p.rules).toEqual([
      { family: 4, priority: 99, action: 'lookup', table: 254, fwmark: 6, fwmask: 0xffffffff, protocol: XFRMD_RTPROT },
      { family: 4, priority: 100, action: 'lookup', table: 50, dst: { addr: '192.0.2.1', len: 32 }, protocol: XFRMD_RTPROT },
    ]);
    expect(p.parentName).toBe('eth0');
  });

  it('a parent that is not resolved (yet) gives link 0 and no dev', () => {
    const r = validateConfig({ ifid: '1', tunlink: 'wan' }, 'ipsec1');
    if (!r.ok) throw new Error('invalid');
    const p = plan(r.config);
    expect(p.link.link).toBe(0);
    expect(renderIpCommands(p)[0]).toBe('link add ipsec1 mtu 1280 type xfrm if_id 1');
  });

  it('ignores facts about a parent the config does not have', () => {
    const r = validateConfig({ ifid: '1' }, 'ipsec1');
    if (!r.ok) throw new Error('invalid');
    expect(plan(r.config, { parent: { ifindex: 9, name: 'eth9' } }).link.link).toBe(0);
  });

  it('splits commands into an IPv4 and an IPv6 ip -batch input', () => {
    const r = validateConfig({ ifid: '3', ip6addr: 'fd00::1/64', route6: 'fd01::/64', exempt_mark: '1' }, 'x');
    if (!r.ok) throw new Error('invalid');
    const { inet, inet6 } = splitBatch(renderIpCommands(plan(r.config)));
    expect(inet).toEqual([
      'link add x mtu 1280 type xfrm if_id 3',
      'link set x multicast on',
      'address add fd00::1/64 dev x',
      'link set x up',
    ]);
    expect(inet6).toEqual([
      'route add fd01::/64 dev x table 10003 proto 88 src fd00::1 metric 1024',
      'rule add prio 99 fwmark 0x1/0xffffffff lookup main proto 88',
      'rule add prio 100 to fd01::/64 lookup 10003 proto 88',
    ]);
  });
});
