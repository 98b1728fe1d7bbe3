// What xfrmd owns, kept under /var/run (tmpfs: it survives a daemon crash, not
// a reboot, which is exactly the lifetime of the kernel objects it describes).
// One small file per interface, written atomically, so bringing up N interfaces
// costs N writes of constant size rather than rewriting one growing file.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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

/** Interface names are ASCII: ordered by code unit (localeCompare would load ICU's collation
 *  data, 3 MB of the daemon's memory, for nothing). */
export function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

export class StateStore {
  private readonly dir: string;
  /** names with a record, as this store last saw the directory (a setup of an interface without
   *  one, the usual case, then costs no file system call; all() reads the directory again) */
  private names: Set<string> | undefined;

  constructor(dir: string = DEFAULT_STATE_DIR) {
    this.dir = join(dir, 'interfaces');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  private known(): Set<string> {
    this.names ??= new Set(readdirSync(this.dir).filter((f) => f.endsWith(SUFFIX)).map((f) => f.slice(0, -SUFFIX.length)));
    return this.names;
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
    this.known().add(rec.name);
  }

  remove(name: string): void {
    rmSync(this.path(name), { force: true });
    this.names?.delete(name);
  }

  load(name: string): InterfaceRecord | undefined {
    const file = this.path(name);
    if (!this.known().has(name)) return undefined;
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as InterfaceRecord;
    } catch {
      return undefined;
    }
  }

  /** Every record; unreadable files (a crash mid-write leaves only .tmp) are skipped. */
  all(): InterfaceRecord[] {
    this.names = undefined;
    const out: InterfaceRecord[] = [];
    for (const name of this.known()) {
      const rec = this.load(name);
      if (rec) out.push(rec);
    }
    return out.sort(byName);
  }
}
