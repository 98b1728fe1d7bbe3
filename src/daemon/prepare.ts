// config → validated → ready to plan, for one interface. Everything here is
// pure; what only the running system knows (the parent's ifindex) comes in
// through `plan()`.
import { checkConflictsFor } from '../config/conflicts.ts';
import { ConfigError, validateOrThrow, type Offload, type RawConfig, type ValidatedConfig } from '../config/validate.ts';
import { plan, type Plan } from '../plan/plan.ts';
import type { BusValue } from './netifd.ts';

export interface Prepared {
  config: ValidatedConfig;
  /** logical parent interface (netifd resolves its L3 device) */
  tunlink: string | undefined;
  /** parent netdev named directly */
  parentDevice: string | undefined;
  offload: Offload;
  /** the IPv4 table its routes go to (IPv6 in `plan().tables[6]`) */
  table: number | undefined;
  plan(parent?: { ifindex: number; name: string }): Plan;
  netifdData(parent?: { iface?: string; device: string; index: number }): Record<string, BusValue>;
}

/** Validate one section against its own rules and against the other live sections. */
export function prepare(name: string, raw: RawConfig, others: readonly Prepared[], opts: { strict?: boolean } = {}): Prepared {
  const config = validateOrThrow(raw, name, opts);
  const issues = checkConflictsFor(config, others.map((o) => o.config));
  if (issues.length) throw new ConfigError(issues);
  return fromValidated(config);
}

export function fromValidated(config: ValidatedConfig): Prepared {
  const base = plan(config);
  return {
    config,
    tunlink: config.parent?.kind === 'interface' ? config.parent.name : undefined,
    parentDevice: config.parent?.kind === 'device' ? config.parent.name : undefined,
    offload: config.offload,
    table: base.tables[4],
    plan: (parent) => plan(config, parent ? { parent } : {}),
    netifdData(parent) {
      const data: Record<string, BusValue> = { ...base.data };
      if (parent) {
        data.parent = parent.device;
        if (parent.iface) data.tunlink = parent.iface;
      }
      return data;
    },
  };
}
