// Stamps what the schema owns into the files that carry it: the shim's dump line
// and the README option table. `--check` only reports drift (used by a test).
import { readFileSync, writeFileSync } from 'node:fs';
import { renderOptionTable, renderRoutingNotes } from '../src/config/options-doc.ts';
import { dumpLine, OPTIONS } from '../src/config/schema.ts';

export const SHIM = 'files/lib/netifd/proto/xfrm.sh';
export const README = 'README.md';
export const LUCI = 'files/www/luci-static/resources/protocol/xfrm.js';
const BEGIN = '<!-- options:begin (generated from src/config/schema.ts by `npm run gen`) -->';
const END = '<!-- options:end -->';

export function stampShim(text: string): string {
  // Single quotes cannot occur in the dump (option names and numbers only); checked anyway.
  const line = dumpLine();
  if (line.includes("'")) throw new Error('dump line contains a single quote');
  return text.replace(/^XFRMD_DUMP='.*'$/m, `XFRMD_DUMP='${line}'`);
}

/** What LuCI needs of each option, as a JS literal between the markers. */
export function stampLuci(text: string): string {
  const list = OPTIONS.map((o) => ({
    name: o.name,
    group: o.group,
    list: o.list,
    flag: o.type === 'bool' || o.format.startsWith('boolean'),
    ...(o.default !== undefined ? { default: o.default } : {}),
    ...(o.values ? { values: o.values } : {}),
    ...(o.range ? { range: o.range } : {}),
    format: o.format,
    description: o.description,
  }));
  return text.replace(/\/\* options:begin \*\/[\s\S]*?\/\* options:end \*\//, () => `/* options:begin */${JSON.stringify(list)}/* options:end */`);
}

export function stampReadme(text: string): string {
  const start = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  if (start < 0 || end < start) throw new Error(`README.md lacks the ${BEGIN} … ${END} markers`);
  return `${text.slice(0, start + BEGIN.length)}\n${renderOptionTable().trimEnd()}\n\n${renderRoutingNotes().trimEnd()}\n${text.slice(end)}`;
}

function main(): number {
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const [file, stamp] of [
    [SHIM, stampShim],
    [README, stampReadme],
    [LUCI, stampLuci],
  ] as const) {
    const before = readFileSync(file, 'utf8');
    const after = stamp(before);
    if (before === after) continue;
    if (check) {
      process.stderr.write(`${file} is out of date: run npm run gen\n`);
      stale++;
    } else {
      writeFileSync(file, after);
      process.stdout.write(`updated ${file}\n`);
    }
  }
  return stale ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main();
