// The LuCI form's checks are the daemon's: this module is bundled (esbuild, by
// scripts/gen-files.ts) into files/www/luci-static/resources/protocol/xfrm.js and
// runs validateConfig() in the browser on what the form holds. Nothing here knows
// a rule of its own; it only picks the issues that belong to one field.
import { validateConfig, type Issue, type RawConfig } from './validate.ts';

/** What the form would save: option → text, or list option → entries. Hidden fields left out. */
export type FormValues = Record<string, string | string[] | undefined>;

function issuesOf(section: string, values: FormValues, option: string): Issue[] {
  const raw: RawConfig = {};
  for (const [k, v] of Object.entries(values)) if (v !== undefined && v !== '' && !(Array.isArray(v) && v.length === 0)) raw[k] = v;
  const r = validateConfig(raw, section);
  return r.ok ? [] : r.errors.filter((e) => e.option === option);
}

/** "vpn0: option mtu: '67' is outside 68..65535" → "'67' is outside 68..65535" (the field names itself). */
export function fieldMessage(section: string, issue: Issue): string {
  let m = issue.message;
  const own = `${section}: `;
  if (m.startsWith(own)) m = m.slice(own.length);
  if (issue.option !== undefined) {
    const opt = `option ${issue.option}: `;
    if (m.startsWith(opt)) m = m.slice(opt.length);
  }
  return m;
}

/**
 * The first problem the daemon would report for `option`, given everything the
 * form holds (cross-option rules included), or undefined when it has none.
 */
export function fieldProblem(section: string, values: FormValues, option: string): string | undefined {
  const [first] = issuesOf(section, values, option);
  return first && fieldMessage(section, first);
}

/**
 * For a list field: the problem that adding `entry` to the entries the list
 * already holds would bring (a bad entry, a duplicate), or undefined.
 */
export function entryProblem(section: string, values: FormValues, option: string, entry: string): string | undefined {
  if (entry === '') return undefined;
  const held = values[option];
  const items = held === undefined ? [] : Array.isArray(held) ? held : [held];
  const before = new Set(issuesOf(section, { ...values, [option]: items }, option).map((i) => i.message));
  const added = issuesOf(section, { ...values, [option]: [...items, entry] }, option).find((i) => !before.has(i.message));
  return added && fieldMessage(section, added);
}
