// The README option table, rendered from the schema (the one source): the lead
// wires it into README generation and a check test; scripts/gen-docs.ts prints it.
import { OPTIONS, type OptionDef } from './schema.ts';

const GROUP_TITLES: Record<OptionDef['group'], string> = {
  device: 'device',
  addresses: 'addresses',
  routing: 'routing',
};

/** `|` would end a Markdown table cell. */
function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function typeText(o: OptionDef): string {
  return o.list ? 'list' : 'option';
}

/** The Markdown option table, one row per option, in schema order. */
export function renderOptionTable(): string {
  const rows = [
    '| option | kind | default | values | group | description |',
    '|---|---|---|---|---|---|',
  ];
  for (const o of OPTIONS) {
    const name = `\`${o.name}\`${o.stock ? ' ¹' : ''}`;
    const def = o.default === undefined ? '–' : `\`${o.default}\``;
    rows.push(`| ${[name, typeText(o), def, cell(o.format), GROUP_TITLES[o.group], cell(o.description)].join(' | ')} |`);
  }
  rows.push('', '¹ also an option of OpenWrt\'s stock `xfrm` proto, with the same meaning.');
  return rows.join('\n') + '\n';
}
