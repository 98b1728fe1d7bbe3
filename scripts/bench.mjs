// `npm run bench -- <name>` runs bench/<name>.ts; with no name, lists them.
// Every benchmark ends with `<name>.<figure>=<number>` lines.
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const names = readdirSync(new URL('../bench/', import.meta.url))
  .filter((f) => f.endsWith('.ts') && !f.startsWith('_'))
  .map((f) => f.slice(0, -3));
const [name, ...rest] = process.argv.slice(2);
if (!name || !names.includes(name)) {
  console.error(`usage: npm run bench -- <${names.join('|')}>`);
  process.exit(name ? 2 : 0);
}
const r = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', `bench/${name}.ts`, ...rest], { stdio: 'inherit' });
process.exit(r.status ?? 1);
