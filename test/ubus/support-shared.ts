// Locates the shared folder (captures, spec): `<repo>/../shared` (CI puts a
// read-only copy next to the clone), else /work/shared. Loads capture files
// as per-direction byte streams and frames, independent of src/ubus.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export function sharedDir(): string {
  for (const d of [resolve(REPO, '../shared'), '/work/shared']) if (existsSync(join(d, 'ubus-captures'))) return d;
  throw new Error(`shared folder not found (looked in ${resolve(REPO, '../shared')} and /work/shared)`);
}

export const capturesDir = (): string => join(sharedDir(), 'ubus-captures');
export const cliOutputDir = (): string => join(capturesDir(), 'cli-output');

/** Every *.json capture, by listing the folder (new files are picked up). */
export function captureFiles(): string[] {
  return readdirSync(capturesDir())
    .filter((f) => f.endsWith('.json'))
    .sort();
}

export interface Chunk {
  direction: 'c2s' | 's2c';
  hex: string;
}

export interface Capture {
  name: string;
  /** each direction's bytes, reassembled in arrival order */
  streams: Record<'c2s' | 's2c', Buffer>;
  /** frames in arrival order (split with the framing rule: 8 + (be32[8..12] & 0xffffff)) */
  frames: { dir: 'c2s' | 's2c'; bytes: Buffer }[];
  /** bytes left over at the end of each stream (should be empty) */
  leftover: Record<'c2s' | 's2c', Buffer>;
}

export function loadCaptureFile(file: string): Capture {
  const chunks = JSON.parse(readFileSync(join(capturesDir(), file), 'utf8')) as Chunk[];
  const streams = { c2s: [] as Buffer[], s2c: [] as Buffer[] };
  const pending: Record<'c2s' | 's2c', Buffer> = { c2s: Buffer.alloc(0), s2c: Buffer.alloc(0) };
  const frames: Capture['frames'] = [];
  for (const ch of chunks) {
    const b = Buffer.from(ch.hex, 'hex');
    streams[ch.direction].push(b);
    let acc = Buffer.concat([pending[ch.direction], b]);
    while (acc.length >= 12) {
      const len = 8 + (acc.readUInt32BE(8) & 0xffffff);
      if (len < 12 || acc.length < len) break;
      frames.push({ dir: ch.direction, bytes: Buffer.from(acc.subarray(0, len)) });
      acc = acc.subarray(len);
    }
    pending[ch.direction] = acc;
  }
  return {
    name: file.replace(/\.json$/, ''),
    streams: { c2s: Buffer.concat(streams.c2s), s2c: Buffer.concat(streams.s2c) },
    frames,
    leftover: pending,
  };
}

/** One cli-output/*.txt file: the command line, the expected output and exit code. */
export interface CliExpectation {
  file: string;
  command: string;
  output: string;
  exit: number;
}

export function cliOutputs(): CliExpectation[] {
  return readdirSync(cliOutputDir())
    .filter((f) => f.endsWith('.txt'))
    .sort()
    .map((file) => {
      const text = readFileSync(join(cliOutputDir(), file), 'utf8');
      const lines = text.split('\n');
      const first = lines[0] ?? '';
      if (!first.startsWith('$ ')) throw new Error(`${file}: no "$ command" line`);
      const exitAt = lines.findIndex((l) => /^\[exit \d+\]$/.test(l));
      if (exitAt < 0) throw new Error(`${file}: no [exit N] line`);
      const body = lines.slice(1, exitAt);
      return {
        file,
        command: first.slice(2),
        output: body.length ? body.join('\n') + '\n' : '',
        exit: Number(/\d+/.exec(lines[exitAt]!)![0]),
      };
    });
}
