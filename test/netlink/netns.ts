// Throw-away network namespaces for netlink tests: unique names, removed in afterAll.
import { execFileSync } from 'node:child_process';

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
