// What xfrmd owns, kept under /var/run (tmpfs: it survives a daemon crash, not
// a reboot, which is exactly the lifetime of the kernel objects it describes).
// One small file per interface, written atomically, so bringing up N interfaces
// costs N writes of constant size rather than rewriting one growing file.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Installed } from '../reconcile/reconcile.ts';

export const DEFAULT_STATE_DIR = '/var/run/xfrmd';

export interface InterfaceRecord {
  /** the UCI section = interface name */
  name: string;
  /** the raw config as netifd (or the UCI file) gave it, to re-plan after a restart */
  config: Record<string, unknown>;
  installed: Installed;
}

const SUFFIX = '.json';

export class StateStore {
  private readonly dir: string;

  constructor(dir: string = DEFAULT_STATE_DIR) {
    this.dir = join(dir, 'interfaces');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  private path(name: string): string {
    // Interface names are validated before they get here; still, never let one escape the dir.
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name) || name.startsWith('.')) throw new Error(`bad interface name for state file: ${JSON.stringify(name)}`);
    return join(this.dir, name + SUFFIX);
  }

  save(rec: InterfaceRecord): void {
    const file = this.path(rec.name);
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, JSON.stringify(rec));
    renameSync(tmp, file);
  }

  remove(name: string): void {
    rmSync(this.path(name), { force: true });
  }

  load(name: string): InterfaceRecord | undefined {
    const file = this.path(name);
    // no record is the usual case when bringing interfaces up: answered without building an ENOENT error
    if (!existsSync(file)) return undefined;
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as InterfaceRecord;
    } catch {
      return undefined;
    }
  }

  /** Every record; unreadable files (a crash mid-write leaves only .tmp) are skipped. */
  all(): InterfaceRecord[] {
    const out: InterfaceRecord[] = [];
    for (const f of readdirSync(this.dir)) {
      if (!f.endsWith(SUFFIX)) continue;
      const rec = this.load(f.slice(0, -SUFFIX.length));
      if (rec) out.push(rec);
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }
}
