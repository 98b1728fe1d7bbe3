// Fault rounds under the real netifd and ubusd, with the shipped daemon as its own process
// (dist/xfrmd.cjs, so kill -9 is a real crash): every round ends with an exact comparison of the
// namespace's kernel state (links with kind, flags, if_id and parent, addresses, rules and routes
// of every table, v4 and v6) with the state the sections must produce, and after `ifdown` of all
// with the state before. Leaked and missing objects are counted over all rounds and must be 0.
//
// Runs on one kernel (6.1 by default: XFRMD_FAULT_KERNELS) — the rounds are long under TCG.
// XFRMD_FAULT_ROUNDS (default 20) sets the kill -9 rounds; XFRMD_FAULT_SEED replays a run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netlink } from '../../src/netlink/index.ts';
import { rng } from '../support/fuzz.ts';
import { Netns } from './lib.ts';
import { NetifdStack, until, WAN } from './netifd-stack.ts';
import { diff, kernelState, type KernelState } from './kernel-state.ts';

const kernels = (process.env.XFRMD_FAULT_KERNELS ?? '6.1').split(',');
const enabled = kernels.includes(process.env.XFRMD_GUEST_KERNEL ?? '');
const ROUNDS = Number(process.env.XFRMD_FAULT_ROUNDS ?? 20);
const SEED = Number(process.env.XFRMD_FAULT_SEED ?? Date.now() % 100000);


/** Ten sections: every recipe, v4 and v6, own and explicit tables, sources, marks, a full tunnel. */
function section(i: number, variant = 0): string {
  const id = i + 1;
  const lines = [`config interface 'f${i}'`, "\toption proto 'xfrm'", `\toption ifid '${id}'`, "\toption tunlink 'wan'", `\tlist ipaddr '10.${60 + i}.255.2/32'`];
  const net = `10.${60 + i}.${variant}.0/24`;
  switch (i % 5) {
    case 0:
      lines.push(`\toption ip4table '${100 + i}'`, `\tlist route '${net}'`);
      break;
    case 1:
      lines.push(`\tlist source '192.168.${i}.0/24'`, `\tlist route '${net}'`);
      break;
    case 2:
      lines.push(`\tlist mark '0x${id.toString(16)}00/0xff00'`, `\tlist route '${net}'`, `\tlist ip6addr 'fd${60 + i}::2/128'`, `\tlist route6 'fd${60 + i}:${variant}::/64'`);
      break;
    case 3:
      lines.push(`\tlist route '${net}'`, `\tlist route '10.${60 + i}.255.0/24'`);
      break;
    case 4:
      lines.push("\toption full_tunnel '1'", "\toption exempt_mark '0x6'", `\toption rule_priority '${200 + 10 * i}'`, `\tlist ip6addr 'fd${60 + i}::2/128'`);
      break;
  }
  return lines.join('\n') + '\n';
}

const NAMES = Array.from({ length: 10 }, (_, i) => `f${i}`);
const network = (variant = 0, names = NAMES) => WAN + names.map((n) => section(Number(n.slice(1)), variant)).join('\n');

describe.skipIf(!enabled)('fault rounds under the real netifd (daemon as its own process)', () => {
  let ns: Netns;
  let stack: NetifdStack;
  let nl: Netlink;
  let wanOnly: KernelState;
  let allUp: KernelState;
  const rnd = rng(SEED);
  const tally = { rounds: 0, leaked: 0, missing: 0, failures: [] as string[] };
  const state = () => kernelState(nl);

  /** Wait for `want`; a mismatch that does not go away is counted (and logged), not thrown. */
  async function check(want: KernelState, what: string, ms = 90_000): Promise<KernelState> {
    let last = await state();
    let d = diff(want, last);
    try {
      await until(async () => {
        d = diff(want, (last = await state()));
        return d.leaked.length === 0 && d.missing.length === 0;
      }, what, ms, 300);
    } catch {
      tally.leaked += d.leaked.length;
      tally.missing += d.missing.length;
      tally.failures.push(`${what}: ${JSON.stringify(d)}`);
      console.log(`MISMATCH ${what}: ${JSON.stringify(d)}`);
    }
    return last;
  }

  async function allDown(what: string): Promise<void> {
    await Promise.all(NAMES.map((n) => stack.ifdown(n)));
    await stack.waitDown(NAMES);
    await check(wanOnly, `${what}: after ifdown of all`);
  }

  async function allUpNow(what: string): Promise<KernelState> {
    await Promise.all(NAMES.map((n) => stack.ifup(n)));
    await stack.waitUp(NAMES);
    return check(allUp, `${what}: all up`);
  }

  const timings: string[] = [];
  /** Runs one phase; fails the test with the mismatches of this phase only. */
  async function phase(name: string, fn: () => Promise<void>): Promise<void> {
    const t0 = Date.now();
    const before = tally.failures.length;
    await fn();
    timings.push(`${name} ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(tally.failures.slice(before)).toEqual([]);
  }

  beforeAll(async () => {
    console.log(`fault rounds: seed ${SEED}, ${ROUNDS} kill -9 rounds`);
    ns = new Netns('xk-flt');
    ns.batch(['link set lo up', 'link add wan0 type dummy', 'link set wan0 up']);
    nl = Netlink.open({ netns: ns.name });
    stack = await NetifdStack.start({ ns, network: WAN, daemon: 'process', logName: 'faults' });
    await stack.waitUp(['wan']);
    await until(async () => (await state()).lines.some((l) => l.startsWith('route default dev wan0')), 'wan default route', 60_000, 200);
    wanOnly = await state();
    stack.writeNetwork(network());
    await stack.reload();
    await stack.waitUp(NAMES);
    // the reference: every section up from a clean start, checked against the planner's objects by netifd.ktest.ts
    await until(async () => (await state()).lines.filter((l) => l.includes('proto 88')).length >= 30, 'all objects', 90_000, 300);
    await new Promise((r) => setTimeout(r, 1000));
    allUp = await state();
  });

  afterAll(async () => {
    console.log(`fault rounds: seed ${SEED}; rounds ${tally.rounds}, leaked ${tally.leaked}, missing ${tally.missing}; ${timings.join(', ')}`);
    if (tally.failures.length) console.log(tally.failures.join('\n'));
    await stack?.close();
    nl?.close();
    ns?.destroy();
  });

  it(`kill -9 of the daemon at random moments while 10 sections come up (${ROUNDS} rounds)`, async () => {
    await phase('kill -9', async () => {
      await allDown('start');
      for (let r = 0; r < ROUNDS; r++) {
        const delay = Math.floor(rnd() * 2500);
        await Promise.all(NAMES.map((n) => stack.ifup(n)));
        await new Promise((res) => setTimeout(res, delay));
        await stack.stopDaemon('SIGKILL');
        await stack.startDaemon();
        await stack.waitUp(NAMES);
        await check(allUp, `kill round ${r} (after ${delay} ms): all up`);
        await allDown(`kill round ${r}`);
        tally.rounds++;
      }
    });
  }, 3_600_000);

  it('netifd killed and restarted, ubusd restarted (3 each): everything adopted in place', async () => {
    await phase('netifd/ubusd restarts', async () => {
      const before = await allUpNow('restarts');
      for (let r = 0; r < 3; r++) {
        await stack.stopNetifd('SIGKILL');
        await stack.startNetifd();
        await stack.waitUp(NAMES);
        const s = await check(allUp, `netifd restart ${r}`);
        for (const n of NAMES) if (s.ifindex.get(n) !== before.ifindex.get(n)) tally.failures.push(`netifd restart ${r}: ${n} recreated`);
        tally.rounds++;
        await stack.stopUbusd();
        await stack.startUbusd();
        await until(async () => (await stack.client.lookup('xfrmd').catch(() => [])).length > 0 && (await stack.client.lookup('network.interface').catch(() => [])).length > 0, 'both back on the bus', 60_000, 200);
        await stack.waitUp(NAMES);
        const u = await check(allUp, `ubusd restart ${r}`);
        for (const n of NAMES) if (u.ifindex.get(n) !== before.ifindex.get(n)) tally.failures.push(`ubusd restart ${r}: ${n} recreated`);
        tally.rounds++;
      }
    });
  }, 1_800_000);

  it('the WAN flaps 10 times, then its device is replaced 3 times (a new ifindex each, as PPPoE does)', async () => {
    await phase('wan flaps', async () => {
      for (let r = 0; r < 10; r++) {
        await stack.ifdown('wan');
        await stack.waitDown(NAMES);
        await until(async () => !(await state()).lines.some((l) => l.includes('proto 88')), `flap ${r}: ours gone`, 60_000, 300).catch(() => tally.failures.push(`flap ${r}: objects left while wan is down`));
        await stack.ifup('wan');
        await stack.waitUp(['wan', ...NAMES]);
        await check(allUp, `wan flap ${r}`);
        tally.rounds++;
      }
      for (let r = 0; r < 3; r++) {
        ns.batch(['link del wan0', 'link add wan0 type dummy', 'link set wan0 up']);
        await stack.waitUp(['wan', ...NAMES]);
        await check(allUp, `wan device replaced ${r}`);
        tally.rounds++;
      }
    });
  }, 1_800_000);

  it('50 concurrent ifup/ifdown toggles over the 10 sections, then all up, then all down', async () => {
    await phase('toggles', async () => {
      const ops: Array<Promise<unknown>> = [];
      for (let k = 0; k < 50; k++) {
        const n = NAMES[Math.floor(rnd() * NAMES.length)]!;
        ops.push(rnd() < 0.5 ? stack.ifdown(n) : stack.ifup(n));
        if (rnd() < 0.3) await new Promise((res) => setTimeout(res, Math.floor(rnd() * 300)));
      }
      await Promise.all(ops);
      await allUpNow('after the toggles');
      await allDown('after the toggles');
      tally.rounds++;
    });
  }, 1_800_000);

  it('reloads with edits (routes changed, sections removed and added back), each against the state a clean start gives', async () => {
    await phase('reloads', async () => {
      // each variant's reference: from all down, reload into it, all up
      const variants = [network(0), network(1), network(0, NAMES.filter((n) => n !== 'f3' && n !== 'f7')), network(2, NAMES.slice(0, 8))];
      const refs: KernelState[] = [];
      for (const [v, text] of variants.entries()) {
        stack.writeNetwork(text);
        await stack.reload();
        const names = NAMES.filter((n) => text.includes(`'${n}'`));
        await Promise.all(names.map((n) => stack.ifup(n)));
        await stack.waitUp(names);
        await until(async () => (await state()).lines.filter((l) => l.includes('proto 88')).length >= 3 * names.length, `variant ${v} objects`, 90_000, 300);
        await new Promise((r) => setTimeout(r, 1500));
        refs.push(await state());
      }
      for (let r = 0; r < 8; r++) {
        const v = Math.floor(rnd() * variants.length);
        stack.writeNetwork(variants[v]!);
        await stack.reload();
        const names = NAMES.filter((n) => variants[v]!.includes(`'${n}'`));
        await Promise.all(names.map((n) => stack.ifup(n)));
        await stack.waitUp(names);
        await check(refs[v]!, `reload ${r} into variant ${v}`);
        tally.rounds++;
      }
      stack.writeNetwork(network());
      await stack.reload();
      await allUpNow('back to the original');
      await allDown('end');
    });
    expect({ leaked: tally.leaked, missing: tally.missing }).toEqual({ leaked: 0, missing: 0 });
  }, 1_800_000);
});
