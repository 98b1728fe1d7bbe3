// What procd runs on a router (files/etc/init.d/xfrmd): node, its options, the bundle, `run`.
// Benchmarks and tests start the daemon with the same node options from this one place.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const INIT = fileURLToPath(new URL('../../files/etc/init.d/xfrmd', import.meta.url));

/** The node options of the init script's procd command (between /usr/bin/node and the bundle). */
export function routerNodeOptions(init = INIT): string[] {
  const m = /procd_set_param command \/usr\/bin\/node((?: -[^\s]+)*) \/usr\/lib\/xfrmd\/xfrmd\.cjs run\s*$/m.exec(readFileSync(init, 'utf8'));
  if (!m) throw new Error(`no "procd_set_param command /usr/bin/node [options] /usr/lib/xfrmd/xfrmd.cjs run" in ${init}`);
  return m[1]!.split(' ').filter(Boolean);
}
