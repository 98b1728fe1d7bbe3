// Live fuzz: a fake ubusd on a unix socket answers our client's ADD_OBJECTs
// and then writes ≥ 10,000 random and mutated frames (from the real captures)
// at it. Nothing may escape: no exception, no unhandled rejection; framing
// errors make the client reconnect; afterwards it works against the broker.
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { TestBroker, loadCapture, frame, attr, u32, bmsg, parseMsg, A, T } from '../support/broker.ts';
import { UbusClient } from '../../src/ubus/client.ts';
import { BlobmsgType } from '../../src/ubus/wire.ts';
import { rng } from '../support/fuzz.ts';

const FRAMES = 12_000;


const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('live fuzz', () => {
  const escaped: unknown[] = [];
  const onRej = (e: unknown): void => void escaped.push(e);
  process.on('unhandledRejection', onRej);
  process.on('uncaughtException', onRej);
  afterAll(() => {
    process.off('unhandledRejection', onRej);
    process.off('uncaughtException', onRej);
  });

  it(`survives ${FRAMES} hostile frames, reconnects, then works`, async () => {
    const seed = Number(process.env.FUZZ_SEED ?? 0x5eed);
    const rand = rng(seed);
    const ri = (n: number): number => Math.floor(rand() * n);
    const broker = await TestBroker.start();
    await broker.stop(); // we only borrow its temp dir and socket path for now

    // base material: every ubusd→client message of the captures, plus INVOKEs for our objects
    const base = ['a_list', 'c_call_status', 'e_listen', 'f_server_owner', 'g_subscriber', 'h_netifd_session', 'x_netifd_session_extdev']
      .flatMap((n) => loadCapture(n))
      .filter((m) => m.dir === 's2c' && m.msg.type !== T.HELLO)
      .map((m) => m.msg.raw);

    const ids: number[] = [];
    let objId = 0; // fuzz.obj on the current connection (objects are re-added first)
    let sent = 0;
    let connections = 0;
    let lastSeq = 0;
    const server = net.createServer((sock) => {
      connections++;
      sock.on('error', () => undefined);
      const hello = frame(T.HELLO, 0, 0x1000 + connections, []);
      sock.write(hello);
      let buf = Buffer.alloc(0);
      let firstAdd = true;
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 12) {
          const len = 8 + (buf.readUInt32BE(8) & 0xffffff);
          if (buf.length < len) break;
          const m = parseMsg(Buffer.from(buf.subarray(0, len)));
          buf = buf.subarray(len);
          lastSeq = m.seq;
          if (m.type === T.ADD_OBJECT) {
            const id = 0x2000 + ri(0x7fff);
            ids.push(id);
            if (firstAdd && m.attrs.has(A.OBJPATH)) objId = id;
            firstAdd = false;
            sock.write(frame(T.DATA, m.seq, m.peer, [attr(A.OBJID, u32(id))]));
            sock.write(frame(T.STATUS, m.seq, m.peer, [attr(A.STATUS, u32(0))]));
          } else if (m.type !== T.STATUS && m.type !== T.DATA && ri(2) === 0) {
            sock.write(frame(T.STATUS, m.seq, m.peer, [attr(A.STATUS, u32(ri(16)))]));
          }
        }
      });
    });
    await new Promise<void>((r) => server.listen(broker.socketPath, r));
    const sockets = new Set<net.Socket>();
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });

    const c = new UbusClient({ socketPath: broker.socketPath, reconnect: true, reconnectDelayMs: 5, maxReconnectDelayMs: 20, timeoutMs: 200 });
    let reconnects = 0;
    c.on('reconnect', () => reconnects++);
    await c.connect();
    const handled: string[] = [];
    await c.addObject('fuzz.obj', {
      strict: { policy: { s: BlobmsgType.STRING, n: BlobmsgType.INT32, b: BlobmsgType.BOOL, t: BlobmsgType.TABLE }, handler: (req) => void handled.push(req.method) },
      echo: (req) => req.data,
      throws: () => {
        throw new Error('handler bug');
      },
      slow: async () => (await sleep(1), { ok: true }),
    });
    await c.listen('*', () => undefined).catch(() => undefined);
    await c.subscribe('fuzz.target', () => undefined, { waitForTarget: true }).catch(() => undefined);

    const methods = ['strict', 'echo', 'throws', 'slow', 'nosuch', ''];
    const mutate = (): Buffer => {
      const kind = ri(10);
      const objid = ri(2) && objId ? objId : ids.length && ri(4) > 0 ? ids[ri(ids.length)]! : ri(0x10000);
      if (kind <= 2) {
        // a well-formed INVOKE for our objects, with random blobmsg DATA
        const fields: Buffer[] = [];
        for (let i = 0, n = ri(5); i < n; i++) {
          const name = ['s', 'n', 'b', 't', 'x', ''][ri(6)]!;
          const type = ri(10);
          const val = Buffer.alloc(ri(12));
          for (let j = 0; j < val.length; j++) val[j] = ri(256);
          fields.push(bmsg(type, name, val));
        }
        const parts = [attr(A.OBJID, u32(objid)), attr(A.METHOD, Buffer.from(`${methods[ri(methods.length)]}\0`))];
        if (ri(5) > 0) parts.push(attr(A.DATA, Buffer.concat(fields)));
        if (ri(4) === 0) parts.push(attr(A.NO_REPLY, Buffer.from([ri(2)])));
        if (ri(3) === 0) parts.push(attr(A.USER, Buffer.from('root\0')));
        return frame([T.INVOKE, T.NOTIFY, T.UNSUBSCRIBE][ri(3)]!, ri(0x10000), ri(3) === 0 ? 0 : ri(0xffffffff), parts);
      }
      if (kind === 3) {
        // replies aimed at what we have in flight
        return frame(ri(2) ? T.STATUS : T.DATA, (lastSeq + ri(3) - 1) & 0xffff, ri(2) ? 0 : objid, [attr(A.STATUS, u32(ri(20))), attr(A.OBJID, u32(objid))]);
      }
      const b = Buffer.from(base[ri(base.length)]!);
      if (kind === 4) {
        // pure random body with a valid outer length
        const body = Buffer.alloc(ri(64));
        for (let i = 0; i < body.length; i++) body[i] = ri(256);
        return frame(ri(16), ri(0x10000), ri(0xffffffff), [body]);
      }
      // flip bytes anywhere after the outer length, or rewrite an inner length / the type / the version
      for (let i = 0, n = 1 + ri(4); i < n; i++) {
        const at = 12 + ri(Math.max(1, b.length - 12));
        if (at < b.length) b[at] = ri(256);
      }
      if (kind === 5) b[1] = ri(16);
      if (kind === 6) b[0] = ri(3);
      if (kind === 7 && b.length > 16) b.writeUInt32BE(ri(0xffffffff), 12);
      if (kind === 8 && b.length >= 16) b.writeUInt32BE(objid, 12 + 4 * ri(Math.floor((b.length - 12) / 4)) - 0);
      return b;
    };

    while (sent < FRAMES) {
      const s = [...sockets][0];
      if (!s || s.destroyed) {
        await sleep(5);
        continue;
      }
      const batch: Buffer[] = [];
      for (let i = 0; i < 100 && sent < FRAMES; i++, sent++) batch.push(mutate());
      // now and then a framing error: the client must drop the connection and come back
      if (ri(25) === 0) {
        const bad = Buffer.alloc(12);
        bad.writeUInt32BE(ri(2) ? 2 : 0x00ffffff, 8);
        batch.push(bad);
      }
      s.write(Buffer.concat(batch));
      await sleep(1);
    }
    await sleep(100);
    console.log(`fuzz seed=${seed} frames=${sent} connections=${connections} reconnects=${reconnects} strict-handled=${handled.length}`);
    expect(sent).toBeGreaterThanOrEqual(10_000);
    expect(handled.length).toBeGreaterThan(0);
    expect(escaped).toEqual([]);
    expect(reconnects).toBeGreaterThan(0);

    // recovery: swap the hostile server for the real broker on the same path
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
    await broker.restart();
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      if (c.connected && (await c.lookup('fuzz.obj').then(() => true, () => false))) break;
      await sleep(20);
    }
    const other = new UbusClient({ socketPath: broker.socketPath, reconnect: false });
    await other.connect();
    expect(await other.call('fuzz.obj', 'echo', { back: 'alive' })).toEqual([{ back: 'alive' }]);
    other.close();
    c.close();
    await broker.close();
    expect(escaped).toEqual([]);
  }, 60_000);
});
