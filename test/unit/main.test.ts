import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';

describe('xfrmd entry point', () => {
  it('lists its commands and rejects unknown ones', () => {
    const help = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('ubus');
    const bad = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', 'nope'], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("unknown command 'nope'");
  });
});
