// The daemon's logger: pino's line layout, which logread users and our harnesses read.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, isoTime } from '../../src/log.ts';

describe('logger', () => {
  it('writes one JSON object per line: level, time, name, the child fields, the fields, msg', () => {
    const dir = mkdtempSync(join(tmpdir(), 'xfrmd-log-'));
    const file = join(dir, 'log');
    const log = createLogger('info', file);
    log.debug('dropped below the level');
    log.info('plain');
    log.child({ iface: 'vpn0' }).warn({ code: 'PARENT_DOWN' }, 'tunlink wan is not up yet');
    log.error({ err: Object.assign(new Error('boom'), { status: 10 }) }, 'failed');
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    rmSync(dir, { recursive: true, force: true });
    expect(lines).toHaveLength(3);
    expect(Object.keys(lines[1]!)).toEqual(['level', 'time', 'name', 'iface', 'code', 'msg']);
    expect(lines[1]).toMatchObject({ level: 40, name: 'xfrmd', iface: 'vpn0', code: 'PARENT_DOWN', msg: 'tunlink wan is not up yet' });
    expect(lines[2]?.err).toMatchObject({ type: 'Error', message: 'boom', status: 10 });
    expect(Date.parse(String(lines[0]?.time))).not.toBeNaN();
  });

  it('prints times as Date.toISOString does (leap days, year ends, before 1970)', () => {
    for (const ms of [0, -1, 951_782_400_000, 951_868_799_999, 946_684_799_999, 1_709_164_800_000, 4_102_444_800_000, -86_400_001, Date.now()]) {
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    }
  });
});
