// Throw-away network namespaces for netlink tests: unique names, removed in afterAll.
import { execFileSync } from 'node:child_process';
import { NetlinkError } from '../../src/netlink/index.ts';

let n = 0;

export function makeNetns(tag: string): string {
  const name = `xnl-${tag}-${process.pid}-${n++}`;
  execFileSync('ip', ['netns', 'add', name]);
  execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

export function removeNetns(name: string): void {
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  } catch {
    // already gone
  }
}

/** runs `ip -n NS args…` and returns stdout */
export function ipn(ns: string, ...args: string[]): string {
  return execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });
}

/** The NetlinkError a request fails with (anything else, or success, fails the test). */
export async function rejection(p: Promise<unknown>): Promise<NetlinkError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof NetlinkError) return e;
    throw e;
  }
  throw new Error('expected a NetlinkError');
}
