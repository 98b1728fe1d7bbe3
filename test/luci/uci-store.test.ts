// The stand-in rpcd's UCI behaves as rpcd's does where LuCI depends on it.
import { describe, expect, it, vi } from 'vitest';
import { UBUS, UciStore } from './support/uci-store.ts';

const store = () =>
  new UciStore({
    network: {
      lan: { '.type': 'interface', proto: 'static', ipaddr: '192.168.1.1' },
      vpn0: { '.type': 'interface', proto: 'xfrm', ifid: '5', route: ['10.20.0.0/16'] },
    },
  });

describe('stand-in UCI', () => {
  it('get answers the committed config with the session\'s changes, in order, with .index', () => {
    const u = store();
    expect(u.set('network', 'vpn0', { mtu: '1400', route: ['10.1.0.0/16', '10.2.0.0/16'] })).toEqual([UBUS.OK]);
    expect(u.delete('network', 'vpn0', ['ifid'])).toEqual([UBUS.OK]);
    const [rc, data] = u.get('network');
    expect(rc).toBe(UBUS.OK);
    const values = (data as { values: Record<string, Record<string, unknown>> }).values;
    expect(Object.keys(values)).toEqual(['lan', 'vpn0']);
    expect(values.vpn0).toMatchObject({ '.type': 'interface', '.name': 'vpn0', '.index': 1, proto: 'xfrm', mtu: '1400', route: ['10.1.0.0/16', '10.2.0.0/16'] });
    expect(values.vpn0).not.toHaveProperty('ifid');
    // nothing is committed yet
    expect(u.committedSection('network', 'vpn0')).toEqual({ proto: 'xfrm', ifid: '5', route: ['10.20.0.0/16'] });
    expect(u.get('nosuch')).toEqual([UBUS.NOT_FOUND]);
    expect(u.set('network', 'nosuch', { a: '1' })).toEqual([UBUS.NOT_FOUND]);
  });

  it('changes lists the session\'s change records as uci changes shows them', () => {
    const u = store();
    u.set('network', 'vpn0', { mtu: '1400', route: ['10.1.0.0/16'] });
    u.delete('network', 'vpn0', ['ifid']);
    u.add('network', 'interface', 'wg0', { proto: 'none' });
    expect(u.changes()).toEqual([UBUS.OK, { changes: { network: [
      ['set', 'vpn0', 'mtu', '1400'], ['remove', 'vpn0', 'route'], ['list-add', 'vpn0', 'route', '10.1.0.0/16'],
      ['remove', 'vpn0', 'ifid'], ['add', 'wg0', 'interface'], ['set', 'wg0', 'proto', 'none'],
    ] } }]);
    u.revert('network');
    expect(u.changes()).toEqual([UBUS.OK, { changes: {} }]);
  });

  it('apply with rollback commits, and rolls back unless confirmed in time', () => {
    vi.useFakeTimers();
    try {
      const u = store();
      u.set('network', 'vpn0', { mtu: '1400' });
      expect(u.confirm()).toEqual([UBUS.NO_DATA]);
      expect(u.apply(true, 30)).toEqual([UBUS.OK]);
      expect(u.committedSection('network', 'vpn0')?.mtu).toBe('1400');
      expect(u.apply(true, 30)).toEqual([UBUS.PERMISSION_DENIED]); // one pending apply at a time
      vi.advanceTimersByTime(30_000);
      expect(u.rollbackPending).toBe(false);
      expect(u.committedSection('network', 'vpn0')?.mtu).toBeUndefined();

      u.set('network', 'vpn0', { mtu: '1400' });
      u.apply(true, 30);
      expect(u.confirm()).toEqual([UBUS.OK]);
      vi.advanceTimersByTime(60_000);
      expect(u.committedSection('network', 'vpn0')?.mtu).toBe('1400');
    } finally {
      vi.useRealTimers();
    }
  });
});
