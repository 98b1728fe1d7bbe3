// Real IKE daemons for the guest tests: strongSwan's charon (Debian's package, installed by
// scripts/host-deps.sh) and libreswan's pluto (unpacked into .cache/libreswan by setup-ike.sh),
// each in a network namespace of its own, plus the small internet they talk over:
//
//   lan host ── lan0 [router: netifd + xfrmd + IKE daemon] wan0 ── [inet] ── eth0 [peer N] lan0
//   192.168.1.2    192.168.1.1              192.0.2.1    .254 | .254     203.0.113.N   10.20.0.1
//
// The peer is reached only through the router's default route (192.0.2.254), as on a real WAN.
// Several charons on one machine need separate network AND mount namespaces: each runs with a
// tmpfs on /run (pid file, vici socket) and its own STRONGSWAN_CONF/SWANCTL_DIR; swanctl enters
// charon's mount namespace. The configurations are the README's (examples/ike/<scenario>/).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Netlink, type SAInfo } from '../../src/netlink/index.ts';
import { run, sh, Netns, type RunResult } from './lib.ts';
import { NetifdStack, repo, stop as stopProc, track, until, WAN, type Proc } from './netifd-stack.ts';

export const EXAMPLES = join(repo, 'examples/ike');
export const LIBRESWAN = join(repo, '.cache/libreswan');
export const CHARON = '/usr/lib/ipsec/charon';

/** A file of a README scenario, with the placeholders filled in (`<PSK>` → a fresh secret). */
export function example(scenario: string, file: string, vars: Record<string, string> = {}): string {
  let text = readFileSync(join(EXAMPLES, scenario, file), 'utf8');
  for (const [k, v] of Object.entries(vars)) text = text.split(`<${k}>`).join(v);
  const left = /<[A-Z][A-Z0-9_]*>/.exec(text);
  if (left) throw new Error(`${scenario}/${file}: placeholder ${left[0]} not filled`);
  return text;
}

export const newPsk = (): string => randomBytes(24).toString('base64');

/** Seconds since `t0`, printed per scenario (the numbers the README and the lead need). */
export function timing(label: string): () => number {
  const t0 = Date.now();
  return () => {
    const s = (Date.now() - t0) / 1000;
    console.log(`scenario time: ${label}: ${s.toFixed(1)} s (kernel ${process.env.XFRMD_GUEST_KERNEL ?? 'host'})`);
    return s;
  };
}

export const logDir = (name: string): string => {
  const d = join(repo, '.cache/guest-logs', `ike-${process.env.XFRMD_GUEST_KERNEL ?? 'host'}-${name}`);
  mkdirSync(d, { recursive: true });
  return d;
};

/** `ip netns exec <ns> sh -c <script>` (sysctls and the like, one process). */
export function nsSh(ns: Netns, script: string): string {
  return sh('ip', ['netns', 'exec', ns.name, 'sh', '-c', script]);
}

export interface PeerSpec {
  /** outer address on the inet segment, 203.0.113.N */
  addr: string;
  /** addresses of the peer's LAN (a dummy), e.g. 10.20.0.1/24 */
  lan: string[];
}

export interface NetSpec {
  peers: PeerSpec[];
  /** a LAN host behind the router (forwarded traffic): router-side and host-side addresses */
  lan?: { router: string[]; host: string[] };
  /** the router's WAN device: a veth (default) or made by the caller (netdevsim) */
  wan?: 'veth' | 'external';
}

/** The site-to-site world: a gateway with the remote LAN 10.20.0.0/24 + fd00:20::/64, a LAN host
 *  behind the router (192.168.1.0/24 + fd00:1::/64). */
export const SITE: NetSpec = {
  peers: [{ addr: '203.0.113.2', lan: ['10.20.0.1/24', 'fd00:20::1/64'] }],
  lan: { router: ['192.168.1.1/24', 'fd00:1::1/64'], host: ['192.168.1.2/24', 'fd00:1::2/64'] },
};

/** The namespaces of one scenario; destroy() removes them all. */
export class Net {
  readonly inet = new Netns('xk-inet');
  readonly router = new Netns('xk-rtr');
  readonly peers: Netns[] = [];
  lan?: Netns;

  constructor(readonly spec: NetSpec) {
    const inet = [`link set lo up`];
    if (spec.wan !== 'external') inet.push(`link add r0 type veth peer name wan0 netns ${this.router.name}`, 'link set r0 up', 'address add 192.0.2.254/24 dev r0');
    inet.push('link add p0 type bridge', 'link set p0 up', 'address add 203.0.113.254/24 dev p0');
    spec.peers.forEach((_p, i) => {
      const ns = new Netns(`xk-peer${i}`);
      this.peers.push(ns);
      inet.push(`link add p0v${i} type veth peer name eth0 netns ${ns.name}`, `link set p0v${i} master p0`, `link set p0v${i} up`);
    });
    this.inet.batch(inet);
    spec.peers.forEach((p, i) =>
      this.peers[i]!.batch([
        'link set lo up',
        'link set eth0 up',
        `address add ${p.addr}/24 dev eth0`,
        'route add default via 203.0.113.254',
        // inner IPv6 travels over IPv4: the route lookup before the policy needs some route
        'route add ::/0 dev eth0 metric 2048',
        'link add lan0 type dummy',
        'link set lan0 up',
        ...p.lan.map((a) => `address add ${a} dev lan0${a.includes(':') ? ' nodad' : ''}`),
      ]),
    );
    nsSh(this.inet, 'echo 1 > /proc/sys/net/ipv4/ip_forward');
    const r = ['link set lo up'];
    if (spec.wan !== 'external') r.push('link set wan0 up');
    if (spec.lan) {
      this.lan = new Netns('xk-lan');
      r.push(`link add lan0 type veth peer name eth0 netns ${this.lan.name}`, 'link set lan0 up', ...spec.lan.router.map((a) => `address add ${a} dev lan0${a.includes(':') ? ' nodad' : ''}`));
    }
    this.router.batch(r);
    nsSh(this.router, 'echo 1 > /proc/sys/net/ipv4/ip_forward; echo 1 > /proc/sys/net/ipv6/conf/all/forwarding');
    if (spec.lan && this.lan) {
      const gw4 = spec.lan.router.find((a) => !a.includes(':'))?.split('/')[0];
      const gw6 = spec.lan.router.find((a) => a.includes(':'))?.split('/')[0];
      this.lan.batch([
        'link set lo up',
        'link set eth0 up',
        ...spec.lan.host.map((a) => `address add ${a} dev eth0${a.includes(':') ? ' nodad' : ''}`),
        ...(gw4 ? [`route add default via ${gw4}`] : []),
        ...(gw6 ? [`route add ::/0 via ${gw6}`] : []),
      ]);
    }
  }

  destroy(): void {
    for (const ns of [this.lan, ...this.peers, this.router, this.inet]) ns?.destroy();
  }
}

export interface CharonOptions {
  ns: Netns;
  name: string;
  /** swanctl.conf (the README's, placeholders filled) */
  swanctl: string;
  /** strongswan.conf additions (the README's), included after Debian's /etc/strongswan.conf */
  strongswan?: string;
}

/** What charon logs when a tunnel cannot come up (a wait for "established" stops there). */
const CHARON_FAILED = /no shared key found|AUTHENTICATION_FAILED|NO_PROPOSAL_CHOSEN|TS_UNACCEPTABLE|unable to install [^\n]*IPsec SA|establishing CHILD_SA [^\n]* failed|failed to establish CHILD_SA/;

/** One charon (strongSwan's IKE daemon) with its own /run, configuration and log. */
export class Charon {
  readonly dir: string;
  readonly log: string;
  private p?: Proc;
  private failuresFrom = 0;

  private constructor(readonly o: CharonOptions) {
    this.dir = mkdtempSync(`/tmp/xfrmd-charon-${o.name}-`);
    this.log = join(logDir(o.name), 'charon.log');
    rmSync(this.log, { force: true });
    mkdirSync(join(this.dir, 'swanctl'), { recursive: true });
    this.setSwanctl(o.swanctl);
    writeFileSync(join(this.dir, 'extra.conf'), o.strongswan ?? '');
    writeFileSync(
      join(this.dir, 'strongswan.conf'),
      [
        '# Debian defaults (modular plugin loading), then the scenario, then what the test needs',
        'include /etc/strongswan.conf',
        `include ${join(this.dir, 'extra.conf')}`,
        'charon {',
        '\tplugins {',
        '\t\tstroke {',
        '\t\t\tload = no',
        '\t\t}',
        '\t}',
        '\tfilelog {',
        '\t\ttest {',
        `\t\t\tpath = ${this.log}`,
        '\t\t\ttime_format = %T',
        '\t\t\tappend = yes',
        '\t\t\tflush_line = yes',
        '\t\t\tdefault = 1',
        '\t\t\tike_name = yes',
        '\t\t}',
        '\t}',
        '}',
        '',
      ].join('\n'),
    );
  }

  static async start(o: CharonOptions): Promise<Charon> {
    const c = new Charon(o);
    await c.start();
    return c;
  }

  get pid(): number {
    const pid = this.p?.proc.pid;
    if (pid === undefined || !this.running) throw new Error(`charon ${this.o.name} is not running`);
    return pid;
  }

  get running(): boolean {
    return !!this.p && this.p.proc.exitCode === null && this.p.proc.signalCode === null;
  }

  setSwanctl(text: string): void {
    writeFileSync(join(this.dir, 'swanctl/swanctl.conf'), text);
  }

  /** Starts charon and loads swanctl.conf (start_action = start children initiate now). */
  async start(): Promise<void> {
    if (this.running) throw new Error(`charon ${this.o.name} is running already`);
    const fd = openSync(join(logDir(this.o.name), 'charon.stderr'), 'a');
    // `ip netns exec` gives a mount namespace of its own: the tmpfs on /run stays in there
    this.p = track(
      spawn('ip', ['netns', 'exec', this.o.ns.name, 'sh', '-c', `mount -t tmpfs tmpfs /run && exec ${CHARON}`], {
        stdio: ['ignore', fd, fd],
        env: { ...process.env, STRONGSWAN_CONF: join(this.dir, 'strongswan.conf') },
      }),
    );
    closeSync(fd);
    const pid = this.p.proc.pid;
    await until(() => !this.running || existsSync(`/proc/${pid}/root/run/charon.vici`), `charon ${this.o.name}: vici socket`, 60_000, 50);
    if (!this.running) throw new Error(`charon ${this.o.name} exited: ${this.logText().slice(-2000)}`);
    this.swanctl('--load-all', '--noprompt');
  }

  /** `swanctl` inside charon's namespaces; throws on failure. */
  swanctl(...args: string[]): string {
    const r = this.trySwanctl(...args);
    if (r.code !== 0) throw new Error(`swanctl ${args.join(' ')} (${this.o.name}) exited ${r.code}: ${r.stderr || r.stdout}\n${this.logText().slice(-3000)}`);
    return r.stdout;
  }

  trySwanctl(...args: string[]): RunResult {
    const env = `STRONGSWAN_CONF=${join(this.dir, 'strongswan.conf')} SWANCTL_DIR=${join(this.dir, 'swanctl')}`;
    return run('nsenter', ['-t', String(this.pid), '-m', '-n', 'sh', '-c', `${env} exec swanctl "$@"`, 'swanctl', ...args]);
  }

  logText(): string {
    return existsSync(this.log) ? readFileSync(this.log, 'utf8') : '';
  }

  /** Failures logged before now no longer fail a wait for "established" (after an expected one). */
  forgetFailures(): void {
    this.failuresFrom = this.logText().length;
  }

  /** How often `CHILD_SA <child>{n} established` is in the log so far. */
  count(child: string): number {
    return (this.logText().match(new RegExp(`CHILD_SA ${child}\\{\\d+\\} established`, 'g')) ?? []).length;
  }

  /** Waits for `CHILD_SA <child>{n} established` in the log (the n-th time when `times` > 1). */
  async established(child: string, times = 1, ms = 45_000): Promise<void> {
    const re = new RegExp(`CHILD_SA ${child}\\{\\d+\\} established`, 'g');
    await until(
      () => {
        const text = this.logText();
        const failed = CHARON_FAILED.exec(text.slice(this.failuresFrom));
        if (failed) throw new Error(`charon ${this.o.name} failed: ${failed[0]}`);
        return (text.match(re) ?? []).length >= times;
      },
      `charon ${this.o.name}: CHILD_SA ${child} established`,
      ms,
      100,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n${this.logText().slice(-4000)}`);
    });
  }

  async stop(sig: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await stopProc(this.p, sig);
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * libreswan in the guest: its files linked into the guest's throw-away root (the tree under
 * .cache/libreswan is what `dpkg -x` unpacked), so pluto finds `ipsec _updown` at the paths it
 * was built for. Never outside the guest.
 */
export function installLibreswan(): void {
  if (process.env.XFRMD_IN_GUEST !== '1') throw new Error('libreswan is linked into the root only inside the guest');
  const root = join(LIBRESWAN, 'root');
  if (!existsSync(join(LIBRESWAN, '.complete'))) throw new Error(`${LIBRESWAN} missing: test/kernel/setup-ike.sh`);
  if (readLinkOrEmpty('/usr/libexec/ipsec') === join(root, 'usr/libexec/ipsec')) return;
  rmSync('/usr/libexec/ipsec', { recursive: true, force: true });
  symlinkSync(join(root, 'usr/libexec/ipsec'), '/usr/libexec/ipsec');
  // strongswan-starter's `ipsec` is replaced in the guest only (nothing here uses it)
  rmSync('/usr/sbin/ipsec', { force: true });
  symlinkSync(join(root, 'usr/sbin/ipsec'), '/usr/sbin/ipsec');
}

function readLinkOrEmpty(p: string): string {
  const r = spawnSync('readlink', [p], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '';
}

export interface PlutoOptions {
  ns: Netns;
  name: string;
  /** ipsec.conf (the README's) */
  conf: string;
  /** ipsec.secrets */
  secrets: string;
}

/** What pluto logs when a connection cannot come up. */
const PLUTO_FAILED = /[^\n]*(failed with error notification|AUTHENTICATION_FAILED|NO_PROPOSAL_CHOSEN|TS_UNACCEPTABLE|state transition [^\n]* failed)[^\n]*/;

/** One pluto (libreswan's IKE daemon) run the way `ipsec start` runs it, with its own files. */
export class Pluto {
  readonly dir: string;
  readonly log: string;
  private p?: Proc;

  private constructor(readonly o: PlutoOptions) {
    this.dir = mkdtempSync(`/tmp/xfrmd-pluto-${o.name}-`);
    this.log = join(logDir(o.name), 'pluto.log');
    rmSync(this.log, { force: true });
    mkdirSync(join(this.dir, 'run'));
    mkdirSync(join(this.dir, 'ipsec.d'));
    cpSync(join(LIBRESWAN, 'nss'), join(this.dir, 'nss'), { recursive: true });
    this.setConf(o.conf);
    writeFileSync(join(this.dir, 'ipsec.secrets'), o.secrets, { mode: 0o600 });
  }

  static async start(o: PlutoOptions): Promise<Pluto> {
    installLibreswan();
    const p = new Pluto(o);
    await p.start();
    return p;
  }

  setConf(text: string): void {
    writeFileSync(join(this.dir, 'ipsec.conf'), text);
  }

  get running(): boolean {
    return !!this.p && this.p.proc.exitCode === null && this.p.proc.signalCode === null;
  }

  private get env(): NodeJS.ProcessEnv {
    return { ...process.env, LD_LIBRARY_PATH: join(LIBRESWAN, 'root/usr/lib/x86_64-linux-gnu') };
  }

  private get ctl(): string {
    return join(this.dir, 'run/pluto.ctl');
  }

  /** pluto, then every connection of ipsec.conf added (and started where auto=start). */
  async start(): Promise<void> {
    if (this.running) throw new Error(`pluto ${this.o.name} is running already`);
    const fd = openSync(join(logDir(this.o.name), 'pluto.stderr'), 'a');
    const d = this.dir;
    this.p = track(
      spawn(
        'ip',
        ['netns', 'exec', this.o.ns.name, '/usr/libexec/ipsec/pluto', '--nofork', '--config', join(d, 'ipsec.conf'), '--logfile', this.log, '--rundir', join(d, 'run'), '--nssdir', join(d, 'nss'), '--secretsfile', join(d, 'ipsec.secrets'), '--ipsecdir', join(d, 'ipsec.d'), '--no-dnssec'],
        { stdio: ['ignore', fd, fd], env: this.env },
      ),
    );
    closeSync(fd);
    await until(() => !this.running || existsSync(this.ctl), `pluto ${this.o.name}: control socket`, 60_000, 50);
    if (!this.running) throw new Error(`pluto ${this.o.name} exited: ${this.logText().slice(-3000)}`);
    this.tool('addconn', '--config', join(d, 'ipsec.conf'), '--ctlsocket', this.ctl, '--autoall');
  }

  /** One of libreswan's tools (`whack`, `addconn`) in the router's namespace. */
  tool(name: string, ...args: string[]): string {
    const r = spawnSync('ip', ['netns', 'exec', this.o.ns.name, `/usr/libexec/ipsec/${name}`, ...args], { encoding: 'utf8', env: this.env, timeout: 60_000 });
    if (r.status !== 0) throw new Error(`${name} ${args.join(' ')} exited ${r.status}: ${r.stderr || r.stdout}\n${this.logText().slice(-3000)}`);
    return r.stdout;
  }

  whack(...args: string[]): string {
    return this.tool('whack', '--ctlsocket', this.ctl, ...args);
  }

  logText(): string {
    return existsSync(this.log) ? readFileSync(this.log, 'utf8') : '';
  }

  /** Waits until the log says `"<conn>" … established Child SA` (the n-th time). */
  async established(conn: string, times = 1, ms = 45_000): Promise<void> {
    const re = new RegExp(`"${conn}"[^\\n]*established Child SA`, 'g');
    await until(
      () => {
        const text = this.logText();
        if (PLUTO_FAILED.test(text)) throw new Error(`pluto ${this.o.name} failed: ${PLUTO_FAILED.exec(text)?.[0]}`);
        return (text.match(re) ?? []).length >= times;
      },
      `pluto ${this.o.name}: ${conn} established`,
      ms,
      100,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n${this.logText().slice(-4000)}`);
    });
  }

  /** `ipsec stop`: pluto takes its connections down (running `_updown`) and exits. */
  async shutdown(): Promise<void> {
    if (!this.running) return;
    this.whack('--shutdown');
    const t = setTimeout(() => this.p?.proc.kill('SIGKILL'), 20_000);
    await this.p?.exited;
    clearTimeout(t);
  }

  async close(): Promise<void> {
    await this.shutdown().catch(() => stopProc(this.p, 'SIGKILL'));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** busybox ping from a namespace, optionally from a source address; true when all answered. */
export function pingFrom(ns: Netns, dst: string, o: { src?: string; count?: number } = {}): RunResult & { ok: boolean; sent: number; received: number } {
  const args = ['ping', ...(dst.includes(':') ? ['-6'] : []), '-c', String(o.count ?? 3), '-W', '2', '-w', '15', ...(o.src ? ['-I', o.src] : []), dst];
  const r = ns.exec('busybox', args);
  const m = /(\d+) packets transmitted, (\d+) packets received/.exec(r.stdout);
  const sent = Number(m?.[1] ?? 0);
  const received = Number(m?.[2] ?? 0);
  return { ...r, ok: r.code === 0 && sent > 0 && sent === received, sent, received };
}

/** SAs (ESP) of a namespace, the router's by if_id. */
export async function esp(nl: Netlink, ifId?: number): Promise<SAInfo[]> {
  return (await nl.dumpSAs(ifId === undefined ? {} : { ifId })).filter((s) => s.proto === 50);
}

/** Packets and bytes of the SAs in one direction (`out`: source is `local`). */
export function sum(sas: SAInfo[], pred: (s: SAInfo) => boolean): { packets: number; bytes: number } {
  return sas.filter(pred).reduce((a, s) => ({ packets: a.packets + s.packets, bytes: a.bytes + s.bytes }), { packets: 0, bytes: 0 });
}

/** tx/rx packets and the error counters of one device (`ip -s -j link`, one process). */
export function linkStats(ns: Netns, dev: string): { tx: number; rx: number; collisions: number; txCarrierErrors: number } {
  const [l] = JSON.parse(sh('ip', ['-n', ns.name, '-s', '-s', '-j', 'link', 'show', 'dev', dev])) as Array<{
    stats64: { tx: { packets: number; collisions?: number; carrier_errors?: number }; rx: { packets: number } };
  }>;
  if (!l) throw new Error(`no ${dev} in ${ns.name}`);
  return { tx: l.stats64.tx.packets, rx: l.stats64.rx.packets, collisions: l.stats64.tx.collisions ?? 0, txCarrierErrors: l.stats64.tx.carrier_errors ?? 0 };
}

/** How often the kernel has said "Local routing loop detected" so far (dmesg is global). */
export function routingLoops(): number {
  return (sh('dmesg', []).match(/Local routing loop detected/g) ?? []).length;
}

export interface ScenarioOptions {
  name: string;
  /** what the scenario time printed at close() is called */
  label: string;
  net: NetSpec;
  /** the router's xfrm sections (netifd's WAN section is added) */
  network: string;
  /** interfaces to wait for before the IKE daemons start */
  up: string[];
  /** each peer's swanctl.conf, in the order of net.peers */
  peers: string[];
  /** runs before netifd starts (devices the WAN section needs) */
  prepare?: (net: Net, nl: Netlink) => Promise<void>;
}

/** One scenario's namespaces, the router's netifd + xfrmd, and a charon on each peer. */
export class Scenario {
  nl!: Netlink;
  peerNl: Netlink[] = [];
  stack!: NetifdStack;
  peerCharons: Charon[] = [];
  readonly net: Net;
  readonly daemons: Array<{ close(): Promise<void> }> = [];

  private readonly done: () => number;
  /** "Local routing loop detected" in dmesg when the scenario started (or was last reset) */
  loops = routingLoops();

  private constructor(readonly o: ScenarioOptions) {
    this.done = timing(o.label);
    this.net = new Net(o.net);
  }

  /** The kernel said "Local routing loop detected" since the start (or the last reset). */
  newLoops(): number {
    return routingLoops() - this.loops;
  }

  static async start(o: ScenarioOptions): Promise<Scenario> {
    const s = new Scenario(o);
    try {
      s.nl = Netlink.open({ netns: s.net.router.name });
      s.peerNl = s.net.peers.map((p) => Netlink.open({ netns: p.name }));
      await o.prepare?.(s.net, s.nl);
      s.stack = await NetifdStack.start({ ns: s.net.router, network: WAN + o.network, logName: `ike-${o.name}` });
      await s.stack.waitUp(['wan', ...o.up]);
      for (const [i, conf] of o.peers.entries()) s.peerCharons.push(await Charon.start({ ns: s.net.peers[i]!, name: `${o.name}-peer${i}`, swanctl: conf }));
    } catch (e) {
      await s.close();
      throw e;
    }
    return s;
  }

  /** charon on the router with a README scenario's swanctl.conf and strongswan.conf. */
  async charon(scenario: string, vars: Record<string, string>): Promise<Charon> {
    return this.own(await Charon.start({ ns: this.net.router, name: `${this.o.name}-router`, swanctl: example(scenario, 'swanctl.conf', vars), strongswan: example(scenario, 'strongswan.conf') }));
  }

  /** Something to close with the scenario (the router's IKE daemon). */
  own<T extends { close(): Promise<void> }>(d: T): T {
    this.daemons.push(d);
    return d;
  }

  async close(): Promise<void> {
    for (const d of [...this.daemons, ...this.peerCharons].reverse()) await d.close().catch(() => undefined);
    await this.stack?.close().catch(() => undefined);
    this.nl?.close();
    for (const n of this.peerNl) n.close();
    this.net.destroy();
    this.done();
  }
}
