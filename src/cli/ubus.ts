// `xfrmd ubus …`: the C `ubus` CLI (openwrt/ubus cli.c) in TypeScript, with
// the same output bytes and exit codes:
//
//   xfrmd ubus [-s sock] [-t timeout] [-S] [-v] list [path] | call obj method [json]
//              | listen [pattern…] | send type [json] | subscribe obj… | wait_for obj…
//
// Exit codes are the C program's `return ret` truncated to 8 bits: a status
// from lookup/send/wait_for exits as itself (4 = not found, 7 = timed out)
// after "Command failed: <text>"; a failed invoke or bad JSON in `call`, with
// stderr not a terminal, prints "Command failed: ubus call <args> (<text>)" and
// exits 256 − status; usage errors exit 254, a failed connect 255.
// Built on UbusConnection directly so replies are formatted from their raw
// blobmsg bytes (exact int64/double/int32 output).
import { UbusConnection, DEFAULT_SOCKET } from '../ubus/connection.ts';
import { encodeTableBody, int32, MsgType, type WireMessage } from '../ubus/wire.ts';
import { Status, UbusError, ubusStrerror } from '../ubus/errors.ts';
import { blobmsgTable, encodeJsonArgs, formatJsonBytes, formatJsonString, JsonArgsError } from '../ubus/json.ts';

const PROG = 'xfrmd ubus';
const EVENT_OBJECT = 1;

interface Opts {
  socket: string;
  /** seconds; calls and wait_for (C default 30) */
  timeout: number;
  /** seconds; listen/subscribe run time, 0 = until ubusd goes away */
  listenTimeout: number;
  simple: boolean;
  verbose: number;
}

interface Io {
  out(b: Buffer | string): void;
  err(b: Buffer | string): void;
  stderrIsTty: boolean;
}

const processIo: Io = {
  out: (b) => void process.stdout.write(b),
  err: (b) => void process.stderr.write(b),
  stderrIsTty: Boolean(process.stderr.isTTY),
};

function usage(io: Io): number {
  io.err(
    `Usage: ${PROG} [<options>] <command> [arguments...]\n` +
      'Options:\n' +
      ' -s <socket>:\t\tSet the unix domain socket to connect to\n' +
      ' -t <timeout>:\t\tSet the timeout (in seconds) for a command to complete\n' +
      ' -S:\t\t\tUse simplified output (for scripts)\n' +
      ' -v:\t\t\tMore verbose output\n' +
      '\n' +
      'Commands:\n' +
      ' - list [<path>]\t\t\tList objects\n' +
      ' - call <path> <method> [<message>]\tCall an object method\n' +
      ' - subscribe <path> [<path>...]\tSubscribe to object(s) notifications\n' +
      ' - listen [<path>...]\t\t\tListen for events\n' +
      ' - send <type> [<message>]\t\tSend an event\n' +
      ' - wait_for <object> [<object>...]\tWait for multiple objects to appear on ubus\n' +
      '\n',
  );
  return 1;
}

/** C atoi(): optional sign and leading digits, anything else 0. */
function atoi(s: string): number {
  const m = /^[ \t\n\r\f\v]*([+-]?\d+)/.exec(s);
  return m ? Number.parseInt(m[1]!, 10) | 0 : 0;
}

/** POSIX getopt("vs:t:S"): options end at the first non-option or "--". */
function parseOpts(argv: string[]): { opts: Opts; rest: string[] } | undefined {
  const opts: Opts = { socket: DEFAULT_SOCKET, timeout: 30, listenTimeout: 0, simple: false, verbose: 0 };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    for (let j = 1; j < a.length; j++) {
      const ch = a[j]!;
      if (ch === 'v') opts.verbose++;
      else if (ch === 'S') opts.simple = true;
      else if (ch === 's' || ch === 't') {
        let arg = a.slice(j + 1);
        if (arg === '') {
          i++;
          if (i >= argv.length) return undefined;
          arg = argv[i]!;
        }
        if (ch === 's') opts.socket = arg;
        else opts.listenTimeout = opts.timeout = atoi(arg);
        break;
      } else return undefined;
    }
  }
  return { opts, rest: argv.slice(i) };
}

const statusOf = (e: unknown): number => {
  if (e instanceof UbusError) return e.status;
  throw e;
};

class Cli {
  constructor(
    readonly conn: UbusConnection,
    readonly opts: Opts,
    readonly io: Io,
  ) {}

  /** ubus_cli_error(): with stderr not a terminal, the whole command line and −status. */
  cliError(cmd: string, args: string[], status: number): number {
    if (!this.opts.simple && !this.io.stderrIsTty) {
      this.io.err(`Command failed: ubus ${cmd} ${args.map((a) => `${a} `).join('')}(${ubusStrerror(status)})\n`);
      return -status;
    }
    return status;
  }

  /** LOOKUP (libubus waits without a timeout); the DATA records. */
  async lookup(path: string | undefined): Promise<WireMessage[]> {
    const r = await this.conn.request(MsgType.LOOKUP, 0, path === undefined ? {} : { objpath: path }, { timeoutMs: 0 });
    return r.data.filter((d) => d.attrs.objpath !== undefined && d.attrs.objid !== undefined);
  }

  async lookupId(path: string): Promise<number> {
    const found = await this.lookup(path);
    const id = found[0]?.attrs.objid;
    if (id === undefined) throw new UbusError(Status.NOT_FOUND, path);
    return id >>> 0;
  }

  async addAnonymous(): Promise<number> {
    const r = await this.conn.request(MsgType.ADD_OBJECT, 0, {}, { timeoutMs: 0 });
    const id = r.data[0]?.attrs.objid;
    if (id === undefined) throw new UbusError(Status.NO_DATA, 'ADD_OBJECT without id');
    return id >>> 0;
  }

  async registerEvent(id: number, pattern: string): Promise<void> {
    const data = encodeTableBody({ object: int32(id | 0), pattern });
    await this.conn.request(MsgType.INVOKE, EVENT_OBJECT, { objid: EVENT_OBJECT, method: 'register', data }, { timeoutMs: 0 });
  }

  /** `{ "type": {…} }` as print_event() does (the type is printed unescaped). */
  printEvent(type: string, data: Buffer | undefined): void {
    const json = formatJsonBytes(data ?? Buffer.alloc(0));
    this.io.out(Buffer.concat([Buffer.from(`{ "${type}": `, 'utf8'), json, Buffer.from(' }\n')]));
  }

  reply(inv: WireMessage, objid: number): void {
    if (inv.attrs.noReply) return;
    this.conn.send({ type: MsgType.STATUS, seq: inv.seq, peer: inv.peer, attrs: { status: Status.OK, objid } });
  }

  /**
   * INVOKEs that arrive while a listener is being registered: the registration's reply and the
   * first event can come in one read, and the event would be emitted before the loop's handler
   * is attached. `stop()` hands them over; call it in runLoop's arguments (no gap between).
   */
  private holdInvokes(): { stop(): WireMessage[] } {
    const held: WireMessage[] = [];
    const onMsg = (m: WireMessage): void => {
      if (m.type === MsgType.INVOKE) held.push(m);
    };
    this.conn.on('message', onMsg);
    return {
      stop: () => {
        this.conn.off('message', onMsg);
        return held;
      },
    };
  }

  /** do_listen(): runs until the -t timeout (if any) or until ubusd goes away; `held` first. */
  runLoop(onInvoke: (m: WireMessage) => void, held: WireMessage[]): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (timedOut: boolean): void => {
        if (timer) clearTimeout(timer);
        this.conn.off('message', onMsg);
        this.conn.off('close', onClose);
        resolve(timedOut);
      };
      const onMsg = (m: WireMessage): void => {
        if (m.type === MsgType.INVOKE) onInvoke(m);
      };
      const onClose = (): void => finish(false);
      this.conn.on('message', onMsg);
      this.conn.on('close', onClose);
      for (const m of held) onMsg(m);
      if (!this.conn.isOpen) return finish(false);
      if (this.opts.listenTimeout) timer = setTimeout(() => finish(true), this.opts.listenTimeout * 1000);
    });
  }

  // ---- commands ------------------------------------------------------------

  async list(args: string[]): Promise<number> {
    if (args.length > 1) return -2;
    let found: WireMessage[];
    try {
      found = await this.lookup(args[0]);
    } catch (e) {
      return statusOf(e);
    }
    for (const d of found) {
      const a = d.attrs;
      if (this.opts.simple || !this.opts.verbose) {
        this.io.out(`${a.objpath}\n`);
        continue;
      }
      this.io.out(`'${a.objpath}' @${(a.objid! >>> 0).toString(16).padStart(8, '0')}\n`);
      if (!a.signature) continue;
      for (const [method, argTypes] of Object.entries(a.signature)) {
        const parts = Object.entries(argTypes).map(([k, t]) => Buffer.concat([formatJsonString(k), Buffer.from(`:"${TYPE_NAMES[t] ?? '(unknown)'}"`)]));
        const inner = parts.flatMap((p, i) => (i === 0 ? [p] : [Buffer.from(','), p]));
        this.io.out(Buffer.concat([Buffer.from('\t'), formatJsonString(method), Buffer.from(':{'), ...inner, Buffer.from('}\n')]));
      }
    }
    return 0;
  }

  async call(args: string[]): Promise<number> {
    if (args.length < 2 || args.length > 3) return -2;
    const [path, method, json] = args as [string, string, string | undefined];
    let body: Buffer = Buffer.alloc(0);
    if (json !== undefined) {
      try {
        body = encodeJsonArgs(json);
      } catch (e) {
        if (!(e instanceof JsonArgsError)) throw e;
        return this.cliError('call', args, Status.PARSE_ERROR);
      }
    }
    let id: number;
    try {
      id = await this.lookupId(path);
    } catch (e) {
      return statusOf(e);
    }
    try {
      // like the C CLI's data_cb: print each DATA as it arrives, so what came before a
      // failing STATUS (allowStatus) or a timeout is printed before the error (spec §7.3)
      const onData = (d: WireMessage): void => {
        if (d.attrs.data === undefined) return;
        this.io.out(Buffer.concat([formatJsonBytes(d.attrs.data, { indent: this.opts.simple ? -1 : 0 }), Buffer.from('\n')]));
      };
      const r = await this.conn.request(MsgType.INVOKE, id, { objid: id, method, data: body }, { timeoutMs: this.opts.timeout * 1000, allowStatus: true, onData });
      if (r.status !== Status.OK) return this.cliError('call', args, r.status);
    } catch (e) {
      return this.cliError('call', args, statusOf(e));
    }
    return 0;
  }

  async send(args: string[]): Promise<number> {
    if (args.length < 1 || args.length > 2) return -2;
    const [type, json] = args as [string, string | undefined];
    let body: Buffer = Buffer.alloc(0);
    if (json !== undefined) {
      try {
        body = encodeJsonArgs(json);
      } catch (e) {
        if (!(e instanceof JsonArgsError)) throw e;
        return Status.PARSE_ERROR;
      }
    }
    const data = Buffer.concat([encodeTableBody({ id: type }), blobmsgTable('data', body)]);
    try {
      await this.conn.request(MsgType.INVOKE, EVENT_OBJECT, { objid: EVENT_OBJECT, method: 'send', data }, { timeoutMs: 0 });
    } catch (e) {
      return statusOf(e);
    }
    return 0;
  }

  async listen(args: string[]): Promise<number> {
    const patterns = args.length > 0 ? args : ['*'];
    let id: number;
    let current = patterns[0]!;
    const hold = this.holdInvokes();
    try {
      id = await this.addAnonymous();
      for (const p of patterns) {
        current = p;
        await this.registerEvent(id, p);
      }
    } catch (e) {
      hold.stop();
      const st = statusOf(e);
      if (!this.opts.simple) this.io.err(`Error while registering for event '${current}': ${ubusStrerror(st)}\n`);
      return -1;
    }
    await this.runLoop((m) => {
      if (m.attrs.objid !== id) return;
      this.reply(m, id);
      if (m.attrs.method !== undefined) this.printEvent(m.attrs.method, m.attrs.data);
    }, hold.stop());
    return 0;
  }

  async subscribe(args: string[]): Promise<number> {
    if (args.length === 0) {
      if (!this.opts.simple) this.io.err('You need to specify an object to subscribe to\n');
      return -1;
    }
    let sid: number;
    const hold = this.holdInvokes();
    try {
      sid = await this.addAnonymous();
      for (const path of args) {
        const target = await this.lookupId(path);
        await this.conn.request(MsgType.SUBSCRIBE, 0, { objid: sid, target }, { timeoutMs: 0 });
      }
    } catch (e) {
      hold.stop();
      const st = statusOf(e);
      if (!this.opts.simple) this.io.err(`Error while registering for event '${args[0]}': ${ubusStrerror(st)}\n`);
      return -1;
    }
    await this.runLoop((m) => {
      if (m.attrs.objid !== sid) return;
      if (m.attrs.method === undefined) return;
      this.printEvent(m.attrs.method, m.attrs.data);
      this.reply(m, sid);
    }, hold.stop());
    return 0;
  }

  async waitFor(args: string[]): Promise<number> {
    if (args.length < 1) return -2;
    let pending = [...args];
    let wake: () => void = () => undefined;
    const done = new Promise<void>((r) => (wake = r));
    const seen = (path: string): void => {
      pending = pending.filter((p) => p !== path);
      if (pending.length === 0) wake();
    };
    let lid: number;
    try {
      lid = await this.addAnonymous();
      await this.registerEvent(lid, 'ubus.object.add');
    } catch (e) {
      return statusOf(e);
    }
    const onMsg = (m: WireMessage): void => {
      if (m.type !== MsgType.INVOKE || m.attrs.objid !== lid) return;
      this.reply(m, lid);
      if (m.attrs.method !== 'ubus.object.add' || !m.attrs.data) return;
      const path = lastString(m.attrs.data, 'path');
      if (path !== undefined) seen(path);
    };
    this.conn.on('message', onMsg);
    try {
      try {
        for (const d of await this.lookup(undefined)) seen(d.attrs.objpath!);
      } catch (e) {
        return statusOf(e);
      }
      if (pending.length === 0) return 0;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        done.then(() => false),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), this.opts.timeout * 1000))),
        new Promise<boolean>((r) => this.conn.once('close', () => r(false))),
      ]);
      if (timer) clearTimeout(timer);
      return timedOut || pending.length > 0 ? Status.TIMEOUT : 0;
    } finally {
      this.conn.off('message', onMsg);
    }
  }
}

const TYPE_NAMES: Record<number, string> = { 1: 'Array', 2: 'Table', 3: 'String', 5: 'Integer', 7: 'Boolean' };

/** blobmsg_parse with one STRING policy: the last matching entry wins. */
function lastString(body: Buffer, name: string): string | undefined {
  let v: string | undefined;
  let off = 0;
  while (body.length - off >= 4) {
    const w = body.readUInt32BE(off);
    const len = w & 0xffffff;
    if (len < 4 || ((len + 3) & ~3) > body.length - off) break;
    const p = body.subarray(off + 4, off + len);
    off += (len + 3) & ~3;
    if (w >>> 31 !== 1 || ((w >>> 24) & 0x7f) !== 3 || p.length < 3) continue;
    const nl = p.readUInt16BE(0);
    const hl = (2 + nl + 1 + 3) & ~3;
    if (p.length < hl + 1 || p[2 + nl] !== 0 || p[p.length - 1] !== 0) continue;
    if (p.subarray(2, 2 + nl).toString('utf8') !== name) continue;
    const s = p.subarray(hl, p.length - 1);
    const nul = s.indexOf(0);
    v = (nul < 0 ? s : s.subarray(0, nul)).toString('utf8');
  }
  return v;
}

/** Runs one CLI invocation; returns the C return value (before truncation to 8 bits). */
export async function runUbusCli(argv: string[], io: Io = processIo): Promise<number> {
  const parsed = parseOpts(argv);
  if (!parsed) return usage(io);
  const { opts, rest } = parsed;
  if (rest.length < 1) return usage(io);
  const [cmd, ...args] = rest as [string, ...string[]];
  let conn: UbusConnection;
  try {
    conn = await UbusConnection.open(opts.socket, { timeoutMs: 0 });
  } catch {
    if (!opts.simple) io.err('Failed to connect to ubus\n');
    return -1;
  }
  const cli = new Cli(conn, opts, io);
  let ret = -2;
  try {
    switch (cmd) {
      case 'list':
        ret = await cli.list(args);
        break;
      case 'call':
        ret = await cli.call(args);
        break;
      case 'listen':
        ret = await cli.listen(args);
        break;
      case 'subscribe':
        ret = await cli.subscribe(args);
        break;
      case 'send':
        ret = await cli.send(args);
        break;
      case 'wait_for':
        ret = await cli.waitFor(args);
        break;
      default:
        break;
    }
  } finally {
    conn.close();
  }
  if (ret > 0 && !opts.simple) io.err(`Command failed: ${ubusStrerror(ret)}\n`);
  else if (ret === -2) usage(io);
  return ret;
}

/** `xfrmd ubus …` entry point: the process exit code (C `return ret` & 0xff). */
export async function main(argv: string[]): Promise<number> {
  return (await runUbusCli(argv)) & 0xff;
}
