// The LuCI page as a user meets it: LuCI's real client code (luci-base, the
// Network → Interfaces view, the bootstrap theme; snapshot in shared/luci,
// extracted into .cache/luci) with our protocol/xfrm.js, in Debian's headless
// Chromium, against a stand-in for rpcd (test/luci/support/rpcd.ts) with an
// in-memory UCI. Screenshots go to .cache/screenshots/.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import JSON5 from 'json5';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'puppeteer-core';
import { OPTIONS } from '../../src/config/schema.ts';
import { validateConfig } from '../../src/config/validate.ts';
import { POT } from '../../scripts/gen-files.ts';
import { collectErrors, launch, type Session } from './support/browser.ts';
import { luciTree, ROOT } from './support/luci-tree.ts';
import { LuciStandIn, type RpcCall } from './support/rpcd.ts';
import { statusReplies } from './fixtures/xfrmd-status.ts';

const fixture = (name: string): unknown => JSON5.parse(readFileSync(join(ROOT, 'test/luci/fixtures', name), 'utf8'));
const router = fixture('router.json5') as Omit<ConstructorParameters<typeof LuciStandIn>[0], 'xfrmdStatus'>;
const table = fixture('form-values.json5') as Array<{ name: string; set: Record<string, string | string[]>; bad: string[] }>;
const IN_PAGE = readFileSync(join(ROOT, 'test/luci/support/in-page.js'), 'utf8');
const SHOTS = join(ROOT, '.cache/screenshots');

/** LuCI's dialog owns these (replaced after renderFormOptions) or another tab does (zone). */
const LUCI_OWNED = new Set(['ip4table', 'ip6table']);
const FIELDS = OPTIONS.map((o) => o.name).filter((n) => n !== 'zone');
const SPEC = new Map(OPTIONS.map((o) => [o.name, o]));

let si: LuciStandIn;
let browser: Session;
let page: Page;
let errors: string[] = [];

const j = JSON.stringify;
const inPage = <T>(expr: string): Promise<T> => page.evaluate(expr) as Promise<T>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function openList(catalog?: Record<string, string>): Promise<void> {
  if (page) await page.close();
  si.o.catalog = catalog ?? {};
  page = await browser.browser.newPage();
  errors = collectErrors(page);
  await page.evaluateOnNewDocument(IN_PAGE);
  await page.goto(`${si.url}/cgi-bin/luci/admin/network/network`);
  await page.waitForSelector('.cbi-section-table-row[data-sid="vpn0"] .xfrmd-row-status', { timeout: 30_000 });
}

async function openDialog(sid: string): Promise<void> {
  // a dismissed dialog's DOM stays (hidden) until the next one replaces it: mark it, wait for the new one
  await inPage(`document.querySelectorAll('.cbi-modal .cbi-map').forEach((n) => n.setAttribute('data-old', ''))`);
  // LuCI's validation tooltip fades out for 250 ms after the dialog closes and takes clicks meanwhile
  const edit = `.cbi-section-table-row[data-sid="${sid}"] .cbi-button-edit`;
  await page.waitForFunction(`xfrmdTest.clickable(${j(edit)})`, { timeout: 10_000 });
  await page.click(edit);
  await page.waitForFunction(
    `xfrmdTest.dialogOpen() && document.querySelector('.cbi-modal .cbi-map:not([data-old]) .xfrmd-status') != null`,
    { timeout: 30_000 },
  );
  await sleep(300); // the stored values are checked once the dialog shows
}

async function dismissDialog(): Promise<void> {
  await page.click('.cbi-modal .button-row > .cbi-button:not(.cbi-button-positive)');
  await page.waitForFunction('!xfrmdTest.dialogOpen()');
}

/** Save in the dialog: it closes when the form saved; it stays open when the form refused. */
async function saveDialog(outcome: 'saves' | 'refuses'): Promise<boolean> {
  await page.click('.cbi-modal .button-row > .cbi-button-positive');
  if (outcome === 'refuses') {
    await sleep(1_500);
    return !(await inPage<boolean>('xfrmdTest.dialogOpen()'));
  }
  try {
    await page.waitForFunction('!xfrmdTest.dialogOpen()', { timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

async function typeInto(selector: string, text: string, finish: 'Tab' | 'Enter'): Promise<void> {
  await page.focus(selector);
  await page.keyboard.down('Control');
  await page.keyboard.press('a');
  await page.keyboard.up('Control');
  await page.keyboard.press('Backspace');
  if (text !== '') await page.keyboard.type(text);
  await page.keyboard.press(finish);
}

/** Fill in one field as a user does: type, tick, choose. */
async function setField(name: string, value: string | string[]): Promise<void> {
  await inPage(`xfrmdTest.showTab(${j(name)})`);
  const field = `.cbi-modal .cbi-value[data-name="${name}"]`;
  if (SPEC.get(name)?.list) {
    for (const entry of [value].flat()) await typeInto(`${field} .add-item input[type="text"]`, entry, 'Enter');
  } else if (await page.$(`${field} input[type="checkbox"]`)) {
    await inPage(`xfrmdTest.setFlag(${j(name)}, ${value === '1'})`);
  } else if (await page.$(`${field} select`)) {
    await page.select(`${field} select`, String(value));
  } else if (await inPage<boolean>(`xfrmdTest.isDropdown(${j(name)})`)) {
    await inPage(`xfrmdTest.pick(${j(name)}, ${j(value)})`);
  } else {
    await typeInto(`${field} input[type="text"]`, String(value), 'Tab');
  }
}

async function flagged(): Promise<string[]> {
  await sleep(50);
  return (await inPage<string[]>(`xfrmdTest.flagged(${j([...FIELDS])})`)).sort();
}

/** uci calls that change config, from index `from` on */
function writesSince(from: number): RpcCall[] {
  return si.writes().slice(from);
}

/** A row's status text, once it contains `needle` (LuCI redraws it on its 5 s poll). */
async function rowText(sid: string, needle: string): Promise<string> {
  const cell = `.cbi-section-table-row[data-sid="${sid}"] [data-name="_ifacestat"]`;
  await page.waitForFunction(`(xfrmdTest.text(${j(cell)}) || '').includes(${j(needle)})`, { timeout: 20_000 });
  return inPage<string>(`xfrmdTest.text(${j(cell)})`);
}

/** A screenshot once LuCI's fade-in of a tab or dialog is over. */
async function shot(name: string): Promise<void> {
  await sleep(800);
  await page.screenshot({ path: join(SHOTS, name), fullPage: name === 'interfaces.png' });
}

function daemonVerdict(section: string, values: Record<string, unknown>): string[] {
  const r = validateConfig(values, section);
  return r.ok ? [] : [...new Set(r.errors.map((e) => e.option ?? '(section)'))].sort();
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  si = new LuciStandIn({ ...router, xfrmdStatus: statusReplies });
  await si.start();
  browser = await launch();
  await openList();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await si?.stop();
});

describe('LuCI Network → Interfaces with proto xfrm, in Chromium', () => {
  it('lists the interfaces with xfrmd\'s status in each row, without a JS error', async () => {
    const vpn0 = await rowText('vpn0', 'xfrmd: ');
    expect(vpn0).toContain('Protocol: XFRM interface (route-based IPsec)');
    expect(vpn0).toMatch(/xfrmd: Up · if_id 5 · via wan · routes 1 of 2 installed · rules 3 · 2 SAs/);
    expect(vpn0).toContain("was replaced by another program's route (protocol 4, dev eth1)");
    const rw0 = await rowText('rw0', 'PARENT_DOWN');
    expect(rw0).toContain('Error: The parent is not up'); // netifd's error code, named by the page
    expect(rw0).toContain('PARENT_DOWN: rw0: parent interface wan is not up');
    const ext0 = await rowText('ext0', 'xfrmd: ');
    expect(ext0).toContain('xfrmd: not set up yet');
    await shot('interfaces.png');
    expect(errors).toEqual([]);
    expect(si.unknownCalls()).toEqual([]);
  }, 60_000);

  it('the Edit dialog has every option with its human title and help; LuCI replaces none of ours', async () => {
    // every option LuCI's dialog replaces with its own widget (read from interfaces.js itself)
    const view = readFileSync(join(luciTree().network, 'view/network/interfaces.js'), 'utf8');
    const replaced = new Set([...view.matchAll(/replaceOption\(s, '\w+', [\w.]+, '(\w+)'/g)].map((m) => m[1]!));
    expect(replaced.has('defaultroute') && replaced.has('metric')).toBe(true);
    expect(OPTIONS.map((o) => o.name).filter((n) => replaced.has(n))).toEqual([...LUCI_OWNED]);

    await openDialog('vpn0');
    const fields = await inPage<Record<string, { title: string; help: string | null; tab: string; hidden: boolean }>>('xfrmdTest.fields()');
    for (const o of OPTIONS) {
      if (o.name === 'zone') continue;
      const f = fields[o.name];
      expect(f, o.name).toBeDefined();
      if (LUCI_OWNED.has(o.name)) {
        expect(f!.title, o.name).toMatch(/^Override IPv[46] routing table$/); // LuCI's field, same meaning as netifd's
        expect(f!.help, o.name).toBe(o.help);
      } else {
        expect({ title: f!.title, help: f!.help }, o.name).toEqual({ title: o.title, help: o.help });
      }
      expect(f!.hidden, o.name).toBe(false);
    }
    // LuCI's generic widgets are LuCI's (none of ours took their place)
    expect(fields.defaultroute?.title).toBe('Use default gateway');
    // the zone: the Firewall tab's widget; the stored `option zone` is shown, not a second text box
    expect(fields.zone).toBeUndefined();
    expect(fields._zone?.tab).toBe('firewall');
    expect(await inPage<string>(`xfrmdTest.text('.cbi-modal [data-name="_xfrmd_zone"] .cbi-value-field')`)).toContain('vpn');
    expect(errors).toEqual([]);
  }, 60_000);

  it('the dialog shows what xfrmd reports for the interface', async () => {
    await inPage(`xfrmdTest.showTabByName('xfrm_status')`);
    const text = await inPage<string>(`xfrmdTest.text('.cbi-modal .xfrmd-status')`);
    expect(text).toMatch(/State: UP/i);
    expect(text).toContain('Interface ID: 5 (0x5)');
    expect(text).toContain('Parent: wan on device eth1');
    expect(text).toContain('Hardware offload: crypto; card: ESP offload yes, checksum offload no');
    expect(text).toContain('Routing table: 10005');
    expect(text).toMatch(/10\.30\.0\.0\/16 dev vpn0 table 10005 proto 88 src 10\.9\.0\.2 metric 5\s+missing \(replaced by protocol 4\)/);
    expect(text).toContain('ROUTE_REPLACED');
    expect(text).toMatch(/0xc1a2b3d4\s+out\s+198\.51\.100\.7\s+203\.0\.113\.9/);
    expect(text).toContain('0x6/0xffffffff');
    expect(text).toMatch(/Policies[\s\S]*10\.20\.0\.0\/16/);
    await shot('dialog-status.png');
    expect(errors).toEqual([]);
  }, 60_000);

  it('Save without changes writes nothing (bool words, explicit defaults, a list as one option stay as stored)', async () => {
    const from = si.writes().length;
    expect(await saveDialog('saves')).toBe(true);
    expect(writesSince(from)).toEqual([]);
    expect(errors).toEqual([]);
  }, 60_000);

  it('flags exactly what the daemon refuses, for every row of the table', async () => {
    const base = { proto: 'xfrm', ifid: '9' };
    const mismatches: string[] = [];
    for (const row of table) {
      expect(daemonVerdict('try0', { ...base, ...row.set }), `daemon: ${row.name}`).toEqual([...row.bad].sort());
      await openDialog('try0');
      expect(await inPage<Record<string, string>>(`xfrmdTest.messages(${j(FIELDS)})`), `stored config of try0 is fine (${row.name})`).toEqual({});
      for (const [name, value] of Object.entries(row.set)) await setField(name, value);
      const got = await flagged();
      if (j(got) !== j([...row.bad].sort())) {
        const shown = await inPage<Record<string, string>>(`xfrmdTest.messages(${j(FIELDS)})`);
        mismatches.push(`${row.name}: form flags ${j(got)}, daemon ${j(row.bad)} ${j(shown)}`);
      }
      if (row.name === 'full tunnel into main') await shot('dialog-flagged.png');
      await dismissDialog();
    }
    expect(mismatches).toEqual([]);
    expect(errors).toEqual([]);
  }, 240_000);

  it('makes a full tunnel through the dialog, writing only what the user set', async () => {
    await openDialog('rw0');
    const from = si.writes().length;
    await setField('full_tunnel', '1');
    expect(await flagged()).toEqual(['full_tunnel']); // needs the ESP mark
    expect(await saveDialog('refuses')).toBe(false);
    expect(writesSince(from)).toEqual([]);

    await setField('tunlink', 'wan');
    await setField('ipaddr', ['10.9.0.2/32']);
    await setField('exempt_mark', '0x6');
    expect(await flagged()).toEqual([]);
    expect(await saveDialog('saves')).toBe(true);
    const writes = writesSince(from);
    expect(writes.map((w) => [w.method, w.args])).toEqual([
      ['set', { config: 'network', section: 'rw0', values: { full_tunnel: '1', tunlink: 'wan', ipaddr: ['10.9.0.2/32'], exempt_mark: '0x6' } }],
    ]);
    expect(errors).toEqual([]);
  }, 60_000);

  it('makes a collect-metadata device: what does not apply hides, the interface ID goes', async () => {
    await openDialog('ext0');
    const from = si.writes().length;
    await setField('external', '1');
    const fields = await inPage<Record<string, { hidden: boolean }>>('xfrmdTest.fields()');
    const hidden = FIELDS.filter((n) => !LUCI_OWNED.has(n) && fields[n]?.hidden).sort();
    expect(hidden).toEqual(['exempt_mark', 'full_tunnel', 'ifid', 'mark', 'offload', 'parent_device', 'route', 'route6', 'rule_priority', 'rule_style', 'source', 'tunlink'].sort());
    expect(await flagged()).toEqual([]);
    expect(await saveDialog('saves')).toBe(true);
    expect(writesSince(from).map((w) => [w.method, w.args])).toEqual([
      ['delete', { config: 'network', section: 'ext0', options: ['ifid'] }],
      ['set', { config: 'network', section: 'ext0', values: { external: '1' } }],
    ]);
    expect(errors).toEqual([]);
  }, 60_000);

  it('flags stored mistakes as soon as the dialog opens, and keeps a parent interface it cannot list', async () => {
    // the rows are drawn anew after each Save; xfrmd's line comes with LuCI's next status poll
    const row = await rowText('old0', 'INVALID_MTU');
    expect(row).toContain('Error: The MTU is invalid');
    expect(row).toContain("xfrmd: Failed\nINVALID_MTU: old0: option mtu: '67' is outside 68..65535 (and 1 more problem)");
    await openDialog('old0');
    await page.waitForFunction(`xfrmdTest.flagged(${j(FIELDS)}).length > 0`, { timeout: 10_000 });
    expect(await flagged()).toEqual(['mtu', 'rule_priority']);
    expect(await inPage<Record<string, string>>(`xfrmdTest.messages(${j(FIELDS)})`)).toEqual({
      mtu: "'67' is outside 68..65535",
      rule_priority: "'1' is outside 2..32763 (rules use base-1 … base+2, below the main rule at 32766)",
    });
    expect(await inPage<string>(`xfrmdTest.formValue('tunlink')`)).toBe('wan6');
    const from = si.writes().length;
    expect(await saveDialog('refuses')).toBe(false);
    expect(writesSince(from)).toEqual([]);
    await setField('mtu', '1400');
    await setField('rule_priority', '200');
    expect(await flagged()).toEqual([]);
    expect(await saveDialog('saves')).toBe(true);
    expect(writesSince(from).map((w) => [w.method, w.args])).toEqual([
      ['set', { config: 'network', section: 'old0', values: { mtu: '1400', rule_priority: '200' } }],
    ]);
    expect(errors).toEqual([]);
  }, 60_000);

  it('Save & Apply commits everything through uci apply with rollback and confirm', async () => {
    await inPage('window.xfrmdBeforeApply = true');
    await page.click('.cbi-page-actions .cbi-button-apply');
    const deadline = Date.now() + 30_000;
    while (si.uci.rollbackPending || !si.calls.some((c) => c.method === 'admin/uci/confirm')) {
      if (Date.now() > deadline) throw new Error('apply was not confirmed');
      await sleep(100);
    }
    expect(si.uci.rollbackPending).toBe(false);
    const http = si.calls.filter((c) => c.object === 'http' || c.object === 'cgi-exec').map((c) => c.method);
    // checked apply: LuCI asks which interface the browser uses, applies with rollback, then confirms
    expect(http.slice(0, 2)).toEqual(['/usr/libexec/luci-peeraddr', 'admin/uci/apply_rollback']);
    expect(http).toContain('admin/uci/confirm');
    const rw0 = si.uci.committedSection('network', 'rw0');
    expect(rw0).toEqual({ proto: 'xfrm', ifid: '1', full_tunnel: '1', tunlink: 'wan', ipaddr: ['10.9.0.2/32'], exempt_mark: '0x6' });
    const rw = validateConfig(rw0!, 'rw0');
    expect(rw.ok && rw.config.fullTunnel && rw.config.exemptMark).toEqual({ value: 6, mask: 0xffffffff });
    const ext0 = si.uci.committedSection('network', 'ext0');
    expect(ext0).toEqual({ proto: 'xfrm', external: '1' });
    expect(validateConfig(ext0!, 'ext0').ok).toBe(true);
    // the page reloads after the apply, with the new configuration
    await page.waitForFunction('!window.xfrmdBeforeApply && document.querySelector(\'.cbi-section-table-row[data-sid="ext0"] .xfrmd-row-status\') != null', { timeout: 30_000 });
    expect(errors).toEqual([]);
    expect(si.unknownCalls()).toEqual([]);
  }, 60_000);

  it('is translatable: with a catalog for the template\'s msgids, every title and help text is translated', async () => {
    const ids = [...readFileSync(join(ROOT, POT), 'utf8').matchAll(/^msgid ((?:".*"\n)+)/gm)]
      .map((m) => [...m[1]!.matchAll(/"(.*)"/g)].map((x) => JSON.parse(`"${x[1]}"`) as string).join(''))
      .filter((id) => id !== '');
    await openList(Object.fromEntries(ids.map((id) => [id, `⟦${id}⟧`])));
    await openDialog('vpn0');
    const fields = await inPage<Record<string, { title: string; help: string | null }>>('xfrmdTest.fields()');
    for (const o of OPTIONS) {
      if (o.name === 'zone') continue;
      expect(fields[o.name]?.help, o.name).toBe(`⟦${o.help}⟧`);
      if (!LUCI_OWNED.has(o.name)) expect(fields[o.name]?.title, o.name).toBe(`⟦${o.title}⟧`);
    }
    await shot('dialog-translated.png');
    expect(errors).toEqual([]);
  }, 60_000);
});
