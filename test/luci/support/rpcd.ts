// A stand-in for what a LuCI page talks to on a router: uhttpd serving
// /www/luci-static (LuCI's files from the snapshot plus our protocol page), the
// ucode dispatcher's few endpoints LuCI's client code uses (the view page, the
// menu, translations, uci apply/confirm/revert with rollback), and rpcd's
// JSON-RPC at /ubus (session ACLs, uci with session changes, file reads,
// network.interface dump, luci-rpc, xfrmd status). Replies have the shapes
// luci-base's rpc.js/uci.js/network.js/fs.js read. Every call is recorded;
// calls it does not know are recorded too, so a test can require that LuCI
// asked for nothing unanswered.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { extname, join, normalize } from 'node:path';
import type { AddressInfo } from 'node:net';
import { luciTree, ROOT } from './luci-tree.ts';
import { UBUS, UciStore } from './uci-store.ts';

export const SESSION = 'c0ffee00c0ffee00c0ffee00c0ffee00';
const TOKEN = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
const OUR_WWW = join(ROOT, 'files/www/luci-static');
const OUR_ACL = join(ROOT, 'files/usr/share/rpcd/acl.d/luci-proto-xfrm.json');

export interface RpcCall {
  object: string;
  method: string;
  args: Record<string, unknown>;
  /** false when the stand-in had no answer (a gap in the stand-in, or LuCI asked for something unexpected) */
  known: boolean;
}

export interface StandInOptions {
  uci: ConstructorParameters<typeof UciStore>[0];
  /** luci-rpc getNetworkDevices reply */
  devices: Record<string, unknown>;
  /** network.interface dump: the interfaces' netifd status */
  interfaces: Array<Record<string, unknown>>;
  /** network get_proto_handlers reply */
  protoHandlers: Record<string, unknown>;
  /** xfrmd status replies by interface (missing: ubus NOT_FOUND, as the daemon answers) */
  xfrmdStatus: Record<string, unknown>;
  /** files rpcd's file.read serves */
  files: Record<string, string>;
  features: Record<string, unknown>;
  /** msgid → translation; empty: English */
  catalog?: Record<string, string>;
}

type Reply = [number, unknown?] | { error: { code: number; message: string } };

/** rpcd's ACLs: what luci-base's ACL files grant an admin, plus our package's file. */
function xfrmdGrants(): Set<string> {
  const acl = JSON.parse(readFileSync(OUR_ACL, 'utf8')) as Record<string, { read?: { ubus?: Record<string, string[]> } }>;
  const out = new Set<string>();
  for (const g of Object.values(acl)) for (const [obj, methods] of Object.entries(g.read?.ubus ?? {})) for (const m of methods) out.add(`${obj}.${m}`);
  return out;
}

const MIME: Record<string, string> = {
  '.js': 'application/javascript',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.html': 'text/html; charset=UTF-8',
};

export class LuciStandIn {
  readonly uci: UciStore;
  readonly calls: RpcCall[] = [];
  readonly http: string[] = [];
  private server: Server | undefined;
  private readonly tree = luciTree();
  private readonly grants = xfrmdGrants();
  private rollbackToken: string | undefined;
  port = 0;

  constructor(readonly o: StandInOptions) {
    this.uci = new UciStore(o.uci);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** uci calls that change the session's config (set/delete/add/order), in order. */
  writes(): RpcCall[] {
    return this.calls.filter((c) => c.object === 'uci' && ['set', 'delete', 'add', 'order', 'rename'].includes(c.method));
  }

  unknownCalls(): RpcCall[] {
    return this.calls.filter((c) => !c.known);
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res).catch((e: unknown) => {
      res.statusCode = 500;
      res.end(String(e));
    }));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = decodeURIComponent(url.pathname);
    this.http.push(`${req.method} ${path}`);
    const body = req.method === 'POST' ? await readBody(req) : '';

    if (path.startsWith('/ubus')) return this.jsonRpc(body, res);
    if (path.startsWith('/luci-static/')) return this.static(path, res);
    if (path === '/cgi-bin/luci/admin/network/network') return send(res, 200, MIME['.html']!, this.page());
    if (path === '/cgi-bin/luci/admin/menu') return send(res, 200, MIME['.json']!, JSON.stringify(MENU));
    if (path.startsWith('/cgi-bin/luci/admin/uci/')) return this.uciAction(path.slice('/cgi-bin/luci/admin/uci/'.length), url, body, res);
    if (path === '/cgi-bin/cgi-exec') return this.cgiExec(body, res);
    send(res, 404, 'text/plain', 'not found');
  }

  private static(path: string, res: ServerResponse): void {
    const rel = normalize(path.slice('/luci-static/'.length));
    if (rel.startsWith('..')) return send(res, 403, 'text/plain', 'no');
    const candidates = rel.startsWith('resources/')
      ? [join(OUR_WWW, rel), join(this.tree.base, rel.slice('resources/'.length)), join(this.tree.network, rel.slice('resources/'.length)), join(this.tree.theme, rel)]
      : [join(this.tree.theme, rel)];
    const file = candidates.find((f) => existsSync(f) && statSync(f).isFile());
    if (!file) return send(res, 404, 'text/plain', 'not found');
    send(res, 200, MIME[extname(file)] ?? 'application/octet-stream', readFileSync(file));
  }

  /** The page the dispatcher renders for admin/network/network (header.ut + view.ut + the theme's frame). */
  private page(): string {
    const env = {
      media: '/luci-static/bootstrap',
      resource: '/luci-static/resources',
      scriptname: '/cgi-bin/luci',
      pathinfo: '/admin/network/network',
      documentroot: '/www',
      requestpath: ['admin', 'network', 'network'],
      dispatchpath: ['admin', 'network', 'network'],
      pollinterval: 5,
      ubuspath: '/ubus/',
      sessionid: SESSION,
      token: TOKEN,
      nodespec: { satisfied: true, readonly: false, title: 'Interfaces', order: 10, action: { type: 'view', path: 'network/interfaces' } },
      apply_rollback: 90,
      apply_holdoff: 1,
      apply_timeout: 5,
      apply_display: 1,
      rollback_token: null,
    };
    const catalog = JSON.stringify(this.o.catalog ?? {});
    return `<!DOCTYPE html>
<html lang="en" data-darkmode="false">
<head>
<meta charset="utf-8">
<title>OpenWrt | Interfaces</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/luci-static/bootstrap/cascade.css">
<link rel="icon" href="/luci-static/bootstrap/logo_48.png" sizes="48x48">
<script src="/luci-static/resources/cbi.js"></script>
<script>(function(c) { if (!Object.keys(c).length) return; window.TR = {}; for (var k in c) TR[sfh(k)] = c[k]; })(${catalog});</script>
</head>
<body class="lang_en" data-page="admin-network-network">
<header><a class="brand" href="/">OpenWrt</a><ul class="nav" id="modemenu"></ul><ul class="nav" id="topmenu" style="display:none"></ul><div id="indicators" class="pull-right"></div></header>
<div id="maincontent" class="container">
<div id="tabmenu" style="display:none"></div>
<script src="/luci-static/resources/luci.js"></script>
<script>L = new LuCI(${JSON.stringify(env)});</script>
<div id="view"><div class="spinning">Loading view…</div><script>L.require('ui').then(function(ui) { ui.instantiateView('network/interfaces'); });</script></div>
<script>L.require('menu-bootstrap');</script>
</div>
</body>
</html>`;
  }

  /**
   * cgi-io's cgi-exec (fs.exec_direct): before a checked apply LuCI asks
   * luci-peeraddr which interfaces the browser comes in through.
   */
  private cgiExec(body: string, res: ServerResponse): void {
    const form = new URLSearchParams(body);
    const command = form.get('command') ?? '';
    const known = command === '/usr/libexec/luci-peeraddr';
    this.calls.push({ object: 'cgi-exec', method: command, args: {}, known });
    if (form.get('sessionid') !== SESSION) return send(res, 403, 'text/plain', 'Access to command denied by ACL');
    if (!known) return send(res, 403, 'text/plain', 'Access to command denied by ACL');
    send(res, 200, 'text/plain', JSON.stringify({ remote_addr: '192.168.1.100', inbound_interfaces: ['lan'] }));
  }

  /** luci-base's controller/admin/uci.uc */
  private uciAction(action: string, url: URL, body: string, res: ServerResponse): void {
    const form = new URLSearchParams(body);
    const param = (k: string) => url.searchParams.get(k) ?? form.get(k);
    if (param('sid') !== SESSION && action !== 'confirm') return send(res, 403, 'text/plain', 'Permission denied');
    this.calls.push({ object: 'http', method: `admin/uci/${action}`, args: Object.fromEntries(url.searchParams), known: true });
    const status = (code: number) => {
      const http = [200, 400, 400, 404, 404, 204, 403, 504, 500, 500][code] ?? 500;
      if (http === 204) return send(res, 204, 'text/plain', '');
      return send(res, http, 'text/plain', http === 200 ? 'OK' : 'error');
    };
    switch (action) {
      case 'apply_rollback': {
        const [rc] = this.uci.apply(true, 90);
        if (rc !== UBUS.OK) return status(rc);
        this.rollbackToken = randomBytes(16).toString('hex');
        return send(res, 200, 'application/json; charset=UTF-8', JSON.stringify({ token: this.rollbackToken }));
      }
      case 'apply_unchecked': {
        for (const c of Object.keys((this.uci.changes()[1] as { changes: object }).changes)) this.uci.commit(c);
        return status(UBUS.OK);
      }
      case 'confirm':
        if (!this.rollbackToken || !this.uci.rollbackPending) return status(UBUS.NO_DATA);
        if (param('token') !== this.rollbackToken) return status(UBUS.PERMISSION_DENIED);
        this.rollbackToken = undefined;
        return status(this.uci.confirm()[0]);
      case 'revert':
        for (const c of Object.keys((this.uci.changes()[1] as { changes: object }).changes)) this.uci.revert(c);
        return status(UBUS.OK);
    }
    send(res, 404, 'text/plain', 'not found');
  }

  private jsonRpc(body: string, res: ServerResponse): void {
    let msg: unknown;
    try {
      msg = JSON.parse(body);
    } catch {
      return send(res, 200, 'application/json', JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } }));
    }
    const one = (m: unknown) => this.rpcMessage(m as { id?: unknown; method?: string; params?: unknown[] });
    const reply = Array.isArray(msg) ? msg.map(one) : one(msg);
    send(res, 200, 'application/json', JSON.stringify(reply));
  }

  private rpcMessage(m: { id?: unknown; method?: string; params?: unknown[] }): unknown {
    const frame = { jsonrpc: '2.0', id: m.id ?? null };
    if (m.method === 'list') return { ...frame, result: {} };
    if (m.method !== 'call' || !Array.isArray(m.params)) return { ...frame, error: { code: -32601, message: 'Method not found' } };
    const [sid, object, method, args] = m.params as [string, string, string, Record<string, unknown>];
    if (sid !== SESSION) return { ...frame, error: { code: -32002, message: 'Access denied' } };
    const r = this.call(String(object), String(method), args ?? {});
    if (!Array.isArray(r)) return { ...frame, ...r };
    return { ...frame, result: r };
  }

  private call(object: string, method: string, args: Record<string, unknown>): Reply {
    const rec: RpcCall = { object, method, args, known: true };
    this.calls.push(rec);
    const str = (k: string) => (typeof args[k] === 'string' ? (args[k] as string) : undefined);
    switch (`${object}.${method}`) {
      case 'session.access':
        return [UBUS.OK, { access: str('object') !== 'xfrmd' || this.grants.has(`xfrmd.${str('function') ?? ''}`) }];
      case 'uci.get':
        return this.uci.get(str('config') ?? '', str('section'), str('option'));
      case 'uci.set':
        return this.uci.set(str('config') ?? '', str('section') ?? '', (args.values ?? {}) as Record<string, unknown>);
      case 'uci.delete': {
        const opts = Array.isArray(args.options) ? (args.options as string[]) : str('option') ? [str('option')!] : undefined;
        return this.uci.delete(str('config') ?? '', str('section') ?? '', opts);
      }
      case 'uci.add':
        return this.uci.add(str('config') ?? '', str('type') ?? '', str('name'), (args.values ?? {}) as Record<string, unknown>);
      case 'uci.order':
        return this.uci.order(str('config') ?? '', (args.sections ?? []) as string[]);
      case 'uci.changes':
        return this.uci.changes(str('config'));
      case 'uci.revert':
        return this.uci.revert(str('config') ?? '');
      case 'uci.apply':
        return this.uci.apply(args.rollback === true, typeof args.timeout === 'number' ? args.timeout : 30);
      case 'uci.confirm':
        return this.uci.confirm();
      case 'uci.rollback':
        return this.uci.rollback();
      case 'luci.getFeatures':
        return [UBUS.OK, this.o.features];
      case 'luci-rpc.getNetworkDevices':
        return [UBUS.OK, this.o.devices];
      case 'luci-rpc.getBoardJSON':
        return [UBUS.OK, { model: { id: 'standin', name: 'Stand-in router' }, network: { lan: { device: 'br-lan' }, wan: { device: 'eth1' } } }];
      case 'luci-rpc.getWirelessDevices':
      case 'luci-rpc.getHostHints':
        return [UBUS.OK, {}];
      case 'network.interface.dump':
        return [UBUS.OK, { interface: this.o.interfaces }];
      case 'network.get_proto_handlers':
        return [UBUS.OK, this.o.protoHandlers];
      case 'network.device.status': {
        const d = this.o.devices[str('name') ?? ''];
        return d ? [UBUS.OK, d] : [UBUS.NOT_FOUND];
      }
      case 'file.list':
        return [UBUS.NOT_FOUND];
      case 'file.read': {
        const f = this.o.files[str('path') ?? ''];
        return f === undefined ? [UBUS.NOT_FOUND] : [UBUS.OK, { data: f }];
      }
      case 'file.stat':
        return this.o.files[str('path') ?? ''] === undefined ? [UBUS.NOT_FOUND] : [UBUS.OK, { type: 'file', size: 1 }];
    }
    if (object === 'xfrmd') {
      // rpcd checks the session's ACL before the call reaches the object
      if (!this.grants.has(`xfrmd.${method}`)) return { error: { code: -32002, message: 'Access denied' } };
      if (method === 'status') {
        const name = str('interface');
        if (name === undefined) return [UBUS.OK, { interfaces: Object.values(this.o.xfrmdStatus) }];
        const st = this.o.xfrmdStatus[name];
        return st === undefined ? [UBUS.NOT_FOUND] : [UBUS.OK, st];
      }
    }
    rec.known = false;
    // what rpcd answers for an object that is not there
    return { error: { code: -32000, message: 'Object not found' } };
  }
}

const MENU = {
  satisfied: true,
  children: {
    admin: {
      satisfied: true,
      title: 'Administration',
      children: {
        network: {
          satisfied: true,
          title: 'Network',
          order: 50,
          children: {
            network: { satisfied: true, title: 'Interfaces', order: 10, action: { type: 'view', path: 'network/interfaces' } },
          },
        },
      },
    },
  },
};

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
  res.end(body);
}
