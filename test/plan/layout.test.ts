// The table and rule layout rules of plan.ts, one at a time.
import { describe, expect, it } from 'vitest';
import { validateOrThrow, type RawConfig } from '../../src/config/validate.ts';
import { plan, renderIpCommands, renderIpDeleteCommands } from '../../src/plan/plan.ts';

const rules = (o: RawConfig) => renderIpCommands(plan(validateOrThrow(o, 't'))).filter((l) => /rule add|route add/.test(l));

describe('tables', () => {
  it('main without rules; routes only', () => {
    expect(rules({ ifid: '4', route: '10.1.0.0/16' })).toEqual(['route add 10.1.0.0/16 dev t table main proto 88']);
  });
  it('a derived table as soon as a rule is asked for', () => {
    expect(rules({ ifid: '4', route: '10.1.0.0/16', mark: '0x4' })).toEqual([
      'route add 10.1.0.0/16 dev t table 10004 proto 88',
      'rule add prio 100 fwmark 0x4/0xffffffff lookup 10004 proto 88',
    ]);
  });
  it('an explicit table gets to-rules even without exempt mark', () => {
    expect(rules({ ifid: '4', route: '10.1.0.0/16', ip4table: '300' })).toEqual([
      'route add 10.1.0.0/16 dev t table 300 proto 88',
      'rule add prio 100 to 10.1.0.0/16 lookup 300 proto 88',
    ]);
  });
  it('the default table (253) by name', () => {
    expect(rules({ ifid: '4', route: '10.1.0.0/16', ip4table: 'default' })).toEqual([
      'route add 10.1.0.0/16 dev t table default proto 88',
      'rule add prio 100 to 10.1.0.0/16 lookup default proto 88',
    ]);
  });
  it('IPv4 and IPv6 tables are chosen separately', () => {
    expect(rules({ ifid: '4', route: '10.1.0.0/16', route6: 'fd01::/64', ip6table: '600' })).toEqual([
      'route add 10.1.0.0/16 dev t table main proto 88',
      '-6 route add fd01::/64 dev t table 600 proto 88 metric 1024',
      '-6 rule add prio 100 to fd01::/64 lookup 600 proto 88',
    ]);
  });
});

describe('rules', () => {
  it('source or mark entries are the only way in: no to-rules, no catch-all', () => {
    expect(rules({ ifid: '4', route: '10.1.0.0/16', source: '192.168.9.0/24', full_tunnel: '1', exempt_mark: '9', rule_priority: '500' })).toEqual([
      'route add 10.1.0.0/16 dev t table 10004 proto 88',
      'route add default dev t table 10004 proto 88',
      'rule add prio 499 fwmark 0x9/0xffffffff lookup main proto 88',
      'rule add prio 500 from 192.168.9.0/24 lookup 10004 proto 88',
    ]);
  });
  it('IPv6 sources make IPv6 rules only for them', () => {
    expect(rules({ ifid: '4', route6: 'fd01::/64', source: 'fd00::/64>fd01::/64', exempt_mark: '1' })).toEqual([
      '-6 route add fd01::/64 dev t table 10004 proto 88 metric 1024',
      '-6 rule add prio 99 fwmark 0x1/0xffffffff lookup main proto 88',
      '-6 rule add prio 100 from fd00::/64 to fd01::/64 lookup 10004 proto 88',
    ]);
  });
  it('marks apply to every family in use', () => {
    expect(rules({ ifid: '4', ipaddr: '10.0.0.1', ip6addr: 'fd00::1', mark: '0x10/0xf0' })).toEqual([
      'rule add prio 100 fwmark 0x10/0xf0 lookup 10004 proto 88',
      '-6 rule add prio 100 fwmark 0x10/0xf0 lookup 10004 proto 88',
    ]);
  });
  it('invert style with sources keeps the source rules plain', () => {
    expect(rules({ ifid: '4', route: '10.1.0.0/16', source: '192.168.9.0/24', exempt_mark: '9', rule_style: 'invert' })).toEqual([
      'route add 10.1.0.0/16 dev t table 10004 proto 88',
      'rule add prio 100 from 192.168.9.0/24 lookup 10004 proto 88',
    ]);
  });
});

describe('teardown commands', () => {
  it('deletes rules, routes and the device in reverse order', () => {
    const p = plan(validateOrThrow({ ifid: '4', ipaddr: '10.0.0.1', route: ['10.1.0.0/16', '10.2.0.0/16'], exempt_mark: '1' }, 't'));
    expect(renderIpDeleteCommands(p)).toEqual([
      'rule del prio 100 to 10.2.0.0/16 lookup 10004 proto 88',
      'rule del prio 100 to 10.1.0.0/16 lookup 10004 proto 88',
      'rule del prio 99 fwmark 0x1/0xffffffff lookup main proto 88',
      'route del 10.2.0.0/16 dev t table 10004 proto 88 src 10.0.0.1',
      'route del 10.1.0.0/16 dev t table 10004 proto 88 src 10.0.0.1',
      'link del t',
    ]);
  });
});
