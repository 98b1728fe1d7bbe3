// Stamps what the schema owns into the files that carry it: the shim's dump line,
// the README option table (and the IKE daemons' configurations from examples/ike/), the LuCI page (option list, titles and help, the
// bundled validator) and its i18n template. `--check` only reports drift.
import { buildSync } from 'esbuild';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { renderOptionTable, renderRoutingNotes } from '../src/config/options-doc.ts';
import { dumpLine, OPTIONS } from '../src/config/schema.ts';
import { stampIke } from './ike-examples.ts';

export const SHIM = 'files/lib/netifd/proto/xfrm.sh';
export const README = 'README.md';
export const LUCI = 'files/www/luci-static/resources/protocol/xfrm.js';
export const ACL = 'files/usr/share/rpcd/acl.d/luci-proto-xfrm.json';
export const POT = 'po/templates/xfrm.pot';
const BEGIN = '<!-- options:begin (generated from src/config/schema.ts by `npm run gen`) -->';
const END = '<!-- options:end -->';

export function stampShim(text: string): string {
  // Single quotes cannot occur in the dump (option names and numbers only); checked anyway.
  const line = dumpLine();
  if (line.includes("'")) throw new Error('dump line contains a single quote');
  return text.replace(/^XFRMD_DUMP='.*'$/m, `XFRMD_DUMP='${line}'`);
}

/** A JS string literal in single quotes (LuCI's i18n scanner reads these inside _()). */
function jsString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
}

/** The daemon's validator for the browser: src/config/form-check.ts as one IIFE defining `xfrmdForm`. */
export function luciValidatorBundle(): string {
  const r = buildSync({
    entryPoints: ['src/config/form-check.ts'],
    bundle: true,
    write: false,
    format: 'iife',
    globalName: 'xfrmdForm',
    platform: 'browser',
    target: 'es2020',
    charset: 'ascii',
    legalComments: 'none',
    logLevel: 'silent',
  });
  const [out] = r.outputFiles;
  if (!out) throw new Error('esbuild produced no output for the LuCI validator');
  return out.text.trimEnd();
}

/**
 * What the LuCI page needs of each option, between its markers: the option list,
 * every title and help text as a _() call, and the bundled validator.
 */
export function stampLuci(text: string, validator = luciValidatorBundle()): string {
  const list = OPTIONS.map((o) => ({
    name: o.name,
    group: o.group,
    list: o.list,
    flag: o.type === 'bool' || o.format.startsWith('boolean'),
    ...(o.default !== undefined ? { default: o.default } : {}),
    ...(o.values ? { values: o.values } : {}),
    ...(o.example !== undefined ? { example: o.example } : {}),
  }));
  const texts = OPTIONS.map((o) => `\t\t${o.name}: [ _(${jsString(o.title)}), _(${jsString(o.help)}) ]`).join(',\n');
  const stamp = (t: string, name: string, body: string) => {
    const re = new RegExp(`/\\* ${name}:begin \\*/[\\s\\S]*?/\\* ${name}:end \\*/`);
    if (!re.test(t)) throw new Error(`${LUCI} lacks the /* ${name}:begin */ … /* ${name}:end */ markers`);
    return t.replace(re, () => `/* ${name}:begin */${body}/* ${name}:end */`);
  };
  let out = stamp(text, 'options', JSON.stringify(list));
  out = stamp(out, 'texts', `{\n${texts}\n\t}`);
  out = stamp(out, 'validator', `\n${validator}\n`);
  return out;
}

/** One msgid with the places it is used, as LuCI's i18n scanner finds them. */
interface Msg {
  id: string;
  refs: string[];
}

/** The value of a JS string literal (the escapes our sources use). */
function unquoteJs(lit: string): string {
  return lit.slice(1, -1).replace(/\\(u\{[0-9a-fA-F]+\}|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)/g, (_m, e: string) => {
    if (e.startsWith('u{')) return String.fromCodePoint(parseInt(e.slice(2, -1), 16));
    if (e.startsWith('u') || e.startsWith('x')) return String.fromCharCode(parseInt(e.slice(1), 16));
    return ({ n: '\n', t: '\t', r: '\r' } as Record<string, string>)[e] ?? e;
  });
}

/**
 * Every `_('…')` of a LuCI source (outside the generated validator). A `_(` whose
 * argument is not one string literal is an error: the scanner could not see it.
 */
export function scanTranslatable(path: string, text: string): Msg[] {
  const out: Msg[] = [];
  const lines = text.split('\n');
  let inValidator = false;
  lines.forEach((line, i) => {
    if (line.includes('/* validator:begin */')) inValidator = true;
    if (inValidator) {
      if (line.includes('/* validator:end */')) inValidator = false;
      return;
    }
    if (/^\s*(\/\/|\/?\*)/.test(line)) return; // comments
    for (const m of line.matchAll(/(?<![\w$.])_\(/g)) {
      const rest = line.slice((m.index ?? 0) + 2);
      const lit = /^\s*('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\s*[,)]/.exec(rest);
      if (!lit?.[1]) throw new Error(`${path}:${i + 1}: _() without a string literal: ${line.trim()}`);
      out.push({ id: unquoteJs(lit[1]), refs: [`${path}:${i + 1}`] });
    }
  });
  return out;
}

function poString(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t');
}

/** `msgid "…"`, wrapped like xgettext when longer than a line. */
function poEntry(keyword: string, s: string): string {
  const esc = poString(s);
  if (keyword.length + esc.length + 3 <= 79) return `${keyword} "${esc}"`;
  const chunks: string[] = [];
  let cur = '';
  for (const word of esc.split(/(?<= )/)) {
    if (cur !== '' && cur.length + word.length > 77) {
      chunks.push(cur);
      cur = '';
    }
    cur += word;
  }
  if (cur !== '') chunks.push(cur);
  return [`${keyword} ""`, ...chunks.map((c) => `"${c}"`)].join('\n');
}

/** The i18n template LuCI packages ship as po/templates/<name>.pot. */
export function renderPot(msgs: Msg[]): string {
  const byId = new Map<string, string[]>();
  for (const m of msgs) byId.set(m.id, [...(byId.get(m.id) ?? []), ...m.refs]);
  const ids = [...byId.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const entries = ids.map((id) => `${(byId.get(id) ?? []).map((r) => `#: ${r}`).join('\n')}\n${poEntry('msgid', id)}\nmsgstr ""\n`);
  return ['msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8"\n', ...entries].join('\n');
}

/** The ACL file's description is translatable too (LuCI shows it in the ACL editor). */
function aclMessages(): Msg[] {
  const text = readFileSync(ACL, 'utf8');
  const out: Msg[] = [];
  text.split('\n').forEach((line, i) => {
    const m = /"description"\s*:\s*("(?:[^"\\]|\\.)*")/.exec(line);
    if (m?.[1]) out.push({ id: JSON.parse(m[1]) as string, refs: [`${ACL}:${i + 1}`] });
  });
  return out;
}

export function potFor(luciText: string): string {
  return renderPot([...scanTranslatable(LUCI, luciText), ...aclMessages()]);
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
  const read = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8') : '');
  // the template lists the strings of the page as it will be (line numbers included)
  const luci = stampLuci(read(LUCI));
  for (const [file, stamp] of [
    [SHIM, stampShim],
    [README, (t: string) => stampIke(stampReadme(t))],
    [LUCI, () => luci],
    [POT, () => potFor(luci)],
  ] as const) {
    const before = read(file);
    const after = stamp(before);
    if (before === after) continue;
    if (check) {
      process.stderr.write(`${file} is out of date: run npm run gen\n`);
      stale++;
    } else {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, after);
      process.stdout.write(`updated ${file}\n`);
    }
  }
  return stale ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main();
