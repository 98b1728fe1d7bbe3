// `xfrmd status [--json] [--state-dir DIR] [-s socket]`: what is up. Asks the
// running daemon when there is one; otherwise reads the state store and checks
// each object against the kernel (standalone mode).
import { existsSync } from 'node:fs';
import { errorText } from '../errors.ts';
import { XFRMD_RTPROT } from '../model.ts';
import { openKernel } from '../reconcile/netlink-kernel.ts';
import { routeKey, ruleKey } from '../reconcile/keys.ts';
import { renderRoute, renderRule } from '../plan/render.ts';
import { StateStore } from '../state/store.ts';
import { UbusClient } from '../ubus/client.ts';
import { DEFAULT_SOCKET } from '../ubus/connection.ts';
import { parseArgs } from './args.ts';

interface LocalStatus {
  interface: string;
  device: string;
  present: boolean;
  ifindex: number;
  ifid: number;
  parent_ifindex: number;
  created_by_xfrmd: boolean;
  addresses: string[];
  routes: Array<{ route: string; present: boolean }>;
  rules: Array<{ rule: string; present: boolean }>;
}

async function fromDaemon(socketPath: string): Promise<unknown | undefined> {
  if (!existsSync(socketPath)) return undefined;
  const client = new UbusClient({ socketPath, reconnect: false, timeoutMs: 3000 });
  try {
    await client.connect();
    const [reply] = await client.call('xfrmd', 'status', {});
    return reply;
  } catch {
    return undefined;
  } finally {
    client.close();
  }
}

export async function main(argv: string[]): Promise<number> {
  let a;
  try {
    a = parseArgs(argv, { flags: ['--json', '--local'], values: ['--state-dir', '-s'] });
  } catch (e) {
    process.stderr.write(`xfrmd status: ${errorText(e)}\nusage: xfrmd status [--json] [--local] [--state-dir DIR] [-s socket]\n`);
    return 2;
  }
  if (!a.flags.has('--local')) {
    const daemon = await fromDaemon(a.values.get('-s') ?? DEFAULT_SOCKET);
    if (daemon !== undefined) {
      process.stdout.write(JSON.stringify(daemon, null, 2) + '\n');
      return 0;
    }
  }
  const store = new StateStore(a.values.get('--state-dir'));
  const k = await openKernel();
  try {
    const [routes, rules] = await Promise.all([k.kernel.dumpRoutes(XFRMD_RTPROT), k.kernel.dumpRules(XFRMD_RTPROT)]);
    const haveRoutes = new Set(routes.map(routeKey));
    const haveRules = new Set(rules.map(ruleKey));
    const out: LocalStatus[] = [];
    for (const rec of store.all()) {
      const i = rec.installed;
      const link = i.link.index ? await k.kernel.getLinkByIndex(i.link.index) : undefined;
      out.push({
        interface: rec.name,
        device: i.link.name,
        present: link?.name === i.link.name,
        ifindex: i.link.index,
        ifid: i.link.ifId,
        parent_ifindex: i.link.parent,
        created_by_xfrmd: i.link.created,
        addresses: i.addresses.map((x) => `${x.address}/${x.prefixLen}`),
        routes: i.routes.map((r) => ({ route: renderRoute(r), present: haveRoutes.has(routeKey(r)) })),
        rules: i.rules.map((r) => ({ rule: renderRule(r), present: haveRules.has(ruleKey(r)) })),
      });
    }
    if (a.flags.has('--json')) {
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      return 0;
    }
    if (!out.length) process.stdout.write('no interfaces managed by xfrmd\n');
    for (const s of out) {
      process.stdout.write(
        `${s.interface}: ${s.present ? 'up' : 'MISSING'} dev ${s.device} ifindex ${s.ifindex} if_id ${s.ifid}` +
          `${s.parent_ifindex ? ` parent ifindex ${s.parent_ifindex}` : ''}${s.created_by_xfrmd ? '' : ' (adopted)'}\n`,
      );
      for (const x of s.addresses) process.stdout.write(`  address ${x}\n`);
      for (const r of s.routes) process.stdout.write(`  ${r.route}${r.present ? '' : '  (missing)'}\n`);
      for (const r of s.rules) process.stdout.write(`  ${r.rule}${r.present ? '' : '  (missing)'}\n`);
    }
    return 0;
  } finally {
    k.close();
  }
}
