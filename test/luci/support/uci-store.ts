// An in-memory UCI with rpcd's session semantics, as far as LuCI depends on
// them (rpcd uci.c): `set`/`delete`/`add`/`order` go into the session's change
// list, `get` answers the committed config with those changes applied,
// `changes` lists them, `apply` commits them (with `rollback`, a confirm must
// follow within `timeout` seconds or the old configs come back), `confirm`,
// `rollback`, `revert`, `commit`.

export type OptionValue = string | string[];

export interface Section {
  '.type': string;
  '.name': string;
  '.anonymous': boolean;
  [option: string]: OptionValue | boolean | number;
}

/** One config: sections in order. */
export type Config = Section[];

/** A change record as `uci changes` shows it: [op, section, option?, value?]. */
export type Change = [string, string, ...string[]];

/** ubus status codes (libubus) */
export const UBUS = { OK: 0, INVALID_ARGUMENT: 2, NOT_FOUND: 4, NO_DATA: 5, PERMISSION_DENIED: 6 } as const;

type Op =
  | { op: 'set'; sid: string; opt: string; value: OptionValue }
  | { op: 'remove'; sid: string; opt?: string }
  | { op: 'add'; sid: string; type: string; anonymous: boolean }
  | { op: 'order'; sid: string; index: number };

function clone<T>(v: T): T {
  return structuredClone(v);
}

export class UciStore {
  private committed = new Map<string, Config>();
  private pending = new Map<string, Op[]>();
  private snapshot: Map<string, Config> | undefined;
  private rollbackTimer: NodeJS.Timeout | undefined;
  private anonCounter = 0;

  constructor(configs: Record<string, Record<string, Record<string, OptionValue> & { '.type': string }>>) {
    for (const [name, sections] of Object.entries(configs)) {
      this.committed.set(
        name,
        Object.entries(sections).map(([sid, s]) => ({ ...clone(s), '.name': sid, '.anonymous': sid.startsWith('cfg') })),
      );
    }
  }

  /** The committed config (what is on flash), for assertions. */
  committedSection(config: string, sid: string): Record<string, OptionValue> | undefined {
    const s = this.committed.get(config)?.find((x) => x['.name'] === sid);
    return s && stripMeta(s);
  }

  hasConfig(config: string): boolean {
    return this.committed.has(config);
  }

  /** The config as this session sees it: committed plus its pending changes. */
  view(config: string): Config | undefined {
    const base = this.committed.get(config);
    if (!base) return undefined;
    const out = clone(base);
    for (const op of this.pending.get(config) ?? []) applyOp(out, op);
    return out;
  }

  get(config: string, section?: string, option?: string): [number, unknown?] {
    const c = this.view(config);
    if (!c) return [UBUS.NOT_FOUND];
    const withIndex: Section[] = c.map((s, i) => ({ ...s, '.index': i }));
    if (section === undefined) return [UBUS.OK, { values: Object.fromEntries(withIndex.map((s) => [s['.name'], s])) }];
    const s = withIndex.find((x) => x['.name'] === section);
    if (!s) return [UBUS.NOT_FOUND];
    if (option === undefined) return [UBUS.OK, { values: s }];
    const v = s[option];
    return v === undefined ? [UBUS.NOT_FOUND] : [UBUS.OK, { value: v }];
  }

  private push(config: string, op: Op): void {
    const list = this.pending.get(config) ?? [];
    list.push(op);
    this.pending.set(config, list);
  }

  set(config: string, section: string, values: Record<string, unknown>): [number] {
    const c = this.view(config);
    if (!c?.some((s) => s['.name'] === section)) return [UBUS.NOT_FOUND];
    for (const [opt, v] of Object.entries(values)) {
      if (opt.startsWith('.')) continue;
      if (Array.isArray(v)) this.push(config, { op: 'set', sid: section, opt, value: v.map(String) });
      else if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') {
        // rpcd: an empty string deletes the option
        if (v === '') this.push(config, { op: 'remove', sid: section, opt });
        else this.push(config, { op: 'set', sid: section, opt, value: String(v) });
      } else return [UBUS.INVALID_ARGUMENT];
    }
    return [UBUS.OK];
  }

  delete(config: string, section: string, options?: string[]): [number] {
    const c = this.view(config);
    if (!c?.some((s) => s['.name'] === section)) return [UBUS.NOT_FOUND];
    if (options === undefined) this.push(config, { op: 'remove', sid: section });
    else for (const opt of options) this.push(config, { op: 'remove', sid: section, opt });
    return [UBUS.OK];
  }

  add(config: string, type: string, name: string | undefined, values: Record<string, unknown>): [number, unknown?] {
    if (!this.committed.has(config)) return [UBUS.NOT_FOUND];
    const sid = name ?? `cfg${(0x10000 + ++this.anonCounter).toString(16).slice(1)}${type.length.toString(16).padStart(2, '0')}`;
    this.push(config, { op: 'add', sid, type, anonymous: name === undefined });
    const r = this.set(config, sid, values);
    return r[0] === UBUS.OK ? [UBUS.OK, { section: sid }] : r;
  }

  order(config: string, sections: string[]): [number] {
    sections.forEach((sid, index) => this.push(config, { op: 'order', sid, index }));
    return [UBUS.OK];
  }

  changes(config?: string): [number, unknown] {
    const render = (ops: Op[]): Change[] =>
      ops.flatMap((o): Change[] => {
        switch (o.op) {
          case 'set':
            return Array.isArray(o.value) ? [['remove', o.sid, o.opt], ...o.value.map((v): Change => ['list-add', o.sid, o.opt, v])] : [['set', o.sid, o.opt, o.value]];
          case 'remove':
            return o.opt === undefined ? [['remove', o.sid]] : [['remove', o.sid, o.opt]];
          case 'add':
            return [['add', o.sid, o.type]];
          case 'order':
            return [['order', o.sid, String(o.index)]];
        }
        return [];
      });
    if (config !== undefined) return [UBUS.OK, { changes: render(this.pending.get(config) ?? []) }];
    return [UBUS.OK, { changes: Object.fromEntries([...this.pending].filter(([, ops]) => ops.length).map(([c, ops]) => [c, render(ops)])) }];
  }

  revert(config: string): [number] {
    this.pending.delete(config);
    return [UBUS.OK];
  }

  commit(config: string): [number] {
    const v = this.view(config);
    if (!v) return [UBUS.NOT_FOUND];
    this.committed.set(config, v);
    this.pending.delete(config);
    return [UBUS.OK];
  }

  /** rpcd: commits every changed config; with rollback, they come back unless confirmed in time. */
  apply(rollback: boolean, timeoutS: number): [number] {
    if (this.snapshot) return [UBUS.PERMISSION_DENIED];
    const changed = [...this.pending.keys()];
    const before = new Map(changed.map((c) => [c, clone(this.committed.get(c) ?? [])]));
    for (const c of changed) this.commit(c);
    if (rollback) {
      this.snapshot = before;
      this.rollbackTimer = setTimeout(() => this.rollback(), timeoutS * 1000);
      this.rollbackTimer.unref();
    }
    return [UBUS.OK];
  }

  confirm(): [number] {
    if (!this.snapshot) return [UBUS.NO_DATA];
    clearTimeout(this.rollbackTimer);
    this.snapshot = undefined;
    return [UBUS.OK];
  }

  rollback(): [number] {
    if (!this.snapshot) return [UBUS.NO_DATA];
    clearTimeout(this.rollbackTimer);
    for (const [c, cfg] of this.snapshot) this.committed.set(c, cfg);
    this.snapshot = undefined;
    return [UBUS.OK];
  }

  get rollbackPending(): boolean {
    return this.snapshot !== undefined;
  }
}

function stripMeta(s: Section): Record<string, OptionValue> {
  const out: Record<string, OptionValue> = {};
  for (const [k, v] of Object.entries(s)) if (!k.startsWith('.') && (typeof v === 'string' || Array.isArray(v))) out[k] = v;
  return out;
}

function applyOp(cfg: Config, op: Op): void {
  const i = cfg.findIndex((s) => s['.name'] === op.sid);
  const s = cfg[i];
  switch (op.op) {
    case 'add':
      if (i < 0) cfg.push({ '.type': op.type, '.name': op.sid, '.anonymous': op.anonymous });
      return;
    case 'set':
      if (s) s[op.opt] = op.value;
      return;
    case 'remove':
      if (!s) return;
      if (op.opt === undefined) cfg.splice(i, 1);
      else delete s[op.opt];
      return;
    case 'order':
      if (!s) return;
      cfg.splice(i, 1);
      cfg.splice(Math.min(op.index, cfg.length), 0, s);
      return;
  }
}
