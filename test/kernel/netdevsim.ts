// netdevsim in the guest: Linux's simulated NIC with ESP crypto offload, built out of tree for the
// guest kernel by test/kernel/setup-ike.sh (.cache/netdevsim/<uname -r>/netdevsim.ko). A port can be
// linked to a port in another namespace (6.10+): what one transmits the other receives, so IKE
// passes. netdevsim encrypts nothing: an SA offloaded to it sends ESP the peer cannot decrypt, and
// the driver counts (debugfs `ipsec`: `SA count=N tx=M`) the packets that reached it with an
// offloaded SA.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Netlink } from '../../src/netlink/index.ts';
import { sh, type Netns } from './lib.ts';
import { repo, until } from './netifd-stack.ts';

const BUS = '/sys/bus/netdevsim';
const DEBUGFS = '/sys/kernel/debug';

export const netdevsimModule = (): string => join(repo, '.cache/netdevsim', process.env.XFRMD_GUEST_KERNEL_RELEASE ?? 'none', 'netdevsim.ko');

/** Loads netdevsim (psample first: insmod does not resolve dependencies) and mounts debugfs. */
export function loadNetdevsim(): void {
  if (!existsSync(BUS)) {
    const ko = netdevsimModule();
    if (!existsSync(ko)) throw new Error(`${ko} missing: test/kernel/setup-ike.sh builds it`);
    sh('busybox', ['modprobe', 'psample']);
    sh('busybox', ['insmod', ko]);
  }
  if (!existsSync(join(DEBUGFS, 'netdevsim'))) sh('mount', ['-t', 'debugfs', 'debugfs', DEBUGFS]);
}

let nextId = 100 + (process.pid % 100) * 10;

export interface IpsecListing {
  count: number;
  tx: number;
  sas: Array<{ dir: 'tx' | 'rx'; addr: string; spi: string }>;
}

/** One netdevsim device with one port, made inside a namespace and renamed. */
export class Nsim {
  private constructor(
    readonly id: number,
    readonly ns: Netns,
    readonly name: string,
    readonly ifindex: number,
  ) {}

  static async create(ns: Netns, nl: Netlink, name: string, id = nextId++): Promise<Nsim> {
    const before = new Set((await nl.dumpLinks()).map((l) => l.index));
    // written from inside the namespace, the port's netdev appears there
    sh('ip', ['netns', 'exec', ns.name, 'sh', '-c', `echo "${id} 1" > ${BUS}/new_device`]);
    let index = 0;
    let tmp = '';
    await until(
      async () => {
        const l = (await nl.dumpLinks()).find((x) => !before.has(x.index));
        if (l) [index, tmp] = [l.index, l.name];
        return !!l;
      },
      `netdevsim ${id} in ${ns.name}`,
      20_000,
      50,
    );
    ns.batch([`link set dev ${tmp} name ${name}`, `link set ${name} up`]);
    return new Nsim(id, ns, name, index);
  }

  /** Links this port with another one: each receives what the other transmits. */
  link(other: Nsim): void {
    sh('bash', ['-c', `exec 3<${this.ns.path} 4<${other.ns.path}; echo "3:${this.ifindex} 4:${other.ifindex}" > ${BUS}/link_device`]);
  }

  /** The driver's debugfs listing of the SAs it holds and the packets it saw with one. */
  ipsec(): IpsecListing {
    const text = readFileSync(join(DEBUGFS, `netdevsim/netdevsim${this.id}/ports/0/ipsec`), 'utf8');
    const head = /SA count=(\d+) tx=(\d+)/.exec(text);
    if (!head) throw new Error(`netdevsim ${this.id}: unexpected ipsec listing: ${text}`);
    const sas: IpsecListing['sas'] = [];
    for (const m of text.matchAll(/sa\[(\d+)\] (tx|rx) ipaddr=(\S+)\n\s*sa\[\1\]\s+spi=(0x[0-9a-f]+)/g)) sas.push({ dir: m[2] as 'tx' | 'rx', addr: m[3] ?? '', spi: m[4] ?? '' });
    return { count: Number(head[1]), tx: Number(head[2]), sas };
  }

  /** The device disappears as if unplugged (its offloaded SAs go with it). */
  remove(): void {
    sh('sh', ['-c', `echo ${this.id} > ${BUS}/del_device`]);
  }
}
