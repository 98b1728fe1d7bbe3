// The netifd shim runs under busybox ash on the router. Here it runs under
// busybox ash too, with stand-ins for `ubus` and the netifd-proto.sh helpers
// that record exactly what they were given.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { dumpLine } from '../../src/config/schema.ts';

const SHIM = resolve('files/lib/netifd/proto/xfrm.sh');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'xfrmd-shim-'));
  mkdirSync(join(dir, 'bin'));
  // ubus stand-in: logs its argv as one JSON line; behaviour from env.
  writeFileSync(
    join(dir, 'bin', 'ubus'),
    `#!${process.execPath}
const fs = require('fs');
const argv = process.argv.slice(2);
fs.appendFileSync(process.env.LOG, JSON.stringify({ ubus: argv }) + '\\n');
if (argv.includes('wait_for')) process.exit(Number(process.env.WAIT_STATUS || 0));
if (argv.includes('call')) {
  // CALL_STATUS for the first call, CALL_STATUS_2 for a second one
  const n = fs.readFileSync(process.env.LOG, 'utf8').split('\\n').filter((l) => l.includes('"call"')).length;
  if (process.env.CALL_STATUS && process.env.CALL_STATUS !== '0') process.stderr.write('Command failed: Not found\\nUsage: ubus [<options>] <command> [arguments...]\\n');
  process.stdout.write(process.env.CALL_OUT || '');
  process.exit(Number((n > 1 ? process.env.CALL_STATUS_2 : undefined) ?? process.env.CALL_STATUS ?? 0));
}
`,
  );
  chmodSync(join(dir, 'bin', 'ubus'), 0o755);
  writeFileSync(
    join(dir, 'netifd-proto.sh'),
    `proto_notify_error() { printf '%s\\n' "{\\"helper\\":\\"proto_notify_error\\",\\"args\\":\\"$*\\"}" >> "$LOG"; }
proto_block_restart() { printf '%s\\n' "{\\"helper\\":\\"proto_block_restart\\",\\"args\\":\\"$*\\"}" >> "$LOG"; }
proto_setup_failed() { printf '%s\\n' "{\\"helper\\":\\"proto_setup_failed\\",\\"args\\":\\"$*\\"}" >> "$LOG"; }
`,
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runShim(args: string[], env: Record<string, string> = {}) {
  const log = join(dir, `log-${Math.random().toString(36).slice(2)}`);
  writeFileSync(log, '');
  const r = spawnSync('busybox', ['ash', SHIM, ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { PATH: `${join(dir, 'bin')}:/usr/bin:/bin`, LOG: log, XFRMD_NETIFD_PROTO: join(dir, 'netifd-proto.sh'), ...env },
  });
  const calls = readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { ubus?: string[]; helper?: string; args?: string });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, calls };
}

describe('netifd shim (busybox ash)', () => {
  it('dump prints one line of JSON naming the protocol and its options', () => {
    const r = runShim(['', 'dump']);
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n').filter(Boolean);
    expect(lines).toEqual([dumpLine()]);
    const dump = JSON.parse(lines[0]!) as { name: string; config: Array<[string, number]>; 'no-device': boolean };
    expect(dump.name).toBe('xfrm');
    expect(dump['no-device']).toBe(true);
    const names = dump.config.map(([n]) => n);
    for (const stock of ['ifid', 'tunlink', 'mtu', 'zone', 'multicast']) expect(names).toContain(stock);
    expect(r.calls).toEqual([]);
  });

  it('setup is one ubus call forwarding name and config as one JSON argument, quietly', () => {
    const config = '{"proto":"xfrm","ifid":"5","tunlink":"wan","ipaddr":["10.0.0.1/24"]}';
    const r = runShim(['xfrm', 'setup', 'vpn0', config], { CALL_OUT: '{}\n' });
    expect(r.status).toBe(0);
    expect(r.calls.map((c) => c.ubus)).toEqual([['-t', '10', 'call', 'xfrmd', 'setup', `{"interface":"vpn0","config":${config}}`]]);
    expect(JSON.parse(r.calls[0]!.ubus![5]!)).toEqual({ interface: 'vpn0', config: JSON.parse(config) });
    expect(r.stdout + r.stderr).toBe('');
  });

  it('passes shell metacharacters through verbatim and never runs them', () => {
    const marker = join(dir, 'pwned');
    const config = JSON.stringify({ proto: 'xfrm', zone: `$(touch ${marker})`, ifid: '`touch ' + marker + '`; touch ' + marker, mtu: "'\"\\n" });
    const r = runShim(['xfrm', 'setup', 'vpn0', config]);
    expect(r.status).toBe(0);
    expect(existsSync(marker)).toBe(false);
    expect(JSON.parse(r.calls[0]!.ubus![5]!).config).toEqual(JSON.parse(config));
  });

  it('refuses an interface name with unexpected characters without calling anything', () => {
    for (const name of ['vpn0;reboot', 'a b', '$(x)', '', '../x']) {
      const r = runShim(['xfrm', 'setup', name, '{}']);
      expect(r.status, name).toBe(1);
      expect(r.calls, name).toEqual([]);
    }
  });

  it('replaces a config that is not a JSON object with {}', () => {
    const r = runShim(['xfrm', 'setup', 'vpn0', 'not json']);
    expect(r.calls[0]!.ubus![5]).toBe('{"interface":"vpn0","config":{}}');
  });

  it('daemon still starting: waits for it once, then forwards', () => {
    const r = runShim(['xfrm', 'setup', 'vpn0', '{}'], { CALL_STATUS: '4', CALL_STATUS_2: '0' });
    expect(r.status).toBe(0);
    expect(r.calls.map((c) => c.ubus?.[2])).toEqual(['call', 'wait_for', 'call']);
  });

  it('without the daemon: DAEMON_UNAVAILABLE, a blocked restart and setup failed, so netifd neither loops nor waits; one short line', () => {
    const r = runShim(['xfrm', 'setup', 'vpn0', '{}'], { CALL_STATUS: '4', WAIT_STATUS: '7' });
    expect(r.status).toBe(1);
    expect(r.calls.map((c) => c.helper ?? c.ubus?.[2])).toEqual(['call', 'wait_for', 'proto_notify_error', 'proto_block_restart', 'proto_setup_failed']);
    expect(r.calls[2]!.args).toMatch(/^vpn0 DAEMON_UNAVAILABLE /);
    expect(r.calls[3]!.args).toBe('vpn0');
    // netifd logs every line: no usage text, one line
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('teardown forwards and succeeds even if the daemon is gone', () => {
    const ok = runShim(['xfrm', 'teardown', 'vpn0', '{}']);
    expect(ok.status).toBe(0);
    expect(ok.calls.map((c) => c.ubus)).toEqual([['-t', '10', 'call', 'xfrmd', 'teardown', '{"interface":"vpn0"}']]);
    const gone = runShim(['xfrm', 'teardown', 'vpn0', '{}'], { CALL_STATUS: '4' });
    expect(gone.status).toBe(0);
  });
});
