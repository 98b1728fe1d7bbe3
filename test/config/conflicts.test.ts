// Cross-section checks: what the daemon asks before bringing one interface up
// next to the others.
import { describe, expect, it } from 'vitest';
import { checkConflicts, checkConflictsFor, rulesOverlap } from '../../src/config/conflicts.ts';
import { validateOrThrow, type RawConfig } from '../../src/config/validate.ts';
import { XFRMD_RTPROT, type RuleSpec } from '../../src/model.ts';

const cfgs = (...list: Array<[string, RawConfig]>) => list.map(([s, o]) => validateOrThrow(o, s));

describe('checkConflicts', () => {
  it('accepts independent sections', () => {
    expect(checkConflicts(cfgs(['a', { ifid: '1' }], ['b', { ifid: '2' }]))).toEqual([]);
  });

  it('DUPLICATE_IFID names the section that has it first', () => {
    const issues = checkConflicts(cfgs(['a', { ifid: '5' }], ['b', { ifid: '0x5' }], ['c', { ifid: 5 }]));
    expect(issues.map((i) => [i.code, i.section, i.other])).toEqual([
      ['DUPLICATE_IFID', 'b', 'a'],
      ['DUPLICATE_IFID', 'c', 'a'],
    ]);
    expect(issues[0]?.message).toBe('b: ifid 5 is already used by interface a; each XFRM interface needs its own if_id');
  });

  it('DUPLICATE_EXTERNAL: one collect-metadata device per netns', () => {
    const issues = checkConflicts(cfgs(['a', { external: '1' }], ['b', { external: '1' }]));
    expect(issues.map((i) => [i.code, i.section, i.other])).toEqual([['DUPLICATE_EXTERNAL', 'b', 'a']]);
  });

  it('TABLE_CONFLICT when an explicit table is another section\'s derived one', () => {
    const issues = checkConflicts(cfgs(['a', { ifid: '5', route: '10.1.0.0/16', exempt_mark: '1' }], ['b', { ifid: '6', route: '10.2.0.0/16', ip4table: '10005', rule_priority: '200' }]));
    expect(issues.map((i) => [i.code, i.section, i.other, i.option])).toEqual([['TABLE_CONFLICT', 'b', 'a', 'ip4table']]);
    expect(issues[0]?.message).toContain('derived from its ifid');
  });

  it('TABLE_CONFLICT when two derived tables wrap onto one (if_ids 2^31 apart)', () => {
    const issues = checkConflicts(cfgs(['a', { ifid: '5', exempt_mark: '1' }], ['b', { ifid: String(0x80000005), exempt_mark: '1', rule_priority: '300' }]));
    expect(issues.map((i) => i.code)).toEqual(['TABLE_CONFLICT']);
  });

  it('an explicitly shared table is fine, the same route in it is ROUTE_CONFLICT', () => {
    const shared = checkConflicts(cfgs(['a', { ifid: '1', route: '10.1.0.0/16', ip4table: '50' }], ['b', { ifid: '2', route: '10.2.0.0/16', ip4table: '50' }]));
    expect(shared).toEqual([]);
    const same = checkConflicts(cfgs(['a', { ifid: '1', route: '10.1.0.0/16' }], ['b', { ifid: '2', route: '10.1.0.0/16' }]));
    expect(same.map((i) => [i.code, i.section, i.other])).toEqual([['ROUTE_CONFLICT', 'b', 'a']]);
    expect(same[0]?.message).toContain('10.1.0.0/16 in table main');
    const metric = checkConflicts(cfgs(['a', { ifid: '1', route: '10.1.0.0/16' }], ['b', { ifid: '2', route: '10.1.0.0/16,metric=10' }]));
    expect(metric).toEqual([]);
  });

  it('PRIORITY_CONFLICT: same destination, different tables, same priority', () => {
    const issues = checkConflicts(cfgs(['a', { ifid: '1', route: '10.0.0.0/8', exempt_mark: '1' }], ['b', { ifid: '2', route: '10.1.0.0/16', exempt_mark: '1' }]));
    expect(issues.map((i) => [i.code, i.section, i.other])).toEqual([['PRIORITY_CONFLICT', 'b', 'a']]);
    expect(issues[0]?.message).toBe(
      "b: rule 'to 10.1.0.0/16 lookup 10002' at priority 100 can match the same packets as a's 'to 10.0.0.0/8 lookup 10001'; set a different rule_priority (e.g. 102)",
    );
  });

  it('no conflict for disjoint destinations, disjoint sources, disjoint marks, or equal exempt rules', () => {
    expect(checkConflicts(cfgs(['a', { ifid: '1', route: '10.1.0.0/16', exempt_mark: '1' }], ['b', { ifid: '2', route: '10.2.0.0/16', exempt_mark: '1' }]))).toEqual([]);
    expect(checkConflicts(cfgs(['a', { ifid: '1', route: '10.0.0.0/8', source: '192.168.1.0/24' }], ['b', { ifid: '2', route: '10.0.0.0/8', source: '192.168.2.0/24', ip4table: '60' }]))).toEqual([]);
    expect(checkConflicts(cfgs(['a', { ifid: '1', route: '10.0.0.0/8', mark: '1/0xf' }], ['b', { ifid: '2', route: '10.0.0.0/8', mark: '2/0xf', ip4table: '60' }]))).toEqual([]);
  });

  it('overlapping sources at the same priority conflict; distinct priorities resolve it', () => {
    const a: [string, RawConfig] = ['a', { ifid: '1', route: '10.0.0.0/8', source: '192.168.1.0/24' }];
    expect(checkConflicts(cfgs(a, ['b', { ifid: '2', route: '10.0.0.0/8', source: '192.168.0.0/16', ip4table: '60' }])).map((i) => i.code)).toEqual(['PRIORITY_CONFLICT']);
    expect(checkConflicts(cfgs(a, ['b', { ifid: '2', route: '10.0.0.0/8', source: '192.168.0.0/16', ip4table: '60', rule_priority: '110' }]))).toEqual([]);
  });

  it('rules that overlap but lead to tables with disjoint routes do not conflict (a lookup without a route falls through)', () => {
    // routed VPN by source next to multihoming by mark, both on the default rule_priority
    const routed: [string, RawConfig] = ['routed', { ifid: '1', ipaddr: '10.9.0.2/32', source: '192.168.1.0/24', route: '10.9.0.0/16' }];
    const marked: [string, RawConfig] = ['marked', { ifid: '2', ipaddr: '10.31.0.2/32', mark: '0x1/0xff', route: '10.31.0.0/16' }];
    expect(checkConflicts(cfgs(routed, marked))).toEqual([]);
    expect(checkConflictsFor(validateOrThrow(marked[1], 'marked'), cfgs(routed))).toEqual([]);
    // the same with explicit tables
    expect(checkConflicts(cfgs(['routed', { ...routed[1], ip4table: '101' }], ['marked', { ...marked[1], ip4table: '102' }]))).toEqual([]);
    // overlapping destinations in both tables: the order decides, so it is a conflict
    const overlap = checkConflicts(cfgs(routed, ['marked', { ...marked[1], route: '10.9.128.0/17' }]));
    expect(overlap.map((i) => [i.code, i.section, i.other])).toEqual([['PRIORITY_CONFLICT', 'marked', 'routed']]);
    expect(overlap[0]?.message).toContain("'fwmark 0x1/0xff lookup 10002'");
  });

  it('a rule into main (unknown routes) conflicts with any overlapping rule whose table routes the packet', () => {
    // b's base is a's base - 1: b's source rule (lookup 10002) meets a's exempt rule (lookup main) at 99
    const issues = checkConflicts(cfgs(['a', { ifid: '1', route: '10.1.0.0/16', exempt_mark: '6' }], ['b', { ifid: '2', route: '10.2.0.0/16', source: '192.168.7.0/24', rule_priority: '99' }]));
    expect(issues.map((i) => [i.code, i.section, i.other])).toEqual([['PRIORITY_CONFLICT', 'b', 'a']]);
    // a table nothing is routed into answers nothing: no conflict
    expect(checkConflicts(cfgs(['a', { ifid: '1', route: '10.1.0.0/16', exempt_mark: '6' }], ['b', { ifid: '2', source: '192.168.7.0/24', ip4table: '77', rule_priority: '99' }]))).toEqual([]);
  });

  it('two full tunnels at the same priority conflict', () => {
    const ft = (id: string) => ({ ifid: id, full_tunnel: '1', exempt_mark: '0x5' });
    const issues = checkConflicts(cfgs(['a', ft('1')], ['b', ft('2')]));
    expect(issues.map((i) => i.code)).toEqual(['PRIORITY_CONFLICT']);
    expect(issues[0]?.message).toContain('e.g. 104');
  });

  it('one issue per section even when many rules collide', () => {
    const issues = checkConflicts(cfgs(['a', { ifid: '1', route: ['10.1.0.0/16', '10.2.0.0/16'], exempt_mark: '1' }], ['b', { ifid: '2', route: ['10.1.0.0/16', '10.2.0.0/16'], exempt_mark: '1' }]));
    expect(issues.filter((i) => i.code === 'PRIORITY_CONFLICT')).toHaveLength(1);
  });

  // How long this takes is measured by `npm run bench -- scale` (scale.n<N>_validate_ms), not here.
  it('finds nothing among 1000 sections that do not collide', () => {
    const many = Array.from({ length: 1000 }, (_, i) => validateOrThrow({ ifid: String(i + 1), route: `10.${i >> 8}.${i & 255}.0/24`, exempt_mark: '1' }, `t${i}`));
    expect(checkConflicts(many)).toEqual([]);
  });
});

describe('checkConflictsFor (the daemon bringing one interface up next to running ones)', () => {
  it('reports only the candidate\'s issues; the running ones keep what they have', () => {
    const running = cfgs(['a', { ifid: '5' }], ['b', { ifid: '5' }], ['c', { ifid: '7', route: '10.0.0.0/8', exempt_mark: '1' }]);
    const [cand] = cfgs(['d', { ifid: '7', route: '10.1.0.0/16', exempt_mark: '1' }]);
    if (!cand) throw new Error('no candidate');
    const issues = checkConflictsFor(cand, running);
    // same if_id → same derived table as well
    expect(issues.map((i) => [i.code, i.section, i.other])).toEqual([
      ['DUPLICATE_IFID', 'd', 'c'],
      ['TABLE_CONFLICT', 'd', 'c'],
    ]);
    const [cand2] = cfgs(['e', { ifid: '8', route: '10.1.0.0/16', exempt_mark: '1' }]);
    if (!cand2) throw new Error('no candidate');
    expect(checkConflictsFor(cand2, running).map((i) => [i.code, i.section, i.other])).toEqual([['PRIORITY_CONFLICT', 'e', 'c']]);
  });

  it('agrees with checkConflicts on the last section', () => {
    const list = cfgs(
      ['a', { ifid: '1', route: '10.0.0.0/8', source: '192.168.0.0/16' }],
      ['b', { ifid: '2', route: '10.0.0.0/8', mark: '0x2/0xf' }],
      ['c', { ifid: '3', route: ['10.0.0.0/8', '172.16.0.0/12'], exempt_mark: '9', full_tunnel: '1' }],
      ['d', { ifid: '4', route: '10.1.0.0/16,metric=3', mark: '0x2/0x3' }],
    );
    for (let n = 1; n < list.length; n++) {
      const cand = list[n]!;
      const viaAll = checkConflicts(list.slice(0, n + 1)).filter((i) => i.section === cand.section);
      expect(checkConflictsFor(cand, list.slice(0, n)), cand.section).toEqual(viaAll);
    }
  });

  it('ignores a running copy of itself (reload of the same section)', () => {
    const [old] = cfgs(['a', { ifid: '5', route: '10.0.0.0/8' }]);
    const [now] = cfgs(['a', { ifid: '5', route: '10.0.0.0/8' }]);
    if (!old || !now) throw new Error('no config');
    expect(checkConflictsFor(now, [old])).toEqual([]);
  });

  it('finds nothing when 1000 non-colliding interfaces come up one by one', () => {
    const all = Array.from({ length: 1000 }, (_, i) => validateOrThrow({ ifid: String(i + 1), route: `10.${i >> 8}.${i & 255}.0/24`, exempt_mark: '1' }, `t${i}`));
    for (let i = 0; i < all.length; i++) expect(checkConflictsFor(all[i]!, all.slice(0, i))).toEqual([]);
  });
});

describe('rulesOverlap', () => {
  const r = (x: Partial<RuleSpec>): RuleSpec => ({ family: 4, priority: 100, action: 'lookup', table: 10, protocol: XFRMD_RTPROT, ...x });
  it('compares selectors', () => {
    expect(rulesOverlap(r({}), r({ dst: { addr: '10.0.0.0', len: 8 } }))).toBe(true);
    expect(rulesOverlap(r({ family: 6 }), r({}))).toBe(false);
    expect(rulesOverlap(r({ fwmark: 1, fwmask: 0xff }), r({ fwmark: 0x101, fwmask: 0xffff }))).toBe(true);
    expect(rulesOverlap(r({ fwmark: 1, fwmask: 0xff }), r({ fwmark: 2, fwmask: 0xff }))).toBe(false);
    expect(rulesOverlap(r({ src: { addr: '10.0.0.0', len: 8 } }), r({ src: { addr: '11.0.0.0', len: 8 } }))).toBe(false);
    expect(rulesOverlap(r({ invert: true, fwmark: 1 }), r({ fwmark: 1 }))).toBe(true);
  });
});
