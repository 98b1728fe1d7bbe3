// The byte stream to ubusd over our addon: order, a peer that reads slowly (the socket fills and
// what it did not take goes out when it drains), end of stream, refusal.
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnixStream } from '../../src/ubus/transport.ts';

let dir = '';
let server: Server | undefined;
afterEach(() => {
  server?.close();
  server = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function listen(onConn: (s: Socket) => void): Promise<string> {
  dir = mkdtempSync(join(tmpdir(), 'xfrmd-unix-'));
  const path = join(dir, 'sock');
  server = createServer(onConn);
  await new Promise<void>((r) => server!.listen(path, r));
  return path;
}

describe('UnixStream', () => {
  it('delivers 4 MB written in many pieces, in order, to a peer that starts reading late', async () => {
    let peer!: Socket;
    const got: Buffer[] = [];
    const connected = new Promise<void>((r) => {
      void listen((s) => {
        peer = s;
        s.pause();
        s.on('data', (d: Buffer) => got.push(d));
        r();
      }).then((path) => {
        const st = new UnixStream(path, { data: () => {}, close: () => {} });
        // 64 pieces of 64 KiB in one tick: one write, far more than the socket holds
        for (let i = 0; i < 64; i++) st.write(Buffer.alloc(65536, i));
        setTimeout(() => peer.resume(), 200);
      });
    });
    await connected;
    await new Promise<void>((r) => {
      const t = setInterval(() => {
        if (got.reduce((n, b) => n + b.length, 0) >= 64 * 65536) {
          clearInterval(t);
          r();
        }
      }, 20);
    });
    const all = Buffer.concat(got);
    expect(all.length).toBe(64 * 65536);
    for (let i = 0; i < 64; i++) expect(all[i * 65536 + 123]).toBe(i);
  });

  it('hands over what the peer sends, then the end of the stream once', async () => {
    const path = await listen((s) => s.end(Buffer.from('hello')));
    const chunks: string[] = [];
    const closed: Array<Error | undefined> = [];
    await new Promise<void>((r) => {
      new UnixStream(path, {
        data: (c) => chunks.push(c.toString()),
        close: (e) => {
          closed.push(e);
          r();
        },
      });
    });
    expect(chunks.join('')).toBe('hello');
    expect(closed).toEqual([undefined]);
  });

  it('refuses at once when nothing listens, with errno', () => {
    dir = mkdtempSync(join(tmpdir(), 'xfrmd-unix-'));
    expect(() => new UnixStream(join(dir, 'none'), { data: () => {}, close: () => {} })).toThrow(expect.objectContaining({ errno: 2 }));
  });
});
