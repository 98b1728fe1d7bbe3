// Raw section options → a typed ValidatedConfig, or every problem found, each
// with a stable code and one sentence naming the option and the bad value.
//
// Input forms accepted (what netifd passes, what our UCI parser gives, what a
// ubus add_dynamic caller may send): strings, numbers for integers, booleans or
// boolean words for flags, a string or an array for lists. An empty string is
// "unset", as in UCI and the stock shell handler. A list given as one string is
// split at blanks, as netifd does for array options.
import type { Family } from '../model.ts';
import {
  AUTO_TABLE_BASE, AUTO_TABLE_SPAN, MTU_IPV6_MIN, MTU_MAX, MTU_MIN, NETIFD_COMMON_OPTIONS, OPTION_BY_NAME, OPTIONS, PRIORITY_MAX,
  PRIORITY_MIN,
} from './schema.ts';
import { hasHostBits, networkOf, parsePrefix, prefixText, samePrefix, type Prefix } from './ip.ts';
import { describeValue, quote } from './text.ts';
import { XfrmdError } from '../errors.ts';

/** One problem with a configuration. `code` is stable; `message` is for people. */
export interface Issue {
  code: string;
  /** UCI section / netifd interface the issue is about */
  section: string;
  option?: string;
  /** for cross-section issues: the other section involved */
  other?: string;
  message: string;
}

export type Offload = 'off' | 'crypto' | 'packet';
export type RuleStyle = 'exempt' | 'invert';

export interface Mark {
  value: number;
  mask: number;
}

export interface RouteEntry {
  prefix: Prefix;
  metric?: number;
  mtu?: number;
}

export interface SourceEntry {
  family: Family;
  src: Prefix;
  dst?: Prefix;
}

/** An explicit table, or absent = main without rules, derived table with rules. */
export interface TableChoice {
  id: number;
  /** as the user wrote it, for messages */
  text: string;
}

export type Parent = { kind: 'interface'; name: string } | { kind: 'device'; name: string };

export interface ValidatedConfig {
  /** UCI section = netifd interface name */
  section: string;
  /** the XFRM device's name (= section) */
  name: string;
  /** 0 only with `external` */
  ifId: number;
  external: boolean;
  parent?: Parent;
  mtu: number;
  zone?: string;
  multicast: boolean;
  offload: Offload;
  ipaddr: Prefix[];
  ip6addr: Prefix[];
  routes: RouteEntry[];
  routes6: RouteEntry[];
  table4?: TableChoice;
  table6?: TableChoice;
  fullTunnel: boolean;
  rulePriority: number;
  ruleStyle: RuleStyle;
  exemptMark?: Mark;
  marks: Mark[];
  sources: SourceEntry[];
}

export type RawConfig = Record<string, unknown>;

export type ValidationResult = { ok: true; config: ValidatedConfig } | { ok: false; errors: Issue[] };

export interface ValidateOptions {
  /** standalone `xfrmd apply`: options nobody knows are errors (UNKNOWN_OPTION) */
  strict?: boolean;
}

/** Thrown by `validateOrThrow`; carries every issue, `code` is the first one's. */
export class ConfigError extends XfrmdError {
  readonly issues: Issue[];
  constructor(issues: Issue[]) {
    const first = issues[0];
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : '';
    super(first?.code ?? 'INVALID_CONFIG', `${first?.message ?? 'invalid configuration'}${more}`, { permanent: true });
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

// ---------------------------------------------------------------- helpers

const BOOL_WORDS: Record<string, boolean> = {
  '1': true, true: true, yes: true, on: true, enabled: true,
  '0': false, false: false, no: false, off: false, disabled: false,
};

/** Linux: 1..15 bytes (IFNAMSIZ-1), not "." or "..", no '/', ':' or whitespace. */
const IFNAMSIZ = 16;

type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };
const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = <T>(reason: string): Parsed<T> => ({ ok: false, reason });

/** Unsigned integer from text: decimal without leading zeros, or 0x-hex when allowed. */
function parseUint(text: string, hex: boolean): Parsed<number> {
  if (/^(0|[1-9][0-9]*)$/.test(text)) {
    if (text.length > 10) return bad('is too large');
    return ok(Number(text));
  }
  if (hex && /^0[xX][0-9a-fA-F]+$/.test(text)) {
    const digits = text.slice(2).replace(/^0+(?=.)/, '');
    if (digits.length > 8) return bad('is too large');
    return ok(parseInt(digits, 16));
  }
  if (/^0[0-9]+$/.test(text)) return bad('has a leading zero (ambiguous: octal to some tools)');
  if (/^-[0-9]/.test(text)) return bad('is negative');
  return bad(hex ? 'is not a number (decimal or 0x-hex)' : 'is not a decimal number');
}

/** Integer option given as number or text. */
function intValue(v: unknown, hex: boolean): Parsed<number> {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) return bad('is not a whole number');
    if (v < 0) return bad('is negative');
    return ok(v);
  }
  if (typeof v === 'string') return parseUint(v, hex);
  return bad(`must be a number, not ${kindOf(v)}`);
}

function kindOf(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}

function boolValue(v: unknown): Parsed<boolean> {
  if (typeof v === 'boolean') return ok(v);
  if (typeof v === 'number' && (v === 0 || v === 1)) return ok(v === 1);
  if (typeof v === 'string') {
    const b = BOOL_WORDS[v.toLowerCase()];
    if (b !== undefined) return ok(b);
  }
  return bad('is not a boolean (1/0, true/false, yes/no, on/off)');
}

const utf8 = new TextEncoder();

/** An array built by push holds room for 17 elements: a daemon keeps one config per interface,
 *  so the lists it keeps are copied to their size (slice). */
const exact = <T>(a: T[]): T[] => (a.length ? a.slice() : a);

export function validNetdevName(name: string): Parsed<string> {
  // TextEncoder, not Buffer: this module also runs in the browser (LuCI form checks)
  const bytes = utf8.encode(name).length;
  if (bytes === 0) return bad('is empty');
  if (bytes >= IFNAMSIZ) return bad(`is too long (${bytes} bytes; Linux allows at most ${IFNAMSIZ - 1})`);
  if (name === '.' || name === '..') return bad('is not allowed by Linux');
  for (const ch of name) {
    if (!/^[A-Za-z0-9_.-]$/.test(ch)) {
      const cp = (ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
      const linux = ch === '/' || ch === ':' || /\s/.test(ch) ? 'Linux does not allow it' : 'xfrmd accepts only letters, digits, _ . -';
      return bad(`contains the character U+${cp} (${linux})`);
    }
  }
  return ok(name);
}

function parseMark(text: string): Parsed<Mark> {
  const [v, m, extra] = text.split('/');
  if (v === undefined || v === '' || extra !== undefined) return bad('is not value[/mask]');
  const value = parseUint(v, true);
  if (!value.ok) return bad(`value ${value.reason}`);
  let mask = 0xffffffff;
  if (m !== undefined) {
    const mm = parseUint(m, true);
    if (!mm.ok) return bad(`mask ${mm.reason}`);
    mask = mm.value;
  }
  if (value.value > 0xffffffff || mask > 0xffffffff) return bad('does not fit in 32 bits');
  if (mask === 0) return bad('has mask 0, which matches every packet');
  if ((value.value & ~mask) >>> 0 !== 0) return bad('has bits set outside its mask');
  if (value.value === 0) return bad('is 0, which matches every unmarked packet');
  return ok({ value: value.value, mask });
}

export function markText(m: Mark): string {
  return `0x${m.value.toString(16)}/0x${m.mask.toString(16)}`;
}

function parseTable(text: string): Parsed<number> & { reserved?: boolean } {
  if (text === 'main') return ok(254);
  if (text === 'default') return ok(253);
  if (text === 'local') return { ok: false, reason: 'is the kernel\'s local table', reserved: true };
  const n = parseUint(text, true);
  if (!n.ok) return bad(/^[A-Za-z]/.test(text) ? 'is not a table number (names other than main/default are not read from rt_tables)' : n.reason);
  if (n.value === 0) return bad('is 0, which is not a table');
  if (n.value > 0xffffffff) return bad('does not fit in 32 bits');
  if (n.value === 255) return { ok: false, reason: 'is the kernel\'s local table', reserved: true };
  return ok(n.value);
}

// ---------------------------------------------------------------- validation

class Collector {
  readonly errors: Issue[] = [];
  constructor(readonly section: string) {}
  add(code: string, option: string | undefined, message: string): void {
    this.errors.push({ code, section: this.section, ...(option === undefined ? {} : { option }), message });
  }
  /** "option mtu: value '99999' is out of range …" */
  badValue(option: string, value: unknown, reason: string, code = OPTION_BY_NAME.get(option)?.code ?? 'INVALID_CONFIG'): void {
    this.add(code, option, `${this.section}: option ${option}: ${describeValue(value)} ${reason}`);
  }
}

/** A scalar option: undefined when unset or empty; reported when a list was given. */
function scalar(raw: RawConfig, name: string, c: Collector): unknown {
  const v = raw[name];
  if (v === undefined || v === null || v === '') return undefined;
  if (Array.isArray(v)) {
    if (v.length === 1 && (typeof v[0] === 'string' || typeof v[0] === 'number' || typeof v[0] === 'boolean')) return v[0] === '' ? undefined : v[0];
    c.badValue(name, v, 'is a list, but this option takes one value');
    return undefined;
  }
  if (typeof v === 'object') {
    c.badValue(name, v, 'is not a value this option takes');
    return undefined;
  }
  return v;
}

/** A list option as strings: an array, or one string split at blanks. */
function list(raw: RawConfig, name: string, c: Collector): string[] {
  const v = raw[name];
  if (v === undefined || v === null || v === '') return [];
  if (typeof v === 'string') return v.split(/[ \t]+/).filter((w) => w !== '');
  if (typeof v === 'number') return [String(v)];
  if (Array.isArray(v)) {
    const out: string[] = [];
    for (const item of v) {
      if (typeof item === 'string' && item !== '') out.push(item);
      else if (typeof item === 'number') out.push(String(item));
      else c.badValue(name, item, item === '' ? 'is an empty entry' : 'is not a text entry');
    }
    return out;
  }
  c.badValue(name, v, 'is not a list of text entries');
  return [];
}

function defaultOf(name: string): string {
  const d = OPTION_BY_NAME.get(name)?.default;
  if (d === undefined) throw new Error(`option ${name} has no default`);
  return d;
}

function boolOpt(raw: RawConfig, name: string, c: Collector): boolean {
  const v = scalar(raw, name, c) ?? defaultOf(name);
  const b = boolValue(v);
  if (b.ok) return b.value;
  c.badValue(name, v, b.reason);
  return false;
}

function parseAddressList(raw: RawConfig, name: 'ipaddr' | 'ip6addr', family: Family, c: Collector): Prefix[] {
  const out: Prefix[] = [];
  for (const item of list(raw, name, c)) {
    const r = parsePrefix(item, family);
    if (!r.ok) {
      c.badValue(name, item, r.reason, r.family !== undefined ? 'FAMILY_MISMATCH' : 'INVALID_ADDRESS');
      continue;
    }
    const p = r.prefix;
    if (p.len === 0) {
      c.badValue(name, item, 'has prefix length 0', 'INVALID_ADDRESS');
      continue;
    }
    const unspecified = family === 4 ? p.addr === '0.0.0.0' : p.addr === '::';
    const multicast = family === 4 ? r.value >> 28n === 0xen || p.addr === '255.255.255.255' : r.value >> 120n === 0xffn;
    if (unspecified || multicast) {
      c.badValue(name, item, `is ${unspecified ? 'the unspecified' : 'a multicast or broadcast'} address`, 'INVALID_ADDRESS');
      continue;
    }
    if (out.some((q) => q.addr === p.addr)) {
      c.badValue(name, item, 'is listed twice', 'INVALID_ADDRESS');
      continue;
    }
    out.push(p);
  }
  return exact(out);
}

function parseRouteList(raw: RawConfig, name: 'route' | 'route6', family: Family, c: Collector): RouteEntry[] {
  const out: RouteEntry[] = [];
  for (const item of list(raw, name, c)) {
    const [pfx = '', ...params] = item.split(',');
    const r = parsePrefix(pfx, family);
    if (!r.ok) {
      c.badValue(name, item, `has prefix ${quote(pfx)}, which ${r.reason}`, r.family !== undefined ? 'FAMILY_MISMATCH' : 'INVALID_ROUTE');
      continue;
    }
    if (r.prefix.len === 0) {
      c.badValue(name, item, 'is a default route; use option full_tunnel', 'INVALID_ROUTE');
      continue;
    }
    if (hasHostBits(r.prefix)) {
      c.badValue(name, item, `has host bits set; did you mean ${prefixText(networkOf(r.prefix))}?`, 'INVALID_ROUTE');
      continue;
    }
    const entry: RouteEntry = { prefix: r.prefix };
    let good = true;
    for (const p of params) {
      const m = /^(metric|mtu)=(.*)$/.exec(p);
      if (!m) {
        c.badValue(name, item, `has ${quote(p)}, expected metric=N or mtu=N`, 'INVALID_ROUTE');
        good = false;
        break;
      }
      const key = m[1] as 'metric' | 'mtu';
      if (entry[key] !== undefined) {
        c.badValue(name, item, `sets ${key} twice`, 'INVALID_ROUTE');
        good = false;
        break;
      }
      const n = parseUint(m[2] ?? '', false);
      const min = key === 'mtu' ? (family === 6 ? MTU_IPV6_MIN : MTU_MIN) : 0;
      const max = key === 'mtu' ? MTU_MAX : 0xffffffff;
      if (!n.ok || n.value < min || n.value > max) {
        c.badValue(name, item, `has ${key} ${n.ok ? n.value : quote(m[2] ?? '')} outside ${min}..${max}`, 'INVALID_ROUTE');
        good = false;
        break;
      }
      entry[key] = n.value;
    }
    if (!good) continue;
    // IPv6: the kernel stores metric 0 as 1024 (IP6_RT_PRIO_USER)
    const metricOf = (e: RouteEntry) => (family === 6 ? e.metric || 1024 : (e.metric ?? 0));
    if (out.some((e) => samePrefix(e.prefix, entry.prefix) && metricOf(e) === metricOf(entry))) {
      c.badValue(name, item, 'is listed twice', 'INVALID_ROUTE');
      continue;
    }
    out.push(entry);
  }
  return exact(out);
}

function parseSourceList(raw: RawConfig, c: Collector): SourceEntry[] {
  const out: SourceEntry[] = [];
  for (const item of list(raw, 'source', c)) {
    const parts = item.split('>');
    if (parts.length > 2) {
      c.badValue('source', item, "has more than one '>'");
      continue;
    }
    const src = parsePrefix(parts[0] ?? '');
    if (!src.ok) {
      c.badValue('source', item, `has source ${quote(parts[0] ?? '')}, which ${src.reason}`);
      continue;
    }
    const family = src.prefix.family;
    let dst: Prefix | undefined;
    if (parts.length === 2) {
      const d = parsePrefix(parts[1] ?? '', family);
      if (!d.ok) {
        c.badValue('source', item, `has destination ${quote(parts[1] ?? '')}, which ${d.reason}`, d.family !== undefined ? 'FAMILY_MISMATCH' : 'INVALID_SOURCE');
        continue;
      }
      dst = d.prefix;
    }
    const withHost = [src.prefix, dst].find((p) => p !== undefined && hasHostBits(p));
    if (withHost) {
      c.badValue('source', item, `has host bits set in ${prefixText(withHost)}; did you mean ${prefixText(networkOf(withHost))}?`);
      continue;
    }
    const e: SourceEntry = dst ? { family, src: src.prefix, dst } : { family, src: src.prefix };
    const same = (a?: Prefix, b?: Prefix) => (a === undefined ? b === undefined : b !== undefined && samePrefix(a, b));
    if (out.some((o) => samePrefix(o.src, e.src) && same(o.dst, e.dst))) {
      c.badValue('source', item, 'is listed twice');
      continue;
    }
    out.push(e);
  }
  return exact(out);
}

/** Validate one section. `section` is the UCI section / netifd interface name. */
export function validateConfig(raw: RawConfig, section: string, opts: ValidateOptions = {}): ValidationResult {
  const c = new Collector(section);

  if (opts.strict) {
    for (const k of Object.keys(raw)) {
      if (!OPTION_BY_NAME.has(k) && !NETIFD_COMMON_OPTIONS.has(k)) {
        c.add('UNKNOWN_OPTION', k, `${section}: unknown option ${quote(k)}; known options: ${OPTIONS.map((o) => o.name).join(' ')}`);
      }
    }
  }

  // the device is named after the section, as with the stock proto
  const nm = validNetdevName(section);
  if (!nm.ok) c.add('INVALID_NAME', undefined, `interface name ${quote(section)} cannot name the XFRM device: it ${nm.reason}`);

  const external = boolOpt(raw, 'external', c);

  // ifid
  let ifId = 0;
  const ifidRaw = scalar(raw, 'ifid', c);
  if (ifidRaw === undefined) {
    if (!external) c.add('NO_IFID', 'ifid', `${section}: option ifid is missing (1..4294967295, the if_id the IKE daemon uses)`);
  } else {
    let v: Parsed<number>;
    // -2^31..-1: an int32-typed caller (stock declaration) passing a value above 0x7fffffff
    if (typeof ifidRaw === 'number' && Number.isInteger(ifidRaw) && ifidRaw < 0 && ifidRaw >= -0x80000000) v = ok(ifidRaw >>> 0);
    else v = intValue(ifidRaw, true);
    if (!v.ok) c.badValue('ifid', ifidRaw, v.reason);
    else if (v.value === 0 && external) ifId = 0;
    else if (v.value === 0) c.badValue('ifid', ifidRaw, 'is 0; the kernel refuses if_id 0 (use 1..4294967295)');
    else if (v.value > 0xffffffff) c.badValue('ifid', ifidRaw, 'is above 4294967295 (0xffffffff)');
    else if (external) c.add('EXTERNAL_CONFLICT', 'ifid', `${section}: option ifid ${describeValue(ifidRaw)} cannot be used with external (the if_id comes from each route)`);
    else ifId = v.value;
  }

  // parent
  let parent: Parent | undefined;
  const tunlink = scalar(raw, 'tunlink', c);
  const device = scalar(raw, 'parent_device', c);
  if (tunlink !== undefined) {
    if (typeof tunlink !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(tunlink)) {
      c.badValue('tunlink', tunlink, 'is not an interface name (letters, digits, _ . -; at most 64)');
    } else if (tunlink === section) {
      c.badValue('tunlink', tunlink, 'is this interface itself');
    } else parent = { kind: 'interface', name: tunlink };
  }
  if (device !== undefined) {
    const d = typeof device === 'string' ? validNetdevName(device) : bad<string>(`must be a device name, not ${kindOf(device)}`);
    if (!d.ok) c.badValue('parent_device', device, d.reason);
    else if (device === section) c.badValue('parent_device', device, 'is the XFRM device itself');
    else if (tunlink !== undefined) {
      c.add('PARENT_CONFLICT', 'parent_device', `${section}: options tunlink ${describeValue(tunlink)} and parent_device ${describeValue(device)} both name a parent; set only one`);
      parent = undefined;
    } else parent = { kind: 'device', name: d.value };
  }
  if (external && (tunlink !== undefined || device !== undefined)) {
    c.add('EXTERNAL_CONFLICT', tunlink !== undefined ? 'tunlink' : 'parent_device', `${section}: external mode cannot have a parent (tunlink/parent_device); the kernel requires none`);
    parent = undefined;
  }

  // mtu
  let mtu = Number(defaultOf('mtu'));
  const mtuRaw = scalar(raw, 'mtu', c);
  let mtuGiven = false;
  if (mtuRaw !== undefined) {
    const v = intValue(mtuRaw, false);
    if (!v.ok) c.badValue('mtu', mtuRaw, v.reason);
    else if (v.value < MTU_MIN || v.value > MTU_MAX) c.badValue('mtu', mtuRaw, `is outside ${MTU_MIN}..${MTU_MAX}`);
    else {
      mtu = v.value;
      mtuGiven = true;
    }
  }

  // zone
  let zone: string | undefined;
  const zoneRaw = scalar(raw, 'zone', c);
  if (zoneRaw !== undefined) {
    if (typeof zoneRaw !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(zoneRaw)) c.badValue('zone', zoneRaw, 'is not a firewall zone name (letters, digits, _ . -)');
    else zone = zoneRaw;
  }

  const multicast = boolOpt(raw, 'multicast', c);

  // offload
  let offload: Offload = 'off';
  const offRaw = scalar(raw, 'offload', c);
  if (offRaw !== undefined) {
    if (offRaw === 'off' || offRaw === 'crypto' || offRaw === 'packet') offload = offRaw;
    else c.badValue('offload', offRaw, 'is not one of off, crypto, packet');
  }
  if (offload !== 'off' && !parent && tunlink === undefined && device === undefined) {
    c.add('OFFLOAD_NEEDS_PARENT', 'offload', `${section}: option offload '${offload}' needs a parent NIC (tunlink or device) to offload to`);
  }

  const ipaddr = parseAddressList(raw, 'ipaddr', 4, c);
  const ip6addr = parseAddressList(raw, 'ip6addr', 6, c);
  const routes = parseRouteList(raw, 'route', 4, c);
  const routes6 = parseRouteList(raw, 'route6', 6, c);

  const tables: Partial<Record<Family, TableChoice>> = {};
  for (const [name, fam] of [['ip4table', 4], ['ip6table', 6]] as const) {
    const t = scalar(raw, name, c);
    if (t === undefined) continue;
    const text = typeof t === 'number' ? String(t) : t;
    if (typeof text !== 'string') {
      c.badValue(name, t, `must be a table number or name, not ${kindOf(t)}`);
      continue;
    }
    const r = parseTable(text);
    if (r.ok) tables[fam] = { id: r.value, text };
    else if (r.reserved) c.badValue(name, t, `${r.reason}; routes there would shadow local addresses`, 'RESERVED_TABLE');
    else c.badValue(name, t, r.reason);
  }

  const fullTunnel = boolOpt(raw, 'full_tunnel', c);

  let rulePriority = Number(defaultOf('rule_priority'));
  const prioRaw = scalar(raw, 'rule_priority', c);
  if (prioRaw !== undefined) {
    const v = intValue(prioRaw, false);
    if (!v.ok) c.badValue('rule_priority', prioRaw, v.reason);
    else if (v.value < PRIORITY_MIN || v.value > PRIORITY_MAX) {
      c.badValue('rule_priority', prioRaw, `is outside ${PRIORITY_MIN}..${PRIORITY_MAX} (rules use base-1 … base+2, below the main rule at 32766)`);
    } else rulePriority = v.value;
  }

  let ruleStyle: RuleStyle = 'exempt';
  const styleRaw = scalar(raw, 'rule_style', c);
  if (styleRaw !== undefined) {
    if (styleRaw === 'exempt' || styleRaw === 'invert') ruleStyle = styleRaw;
    else c.badValue('rule_style', styleRaw, 'is not one of exempt, invert');
  }

  let exemptMark: Mark | undefined;
  const exRaw = scalar(raw, 'exempt_mark', c);
  if (exRaw !== undefined) {
    const m = typeof exRaw === 'number' ? parseMark(String(exRaw)) : typeof exRaw === 'string' ? parseMark(exRaw) : bad<Mark>(`must be value[/mask], not ${kindOf(exRaw)}`);
    if (m.ok) exemptMark = m.value;
    else c.badValue('exempt_mark', exRaw, m.reason);
  }

  const marks: Mark[] = [];
  for (const item of list(raw, 'mark', c)) {
    const m = parseMark(item);
    if (!m.ok) c.badValue('mark', item, m.reason);
    else if (marks.some((x) => x.value === m.value.value && x.mask === m.value.mask)) c.badValue('mark', item, 'is listed twice');
    else if (exemptMark && exemptMark.value === m.value.value && exemptMark.mask === m.value.mask) c.badValue('mark', item, 'is also the exempt_mark');
    else marks.push(m.value);
  }

  const sources = parseSourceList(raw, c);

  // ---- cross-option rules
  const ipv6Used = ip6addr.length > 0 || routes6.length > 0 || tables[6] !== undefined || sources.some((s) => s.family === 6);
  if (ipv6Used && mtu < MTU_IPV6_MIN) {
    const why = ip6addr.length ? 'ip6addr' : routes6.length ? 'route6' : tables[6] ? 'ip6table' : 'an IPv6 source';
    c.add('MTU_TOO_SMALL_FOR_IPV6', 'mtu', `${section}: option mtu ${mtuGiven ? describeValue(mtuRaw) : mtu} is below ${MTU_IPV6_MIN}, the IPv6 minimum, but ${why} is set (Linux disables IPv6 on such a device)`);
  }
  if (external) {
    const used: Array<[string, boolean]> = [
      ['route', routes.length > 0], ['route6', routes6.length > 0], ['source', sources.length > 0], ['mark', marks.length > 0],
      ['full_tunnel', fullTunnel], ['exempt_mark', exemptMark !== undefined], ['ip4table', tables[4] !== undefined],
      ['ip6table', tables[6] !== undefined],
    ];
    const routing = used.filter(([, u]) => u).map(([k]) => k);
    if (routing.length) {
      c.add('EXTERNAL_CONFLICT', routing[0], `${section}: external mode cannot use ${routing.join(', ')}: its routes need per-route if_id metadata, which xfrmd does not manage`);
    }
  }
  if (fullTunnel) {
    for (const fam of [4, 6] as const) {
      const t = tables[fam];
      if (t && t.id === 254 && (fam === 4 || ipv6Used)) {
        c.add('FULL_TUNNEL_IN_MAIN', fam === 4 ? 'ip4table' : 'ip6table', `${section}: full_tunnel needs a table other than main (option ${fam === 4 ? 'ip4table' : 'ip6table'} is ${quote(t.text)}); a tunnel default route in main would replace the uplink's`);
      }
    }
    if (!exemptMark && !external && !(raw.exempt_mark !== undefined && raw.exempt_mark !== '')) {
      c.add('NEEDS_EXEMPT_MARK', 'full_tunnel', `${section}: full_tunnel needs option exempt_mark (the SA output mark), or the encrypted packets would be routed back into the tunnel`);
    }
  }
  for (const fam of [4, 6] as const) {
    const t = tables[fam];
    const asks = marks.length > 0 || sources.some((s) => s.family === fam);
    if (t && t.id === 254 && asks) {
      const opt = fam === 4 ? 'ip4table' : 'ip6table';
      c.add('INVALID_TABLE', opt, `${section}: option ${opt} is ${quote(t.text)}, but mark and source rules need a table other than main`);
    }
  }
  if (ruleStyle === 'invert' && !exemptMark && (raw.exempt_mark === undefined || raw.exempt_mark === '')) {
    c.add('NEEDS_EXEMPT_MARK', 'rule_style', `${section}: rule_style 'invert' needs option exempt_mark (the mark the rules exclude)`);
  }

  if (c.errors.length) return { ok: false, errors: c.errors };
  const config: ValidatedConfig = {
    section,
    name: section,
    ifId,
    external,
    mtu,
    multicast,
    offload,
    ipaddr,
    ip6addr,
    routes,
    routes6,
    fullTunnel,
    rulePriority,
    ruleStyle,
    marks,
    sources,
  };
  if (parent) config.parent = parent;
  if (zone !== undefined) config.zone = zone;
  if (tables[4]) config.table4 = tables[4];
  if (tables[6]) config.table6 = tables[6];
  if (exemptMark) config.exemptMark = exemptMark;
  return { ok: true, config };
}

export function validateOrThrow(raw: RawConfig, section: string, opts: ValidateOptions = {}): ValidatedConfig {
  const r = validateConfig(raw, section, opts);
  if (!r.ok) throw new ConfigError(r.errors);
  return r.config;
}

/** True when the section uses IPv6 at all (addresses, routes, table or sources). */
export function usesIpv6(c: ValidatedConfig): boolean {
  return c.ip6addr.length > 0 || c.routes6.length > 0 || c.table6 !== undefined || c.sources.some((s) => s.family === 6);
}

/** The table derived from if_id when rules are asked for and no table is set. */
export function autoTable(ifId: number): number {
  return AUTO_TABLE_BASE + (ifId % AUTO_TABLE_SPAN);
}
