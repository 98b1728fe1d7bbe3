// `xfrmd apply [--dry-run] [--state-dir DIR] <uci-network-file>`: standalone mode.
import { readFileSync } from 'node:fs';
import { errorText, XfrmdError } from '../errors.ts';
import { openKernel } from '../reconcile/netlink-kernel.ts';
import { applyNetworkFile } from '../standalone/apply.ts';
import { StateStore } from '../state/store.ts';
import { parseArgs, UsageError } from './args.ts';

const USAGE = 'usage: xfrmd apply [--dry-run] [--json] [--state-dir DIR] <uci-network-file>\n';

export async function main(argv: string[]): Promise<number> {
  let file: string;
  let a;
  try {
    a = parseArgs(argv, { flags: ['--dry-run', '--json'], values: ['--state-dir'] });
    if (a.positional.length !== 1) throw new UsageError('one UCI network file is required');
    file = a.positional[0]!;
  } catch (e) {
    process.stderr.write(`xfrmd apply: ${errorText(e)}\n${USAGE}`);
    return 2;
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    process.stderr.write(`xfrmd apply: cannot read ${file}: ${errorText(e)}\n`);
    return 2;
  }
  const dryRun = a.flags.has('--dry-run');
  const k = dryRun ? undefined : await openKernel();
  try {
    const report = await applyNetworkFile(text, {
      dryRun,
      ...(k ? { kernel: k.kernel, store: new StateStore(a.values.get('--state-dir')) } : {}),
      log: (iface, msg) => process.stderr.write(`${iface}: ${msg}\n`),
    });
    if (a.flags.has('--json')) {
      process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    } else if (report.commands) {
      for (const [iface, cmds] of Object.entries(report.commands)) {
        process.stdout.write(`# ${iface}\n${cmds.map((c) => `ip ${c}`).join('\n')}\n`);
      }
    } else {
      for (const n of report.removed) process.stdout.write(`${n}: removed\n`);
      for (const n of report.up) process.stdout.write(`${n}: up\n`);
      for (const f of report.failed) process.stdout.write(`${f.interface}: failed ${f.code}: ${f.message}\n`);
    }
    return report.failed.length ? 1 : 0;
  } catch (e) {
    // Invalid configuration: every problem, one per line, nothing applied.
    process.stderr.write(e instanceof XfrmdError ? `${e.message}\n` : `xfrmd apply: ${errorText(e)}\n`);
    return e instanceof XfrmdError ? 2 : 1;
  } finally {
    k?.close();
  }
}
