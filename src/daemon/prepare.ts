// config → validated → ready to plan, for one interface. Everything here is
// pure; what only the running system knows (the parent's ifindex) comes in
// through `plan()`.
import { checkConflictsFor } from '../config/conflicts.ts';
import { ConfigError, validateOrThrow, type Offload, type RawConfig, type ValidatedConfig } from '../config/validate.ts';
import { plan, type Plan } from '../plan/plan.ts';
import type { BusValue } from './netifd.ts';

/** A validated section; what is derived from it is computed when asked (a daemon holds one per
 *  interface: with 1000 of them, a plan kept in each was a megabyte). */
export class Prepared {
  /** logical parent interface (netifd resolves its L3 device) */
  readonly tunlink: string | undefined;
  /** parent netdev named directly */
  readonly parentDevice: string | undefined;

  constructor(readonly config: ValidatedConfig) {
    this.tunlink = config.parent?.kind === 'interface' ? config.parent.name : undefined;
    this.parentDevice = config.parent?.kind === 'device' ? config.parent.name : undefined;
  }

  get offload(): Offload {
    return this.config.offload;
  }

  /** the IPv4 table its routes go to (IPv6 in `plan().tables[6]`) */
  get table(): number | undefined {
    return plan(this.config).tables[4];
  }

  plan(parent?: { ifindex: number; name: string }): Plan {
    return plan(this.config, parent ? { parent } : {});
  }

  netifdData(parent?: { iface?: string; device: string; index: number }): Record<string, BusValue> {
    const data: Record<string, BusValue> = { ...plan(this.config).data };
    if (parent) {
      data.parent = parent.device;
      if (parent.iface) data.tunlink = parent.iface;
    }
    return data;
  }
}

/** Validate one section against its own rules and against the other live sections. */
export function prepare(name: string, raw: RawConfig, others: readonly Prepared[], opts: { strict?: boolean } = {}): Prepared {
  const config = validateOrThrow(raw, name, opts);
  const issues = checkConflictsFor(config, others.map((o) => o.config));
  if (issues.length) throw new ConfigError(issues);
  return new Prepared(config);
}

export function fromValidated(config: ValidatedConfig): Prepared {
  return new Prepared(config);
}
