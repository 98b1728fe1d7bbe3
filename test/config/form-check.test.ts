// The LuCI form's per-field checks: picked from the daemon's own issues.
import { describe, expect, it } from 'vitest';
import { entryProblem, fieldProblem } from '../../src/config/form-check.ts';

describe('form checks', () => {
  it('a scalar field gets the daemon\'s sentence, without the section and option prefix', () => {
    expect(fieldProblem('vpn0', { ifid: '5', mtu: '67' }, 'mtu')).toBe("'67' is outside 68..65535");
    expect(fieldProblem('vpn0', { ifid: '5', mtu: '1400' }, 'mtu')).toBeUndefined();
  });

  it('an empty field is unset, as on Save', () => {
    expect(fieldProblem('vpn0', { ifid: '' }, 'ifid')).toMatch(/ifid is missing/);
    expect(fieldProblem('vpn0', { ifid: '', external: '1' }, 'ifid')).toBeUndefined();
  });

  it('cross-option rules land on the field the daemon names', () => {
    const v = { ifid: '5', full_tunnel: '1' };
    expect(fieldProblem('vpn0', v, 'full_tunnel')).toMatch(/needs option exempt_mark/);
    expect(fieldProblem('vpn0', { ...v, exempt_mark: '0x6' }, 'full_tunnel')).toBeUndefined();
    expect(fieldProblem('vpn0', { ...v, exempt_mark: '0x6', ip4table: 'main' }, 'ip4table')).toMatch(/table other than main/);
  });

  it('another field\'s mistake is not this field\'s', () => {
    expect(fieldProblem('vpn0', { ifid: '0', mtu: '1400' }, 'mtu')).toBeUndefined();
  });

  it('a list entry is judged against the entries already there', () => {
    const v = { ifid: '5', route: ['10.2.0.0/16'] };
    expect(entryProblem('vpn0', v, 'route', '10.3.0.0/16')).toBeUndefined();
    expect(entryProblem('vpn0', v, 'route', '10.2.0.0/16')).toMatch(/listed twice/);
    expect(entryProblem('vpn0', v, 'route', '10.0.0.0/33')).toMatch(/invalid prefix length/);
    expect(entryProblem('vpn0', v, 'route', '')).toBeUndefined();
  });

  it('a bad entry already stored does not make every new entry bad', () => {
    expect(entryProblem('vpn0', { ifid: '5', route: ['10.0.0.1/8'] }, 'route', '10.3.0.0/16')).toBeUndefined();
  });
});
