// Bring the kernel in line with a plan for one interface, and take it away again.
//
// Every change is recorded in an undo journal; if any step fails, the journal is
// replayed backwards so a failed setup leaves nothing behind. What we own is
// returned as `Installed` and persisted by the caller: teardown removes exactly
// that, and nothing we merely adopted.
import { XFRMD_RTPROT, type AddressSpec, type RouteSpec, type RuleSpec, type XfrmLinkSpec } from '../model.ts';
import { XfrmdError, errorText } from '../errors.ts';
import { addressKey, routeKey, routeMatches, ruleKey } from './keys.ts';
import { isKernelError, type Kernel, type LinkState } from './kernel.ts';

export interface KernelPlan {
  link: XfrmLinkSpec;
  addresses: AddressSpec[];
  routes: RouteSpec[];
  rules: RuleSpec[];
}

/** What one interface owns in the kernel. Persisted across daemon restarts. */
export interface Installed {
  link: {
    name: string;
    /** 0 until the device exists */
    index: number;
    /** true if we created the device (and so may delete it) */
    created: boolean;
    ifId: number;
    parent: number;
    collectMetadata: boolean;
  };
  addresses: AddressSpec[];
  routes: RouteSpec[];
  rules: RuleSpec[];
}

/** Our tagged routes/rules as the kernel has them, keyed, so each interface looks up only its own. */
export interface ActualIndex {
  routes: ReadonlyMap<string, RouteSpec>;
  rules: ReadonlyMap<string, RuleSpec>;
}

/** Index one dump (made once for all interfaces: bringing up N stays linear in N). */
export function indexActual(routes: readonly RouteSpec[], rules: readonly RuleSpec[]): ActualIndex {
  return { routes: new Map(routes.map((r) => [routeKey(r), r])), rules: new Map(rules.map((r) => [ruleKey(r), r])) };
}

export interface ApplyOptions {
  /** What this interface owned before (state file), if anything. */
  previous?: Installed;
  /** Routes/rules carrying our tag as the kernel has them; when given, they are
   *  trusted over `previous` (used on resync). Without it no dump is made, which
   *  keeps bringing up N interfaces linear in N. */
  actual?: ActualIndex;
  /** Called once before the first change with everything this apply may leave behind
   *  (what we owned, plus every route/rule of the plan, plus a device about to be created),
   *  so a crash at any point still knows what is ours; and after a failure whose rollback
   *  went through, with what we own again (`previous`, or undefined: nothing). */
  persist?: (owned: Installed | undefined) => Promise<void> | void;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
  /** counts the changes made to the kernel (0: everything was already in place) */
  changes?: { count: number };
  /** a route or rule of another program at the place of one of ours is left there instead of
   *  failing (repairs of a running interface; status reports it) */
  keepForeign?: boolean;
}

type Undo = { what: string; run: () => Promise<void> };

function linkMatches(have: LinkState, want: XfrmLinkSpec): boolean {
  return (
    have.kind === 'xfrm' &&
    have.xfrm !== undefined &&
    have.xfrm.ifId === want.ifId &&
    have.xfrm.link === want.link &&
    have.xfrm.collectMetadata === want.collectMetadata
  );
}

function describeLink(l: LinkState): string {
  if (l.kind === 'xfrm' && l.xfrm) return `an xfrm device with if_id ${l.xfrm.ifId}${l.xfrm.link ? ` on ifindex ${l.xfrm.link}` : ''}`;
  return l.kind ? `a ${l.kind} device` : 'a device';
}

/** Translate a kernel refusal to create the device into something the user can act on. */
async function createError(kernel: Kernel, spec: XfrmLinkSpec, e: unknown): Promise<XfrmdError> {
  if (isKernelError(e)) {
    if (e.code === 'EOPNOTSUPP' || /Unknown device type/i.test(e.extack ?? '')) {
      return new XfrmdError(
        'NO_KERNEL_SUPPORT',
        'this kernel cannot create XFRM interfaces (CONFIG_XFRM_INTERFACE): install kmod-xfrm-interface',
        { cause: e },
      );
    }
    if (e.code === 'EEXIST') {
      const holder = (await kernel.listLinks()).find((l) => l.kind === 'xfrm' && l.xfrm?.ifId === spec.ifId && l.name !== spec.name);
      const who = holder ? `device ${holder.name}` : 'another device';
      const what = spec.collectMetadata ? 'an external (collect_md) xfrm device' : `if_id ${spec.ifId}`;
      return new XfrmdError('DUPLICATE_IFID', `${what} is already used by ${who} in this network namespace`, { cause: e });
    }
    if (e.code === 'ENODEV') {
      return new XfrmdError('PARENT_GONE', `parent device ifindex ${spec.link} disappeared`, { cause: e, permanent: false });
    }
  }
  return new XfrmdError('KERNEL_ERROR', `creating ${spec.name} failed: ${errorText(e)}`, { cause: e, permanent: false });
}

async function ignoreMissing(p: Promise<void>): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (isKernelError(e) && ['ENOENT', 'ESRCH', 'ENODEV', 'EADDRNOTAVAIL'].includes(e.code)) return;
    throw e;
  }
}

export async function applyPlan(kernel: Kernel, plan: KernelPlan, opts: ApplyOptions = {}): Promise<Installed> {
  const log = opts.log ?? (() => {});
  const prev = opts.previous;
  const undo: Undo[] = [];
  const spec = plan.link;
  const installed: Installed = {
    link: { name: spec.name, index: 0, created: false, ifId: spec.ifId, parent: spec.link, collectMetadata: spec.collectMetadata },
    addresses: [],
    routes: [],
    rules: [],
  };

  // Routes through a deleted device vanish with it; remember so we re-add them.
  let previousRoutes = prev?.routes ?? [];
  let previousAddresses = prev?.addresses ?? [];
  let deviceGone = false;
  // changes without an undo step (deleting a device to recreate it, settings of our own device)
  let changesWithoutUndo = 0;

  try {
    // 1. The device: adopt, recreate (only if ours), or create. Ours = the record says we created
    //    it, and it is the same device (same ifindex), or the record was written just before a
    //    creation whose ifindex we never learned (a crash right after it).
    let createdNow = false;
    let link = await kernel.getLink(spec.name);
    const ours = link !== undefined && prev?.link.created === true && (prev.link.index === link.index || prev.link.index === 0);
    if (link && !linkMatches(link, spec)) {
      if (!ours) {
        throw new XfrmdError('DEVICE_EXISTS', `device ${spec.name} already exists as ${describeLink(link)} and was not created by xfrmd; remove it or rename the interface`);
      }
      log('recreating device: kind, if_id, parent or external mode changed', { ifindex: link.index });
      await kernel.deleteLink(link.index);
      changesWithoutUndo++;
      link = undefined;
    }
    if (!link) {
      // No device (deleted just above, or by someone else behind our back): the routes through it
      // and its addresses went with it, whatever the state file says; they must be added again.
      previousRoutes = previousRoutes.filter((r) => r.dev !== spec.name);
      previousAddresses = [];
      deviceGone = true;
    }
    if (link) {
      installed.link.index = link.index;
      installed.link.created = ours;
      log(ours ? 'device exists, keeping it' : 'adopting existing device', { ifindex: link.index });
    } else {
      installed.link.created = true;
    }
    await opts.persist?.({
      link: { ...installed.link },
      addresses: previousAddresses,
      routes: unionBy(routeKey, prev?.routes ?? [], plan.routes),
      rules: unionBy(ruleKey, prev?.rules ?? [], plan.rules),
    });
    if (!link) {
      try {
        // up at creation: one message fewer (the setLink below then finds nothing to change)
        link = await kernel.createXfrmLink(spec, { up: true });
      } catch (e) {
        throw await createError(kernel, spec, e);
      }
      const created = link;
      createdNow = true;
      installed.link.index = created.index;
      undo.push({ what: `delete device ${spec.name}`, run: () => ignoreMissing(kernel.deleteLink(created.index)) });
      log('created device', { ifindex: created.index, if_id: spec.ifId, parent: spec.link });
    }

    const change: { mtu?: number; multicast?: boolean } = {};
    if (link.mtu !== spec.mtu) change.mtu = spec.mtu;
    if (link.multicast !== spec.multicast) change.multicast = spec.multicast;
    if (!link.up || Object.keys(change).length) {
      const before = { up: link.up, mtu: link.mtu, multicast: link.multicast };
      const index = link.index;
      await kernel.setLink(index, { ...change, up: true });
      if (!installed.link.created) undo.push({ what: `restore ${spec.name} settings`, run: () => ignoreMissing(kernel.setLink(index, before)) });
      else changesWithoutUndo++;
    }

    // 2. Addresses. Only ones we added before are ever removed (never link-locals or a user's).
    const wantAddrs = new Map(plan.addresses.map((a) => [addressKey(a), a]));
    // A device created just now holds none of our addresses: no dump (one per interface would make
    // bringing up N interfaces cost N dumps of everything). Link-locals the kernel may add are the exception.
    const fresh = createdNow && !plan.addresses.some((a) => a.family === 6 && /^fe[89ab]/i.test(a.address));
    const haveAddrs = new Set(fresh ? [] : (await kernel.dumpAddresses(link.index)).map(addressKey));
    // (one batch each way, as for routes and rules below)
    const dropAddrs = previousAddresses.filter((a) => !wantAddrs.has(addressKey(a)) && haveAddrs.has(addressKey(a)));
    await settleInOrder(dropAddrs.map((a) => ignoreMissing(kernel.deleteAddress(a))), (i) => {
      const a = dropAddrs[i] as AddressSpec;
      undo.push({ what: `re-add ${a.address}`, run: () => kernel.addAddress(a) });
    });
    const prevAddrs = new Set(previousAddresses.map(addressKey));
    const addAddrs = [...wantAddrs].filter(([key]) => !haveAddrs.has(key)).map(([, a]) => a);
    for (const [key, a] of wantAddrs) if (haveAddrs.has(key) && (prevAddrs.has(key) || installed.link.created)) installed.addresses.push(a);
    await settleInOrder(addAddrs.map((a) => kernel.addAddress(a)), (i) => {
      const a = addAddrs[i] as AddressSpec;
      undo.push({ what: `delete address ${a.address}`, run: () => ignoreMissing(kernel.deleteAddress(a)) });
      installed.addresses.push(a);
    });

    // 3. Routes, then 4. rules (rules last: they steer traffic into the tables).
    // Our own objects from an earlier run that no record lists (a crash between adding and
    // recording, or a record lost) make an add fail with EEXIST: found by their tag in one dump
    // (made only then) and taken over; anything else at that key is someone else's: an error
    // (ROUTE_EXISTS, RULE_EXISTS), or with `keepForeign` (a repair of a running interface) left
    // where it is and reported by status.
    let ownRoutes: Promise<Map<string, RouteSpec>> | undefined; // every route, by key
    let ownRules: Promise<Map<string, RuleSpec>> | undefined;
    installed.routes = await syncSet({
      what: 'route',
      want: plan.routes,
      had: previousRoutes,
      actual: opts.actual?.routes,
      gone: deviceGone ? (r) => r.dev === spec.name : undefined,
      key: routeKey,
      same: routeMatches,
      add: (r) => kernel.addRoute(r),
      del: (r) => kernel.deleteRoute(r),
      takeOver: async (r) => {
        ownRoutes ??= kernel.dumpRoutes().then((l) => new Map(l.map((x) => [routeKey(x), x])));
        const there = (await ownRoutes).get(routeKey(r));
        // ours from an earlier run, or an equivalent one through our own device that another
        // program put there (an IKE daemon's updown script): made ours, with our attributes
        if (!there || (there.protocol !== XFRMD_RTPROT && there.dev !== spec.name)) return false;
        if (there.protocol !== XFRMD_RTPROT) log(`took over the equivalent route ${r.dst}/${r.dstLen} table ${r.table} through ${spec.name} from protocol ${there.protocol}`);
        await kernel.addRoute(r, { replace: true });
        return true;
      },
      describe: (r) => `${r.dst}/${r.dstLen} table ${r.table}`,
      undo,
      log,
      keepForeign: opts.keepForeign === true,
    });
    installed.rules = await syncSet({
      what: 'rule',
      want: plan.rules,
      had: prev?.rules ?? [],
      actual: opts.actual?.rules,
      key: ruleKey,
      same: (a, b) => ruleKey(a) === ruleKey(b),
      add: (r) => kernel.addRule(r),
      del: (r) => kernel.deleteRule(r),
      // a rule's key is all of it: an own rule with the same key is already exactly the wanted one
      takeOver: async (r) => {
        ownRules ??= kernel.dumpRules(XFRMD_RTPROT).then((l) => new Map(l.map((x) => [ruleKey(x), x])));
        return (await ownRules).has(ruleKey(r));
      },
      describe: (r) => `priority ${r.priority}`,
      undo,
      log,
      keepForeign: opts.keepForeign === true,
    });
    installed.addresses = installed.addresses.slice(); // to its size: kept for the interface's life
    if (opts.changes) opts.changes.count += undo.length + changesWithoutUndo;
    log('applied', { addresses: installed.addresses.length, routes: installed.routes.length, rules: installed.rules.length });
    return installed;
  } catch (e) {
    // A rollback that went through leaves what we had before; one that did not keeps the
    // intent record, which over-approximates what is ours (removal is by key and tag).
    if (await rollback(undo, log)) await opts.persist?.(prev);
    throw e instanceof XfrmdError ? e : new XfrmdError('KERNEL_ERROR', errorText(e), { cause: e, permanent: false });
  }
}

interface SyncSet<T> {
  what: string;
  want: T[];
  had: T[];
  actual: ReadonlyMap<string, T> | undefined;
  /** objects that cannot exist any more (routes through a device that is gone) */
  gone?: ((x: T) => boolean) | undefined;
  key: (x: T) => string;
  same: (want: T, have: T) => boolean;
  add: (x: T) => Promise<void>;
  del: (x: T) => Promise<void>;
  /** after EEXIST: make an existing object carrying our tag ours; false when it is not ours */
  takeOver: (x: T) => Promise<boolean>;
  keepForeign: boolean;
  describe: (x: T) => string;
  undo: Undo[];
  log: NonNullable<ApplyOptions['log']>;
}

/** Make the kernel hold exactly `want` out of what we own; returns what we own afterwards. */
async function syncSet<T>(s: SyncSet<T>): Promise<T[]> {
  const want = new Map(s.want.map((x) => [s.key(x), x]));
  const had = new Map(s.had.map((x) => [s.key(x), x]));
  // What exists of ours: looked up in the dump if we have one, else what we installed last time.
  // A dump holds every interface's tagged objects: only what this one owned or wants is its business.
  const existing = new Map<string, T>();
  for (const k of new Set([...had.keys(), ...want.keys()])) {
    const x = s.actual ? s.actual.get(k) : had.get(k);
    if (x !== undefined && !s.gone?.(x)) existing.set(k, x);
  }
  // Each step is one batch: the requests go out together (one datagram, an ACK each) and the
  // undo journal gets exactly the ones that went through, in order, before any failure is raised.
  const stale = [...existing].filter(([k, x]) => !(want.has(k) && s.same(want.get(k) as T, x)));
  await settleInOrder(stale.map(([, x]) => ignoreMissing(s.del(x))), (i) => {
    const [k, x] = stale[i] as [string, T];
    existing.delete(k);
    s.undo.push({ what: `restore ${s.what} ${s.describe(x)}`, run: () => s.add(x) });
  });

  const missing = [...want].filter(([k]) => !existing.has(k)).map(([, x]) => x);
  // an add refused with EEXIST resolves to its error: taken over below, or someone else's
  const taken: Array<[T, unknown]> = [];
  const adding = missing.map((x) =>
    s.add(x).then(
      () => undefined,
      (e: unknown) => {
        if (isKernelError(e, 'EEXIST')) return e;
        throw new XfrmdError('KERNEL_ERROR', `adding ${s.what} ${s.describe(x)} failed: ${errorText(e)}`, { cause: e, permanent: false });
      },
    ),
  );
  await settleInOrder(adding, (i, exists) => {
    const x = missing[i] as T;
    if (exists === undefined) s.undo.push({ what: `delete ${s.what} ${s.describe(x)}`, run: () => ignoreMissing(s.del(x)) });
    else taken.push([x, exists]);
  });
  // EEXIST: ours from an earlier run (taken over), or someone else's
  for (const [x, cause] of taken) {
    if (!(await s.takeOver(x))) {
      if (s.keepForeign) {
        s.log(`a ${s.what} ${s.describe(x)} of another program stands where ours belongs: left alone`);
        continue;
      }
      throw new XfrmdError(`${s.what.toUpperCase()}_EXISTS`, `a ${s.what} ${s.describe(x)} not installed by xfrmd already exists`, { cause });
    }
    s.undo.push({ what: `delete ${s.what} ${s.describe(x)}`, run: () => ignoreMissing(s.del(x)) });
  }
  return [...want.values()];
}

/** Waits for a batch of requests; `done(i, value)` for each that went through, in order, then the first failure (if any) is thrown. */
async function settleInOrder<V>(batch: Array<Promise<V>>, done: (i: number, value: V) => void): Promise<void> {
  const results = await Promise.allSettled(batch);
  results.forEach((r, i) => r.status === 'fulfilled' && done(i, r.value));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

function unionBy<T>(key: (x: T) => string, ...lists: T[][]): T[] {
  const m = new Map<string, T>();
  for (const l of lists) for (const x of l) m.set(key(x), x);
  return [...m.values()];
}

/** Undo in reverse order; true when every step went through. */
async function rollback(undo: Undo[], log: NonNullable<ApplyOptions['log']>): Promise<boolean> {
  let clean = true;
  for (const step of undo.reverse()) {
    try {
      await step.run();
    } catch (e) {
      // Keep going: one stuck object must not leave the rest behind.
      log(`rollback step failed: ${step.what}: ${errorText(e)}`);
      clean = false;
    }
  }
  return clean;
}

/** Is the device `installed` describes still there, under its name (ifindexes get reused)? */
export async function devicePresent(kernel: Kernel, installed: Installed): Promise<boolean> {
  const l = installed.link;
  if (!l.index) {
    // recorded just before a creation whose ifindex we never learned (a crash right after it):
    // the device with our name is ours if it is exactly what we were creating
    if (!l.created) return false;
    const link = await kernel.getLink(l.name).catch(() => undefined);
    return link !== undefined && linkMatches(link, { name: l.name, ifId: l.ifId, link: l.parent, collectMetadata: l.collectMetadata, mtu: 0, multicast: false });
  }
  const link = await kernel.getLinkByIndex(l.index).catch(() => undefined);
  return link?.name === l.name;
}

/** Remove exactly what `installed` says we own: rules, routes, addresses, then the device. */
export async function removeInstalled(kernel: Kernel, installed: Installed, log: ApplyOptions['log'] = () => {}): Promise<void> {
  const failures: string[] = [];
  const attempt = async (what: string, p: () => Promise<void>) => {
    try {
      await ignoreMissing(p());
    } catch (e) {
      failures.push(`${what}: ${errorText(e)}`);
    }
  };
  // rules first (they steer traffic into the tables), then routes: one batch each
  await Promise.all(installed.rules.map((r) => attempt(`rule priority ${r.priority}`, () => kernel.deleteRule(r))));
  await Promise.all(installed.routes.map((r) => attempt(`route ${r.dst}/${r.dstLen}`, () => kernel.deleteRoute(r))));
  const sameDevice = await devicePresent(kernel, installed);
  if (sameDevice && installed.link.created) {
    const index = installed.link.index || (await kernel.getLink(installed.link.name))?.index || 0;
    await attempt(`device ${installed.link.name}`, () => kernel.deleteLink(index));
  } else if (sameDevice) {
    await Promise.all(installed.addresses.map((a) => attempt(`address ${a.address}`, () => kernel.deleteAddress(a))));
  }
  log('removed', { rules: installed.rules.length, routes: installed.routes.length, deviceDeleted: sameDevice && installed.link.created });
  if (failures.length) throw new XfrmdError('TEARDOWN_INCOMPLETE', `could not remove: ${failures.join('; ')}`, { permanent: false });
}
