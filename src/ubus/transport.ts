// The byte stream to ubusd, over our N-API addon (native/nlsock.c) instead of node:net: the
// daemon then loads neither net nor node's streams (2 MB of its memory). Everything written in
// one tick leaves in one system call; what a full socket does not take waits for it.
import { r32 } from '../netlink/host.ts';
import { loadNative, type NativeHandle, type NativeNetlink } from '../netlink/native.ts';

export interface StreamHandlers {
  data(chunk: Buffer): void;
  /** once: the peer closed (no error) or the socket failed */
  close(err: Error | undefined): void;
}

function sysError(e: unknown, op: string): Error {
  const errno = typeof (e as { errno?: unknown })?.errno === 'number' ? (e as { errno: number }).errno : 0;
  return Object.assign(new Error(`${op}: ${e instanceof Error ? e.message : String(e)}`), { errno });
}

export class UnixStream {
  private readonly native: NativeNetlink;
  private handle: NativeHandle | undefined;
  /** written this tick, not yet sent */
  private outgoing: Buffer[] = [];
  /** what the socket has not taken yet, oldest first */
  private backlog: Buffer[] = [];
  private scheduled = false;

  /** Connects at once (a local socket accepts or refuses right away); throws with errno. */
  constructor(
    path: string,
    private readonly on: StreamHandlers,
  ) {
    this.native = loadNative();
    try {
      this.handle = this.native.connectUnix(path);
    } catch (e) {
      throw sysError(e, `connect ${path}`);
    }
    this.native.startStream(
      this.handle,
      (errno, batch, eof) => this.onData(errno, batch, eof),
      () => this.flush(),
    );
  }

  get closed(): boolean {
    return this.handle === undefined;
  }

  write(b: Buffer): void {
    if (!this.handle) return;
    this.outgoing.push(b);
    if (this.scheduled) return;
    this.scheduled = true;
    process.nextTick(() => {
      this.scheduled = false;
      const all = this.outgoing.length === 1 ? this.outgoing[0]! : Buffer.concat(this.outgoing);
      this.outgoing = [];
      this.backlog.push(all);
      if (this.backlog.length === 1) this.flush();
    });
  }

  private flush(): void {
    while (this.handle && this.backlog.length) {
      const b = this.backlog[0]!;
      let n: number;
      try {
        n = this.native.write(this.handle, b);
      } catch (e) {
        return this.end(sysError(e, 'write to ubusd'));
      }
      if (n === b.length) {
        this.backlog.shift();
        continue;
      }
      this.backlog[0] = b.subarray(n);
      this.native.wantWrite(this.handle, true);
      return;
    }
  }

  private onData(errno: number, batch: Buffer, eof: boolean): void {
    const len = batch.length >= 4 ? r32(batch, 0) : 0;
    if (len > 0) this.on.data(batch.subarray(4, 4 + len));
    if (errno) this.end(Object.assign(new Error(`read from ubusd: errno ${errno}`), { errno }));
    else if (eof) this.end(undefined);
  }

  private end(err: Error | undefined): void {
    if (!this.handle) return;
    this.destroy();
    this.on.close(err);
  }

  /** Closes without telling `close` (the owner knows). */
  destroy(): void {
    if (!this.handle) return;
    this.native.close(this.handle);
    this.handle = undefined;
    this.outgoing = [];
    this.backlog = [];
  }
}
