// Typed wrapper of native/nlsock.c (why an addon of our own: see that file's header).
// The addon is built by `npm ci` (package.json "install": node-gyp in native/).
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Opaque socket handle owned by the addon. */
export type NativeHandle = { readonly __nlsock: unique symbol };

export interface NativeNetlink {
  open(protocol: number, netns: string | null, rcvbuf: number, flags: number): NativeHandle;
  portid(h: NativeHandle): number;
  addMembership(h: NativeHandle, group: number): void;
  send(h: NativeHandle, buf: Buffer): number;
  /** errno 0 with datagrams, or errno (ENOBUFS = overflow) with possibly some datagrams;
   *  batch = records [u32 length (host order)][datagram, padded to 4] */
  start(h: NativeHandle, cb: (errno: number, batch: Buffer) => void): void;
  ref(h: NativeHandle, on: boolean): void;
  close(h: NativeHandle): void;
  /** a unix stream socket (ubusd); errors thrown carry `errno` */
  connectUnix(path: string): NativeHandle;
  /** bytes the socket took (0: it is full; wantWrite tells when it takes more) */
  write(h: NativeHandle, buf: Buffer): number;
  /** onData: errno 0 or the error that ended it; batch = one record [u32 length][bytes]; eof at the end */
  startStream(h: NativeHandle, onData: (errno: number, batch: Buffer, eof: boolean) => void, onWritable: () => void): void;
  wantWrite(h: NativeHandle, on: boolean): void;
  /** glibc: give the C heap's free pages back (malloc_trim); true if any were; musl: no-op, false */
  releaseFreeMemory(): boolean;
}

export const OPEN_EXT_ACK = 1;
export const OPEN_STRICT_CHK = 2;
export const OPEN_CAP_ACK = 4;
export const OPEN_NO_ENOBUFS = 8;

const FILE = 'xfrmd_netlink.node';

function candidates(): string[] {
  const env = process.env.XFRMD_NETLINK_ADDON;
  const rel = [
    '../../native/build/Release/', // from src/netlink/
    '../native/build/Release/', // from dist/xfrmd.cjs
    './', // installed beside the bundle
  ];
  const list = rel.map((r) => fileURLToPath(new URL(r + FILE, import.meta.url)));
  return env ? [env, ...list] : list;
}

let cached: NativeNetlink | undefined;

export function loadNative(): NativeNetlink {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const tried = candidates();
  const path = tried.find((p) => existsSync(p));
  if (!path) throw new Error(`netlink addon not built (run npm ci or npm run install); looked in: ${tried.join(', ')}`);
  cached = require(path) as NativeNetlink;
  return cached;
}
