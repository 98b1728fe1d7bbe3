// The README option table, rendered from the schema (the one source): the lead
// wires it into README generation and a check test; scripts/gen-docs.ts prints it.
import { XFRMD_RTPROT } from '../model.ts';
import { AUTO_TABLE_BASE, OPTIONS, PRIORITY_MAX, PRIORITY_MIN, type OptionDef } from './schema.ts';

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

/**
 * How the routing options turn into tables and rules (Markdown), for the README
 * next to the option table. Kept here so the numbers come from the schema.
 */
export function renderRoutingNotes(): string {
  return `${[
    '### Tables',
    '`ip4table`/`ip6table` when set. Otherwise `main` while nothing asks for rules (no `exempt_mark`, `mark`,',
    `\`source\` or \`full_tunnel\`): routes then simply go into main. As soon as rules are asked for, the family`,
    `uses a table of its own: ${AUTO_TABLE_BASE} + (ifid mod 2^31), so \`ifid 5\` uses table ${AUTO_TABLE_BASE + 5}. \`local\` (255) is refused;`,
    '`main` and `default` are accepted by name or number. IPv4 and IPv6 are planned separately.',
    '',
    '### Rules (base B = `rule_priority`, default 100; only when the table is not `main`)',
    '| priority | rule | when |',
    '|---|---|---|',
    '| B-1 | `fwmark EXEMPT lookup main` | `exempt_mark` set, `rule_style exempt` |',
    '| B | `from SRC [to DST] lookup T` | each `source` |',
    '| B | `fwmark MARK lookup T` | each `mark` |',
    '| B | `to ROUTE lookup T` (`to ROUTE not fwmark EXEMPT lookup T` with `rule_style invert`) | each route, when there are no `source`/`mark` entries |',
    '| B+1 | `lookup main suppress_prefixlength 0` | `full_tunnel`, no `source`/`mark` entries |',
    '| B+2 | `lookup T` (`not fwmark EXEMPT lookup T` with `invert`) | `full_tunnel`, no `source`/`mark` entries |',
    '',
    'All rules at one priority lead to the same table, so their order among themselves does not matter.',
    `Valid bases are ${PRIORITY_MIN}..${PRIORITY_MAX}. Every route and rule carries protocol ${XFRMD_RTPROT} (\`proto 88\`).`,
    'A `route` equal to the subnet of one of the interface\'s addresses, or to a `source` prefix, is skipped',
    '(left subnet == right subnet). Routes get `src` = the first address of their family, when there is one.',
    '',
    '### Between interfaces',
    'Two interfaces may share a rule priority unless the order of their rules could change where a packet goes:',
    'a packet matches rules of both, the rules lead to different tables, and both tables have a route for its',
    'destination (a lookup in a table without a matching route falls through to the next rule, so otherwise the',
    'order does not matter). Only then the later one fails with `PRIORITY_CONFLICT`, which proposes a free',
    '`rule_priority`. A routed VPN by `source` and a multihoming `mark` section on the default priority are fine',
    'as long as their tables route different destinations. xfrmd knows the routes of the tables its interfaces',
    'fill; `main`, `default` and `local` count as routing every destination.',
    'Also refused: the same `ifid` twice (`DUPLICATE_IFID`), two `external` devices (`DUPLICATE_EXTERNAL`), a',
    'derived table used by another interface (`TABLE_CONFLICT`), the same route in one shared table (`ROUTE_CONFLICT`).',
  ].join('\n')}\n`;
}
