// `xfrmd down [--state-dir DIR] [interface…]`: remove what xfrmd installed (standalone mode).
import { errorText } from '../errors.ts';
import { openKernel } from '../reconcile/netlink-kernel.ts';
import { downAll } from '../standalone/apply.ts';
import { StateStore } from '../state/store.ts';
import { parseArgs } from './args.ts';

export async function main(argv: string[]): Promise<number> {
  let a;
  try {
    a = parseArgs(argv, { values: ['--state-dir'] });
  } catch (e) {
    process.stderr.write(`xfrmd down: ${errorText(e)}\nusage: xfrmd down [--state-dir DIR] [interface…]\n`);
    return 2;
  }
  const k = await openKernel();
  try {
    const removed = await downAll(k.kernel, new StateStore(a.values.get('--state-dir')), a.positional);
    for (const n of removed) process.stdout.write(`${n}: removed\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`xfrmd down: ${errorText(e)}\n`);
    return 1;
  } finally {
    k.close();
  }
}
