// LuCI's client code for the browser tests: the unmodified snapshot in
// shared/luci/ (see its README), extracted into the ignored cache .cache/luci/
// once per snapshot. Never copied into the project.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

// CI puts a read-only copy of shared/ next to the clone; a developer machine has /work/shared.
const SNAPSHOT = [join(ROOT, '../shared/luci/luci-daca0e8.tar.gz'), '/work/shared/luci/luci-daca0e8.tar.gz'].find((p) => existsSync(p));

export interface LuciTree {
  /** luci-base's htdocs/luci-static/resources */
  base: string;
  /** luci-mod-network's htdocs/luci-static/resources */
  network: string;
  /** the bootstrap theme's htdocs/luci-static */
  theme: string;
}

/** Extracts the snapshot (if not yet) and returns where its parts are. */
export function luciTree(): LuciTree {
  if (!SNAPSHOT) throw new Error('LuCI snapshot luci-daca0e8.tar.gz not found in ../shared/luci or /work/shared/luci');
  const digest = createHash('sha256').update(readFileSync(SNAPSHOT)).digest('hex').slice(0, 16);
  const dir = join(ROOT, '.cache/luci', digest);
  if (!existsSync(join(dir, '.complete'))) {
    const tmp = `${dir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    execFileSync('tar', ['-xzf', SNAPSHOT, '-C', tmp]);
    execFileSync('touch', [join(tmp, '.complete')]);
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  }
  return {
    base: join(dir, 'luci/modules/luci-base/htdocs/luci-static/resources'),
    network: join(dir, 'luci/modules/luci-mod-network/htdocs/luci-static/resources'),
    theme: join(dir, 'luci/themes/luci-theme-bootstrap/htdocs/luci-static'),
  };
}
