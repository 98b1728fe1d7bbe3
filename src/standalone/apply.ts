// Standalone mode: the same schema, planner and reconciler as the daemon, fed
// from a UCI network file instead of netifd. Declarative: after `apply`, the
// kernel holds exactly the file's xfrm interfaces (of those xfrmd manages).
import { checkConflicts } from '../config/conflicts.ts';
import { interfacesWithProto, parseUci, type UciFile } from '../config/uci.ts';
import { validateConfig, type Issue, type ValidatedConfig } from '../config/validate.ts';
import { XfrmdError, errorText } from '../errors.ts';
import { plan as buildPlan, renderIpCommands, type Plan } from '../plan/plan.ts';
import type { Kernel } from '../reconcile/kernel.ts';
import { applyPlan, indexActual, removeInstalled } from '../reconcile/reconcile.ts';
import { XFRMD_RTPROT } from '../model.ts';
import type { StateStore } from '../state/store.ts';

export interface Failure {
  interface: string;
  code: string;
  message: string;
}

export interface ApplyReport {
  up: string[];
  removed: string[];
  failed: Failure[];
  /** dry run: the iproute2 commands per interface */
  commands?: Record<string, string[]>;
}

interface Section {
  raw: Record<string, unknown>;
  config: ValidatedConfig;
}

/** Parse and validate the whole file; any problem in any section → nothing is applied. */
export function loadNetworkFile(text: string): { sections: Section[]; file: UciFile } {
  const file = parseUci(text);
  const issues: Issue[] = [];
  const sections: Section[] = [];
  for (const i of interfacesWithProto(file)) {
    const r = validateConfig(i.raw, i.section, { strict: true });
    if (r.ok) sections.push({ raw: i.raw, config: r.config });
    else issues.push(...r.errors);
  }
  issues.push(...checkConflicts(sections.map((s) => s.config)));
  if (issues.length) {
    const err = new XfrmdError(issues[0]!.code, issues.map((i) => `${i.code}: ${i.message}`).join('\n'));
    throw Object.assign(err, { issues });
  }
  return { sections, file };
}

/** `tunlink` names a logical interface: its `device` (or legacy `ifname`) is the parent netdev. */
function parentDeviceName(c: ValidatedConfig, file: UciFile): string | undefined {
  if (!c.parent) return undefined;
  if (c.parent.kind === 'device') return c.parent.name;
  const s = file.sections.find((x) => x.type === 'interface' && x.name === c.parent!.name);
  const dev = s?.options.device ?? s?.options.ifname;
  return typeof dev === 'string' ? dev : undefined;
}

/** sections applied at once: enough to fill the socket's batches, few enough for its ACK window */
const APPLY_CONCURRENCY = 16;

export async function applyNetworkFile(
  text: string,
  o: { kernel?: Kernel; store?: StateStore; dryRun?: boolean; log?: (iface: string, msg: string) => void },
): Promise<ApplyReport> {
  const { sections, file } = loadNetworkFile(text);
  const log = o.log ?? (() => {});
  const report: ApplyReport = { up: [], removed: [], failed: [] };

  const planFor = async (c: ValidatedConfig): Promise<Plan> => {
    const parentName = parentDeviceName(c, file);
    if (c.parent && !parentName) {
      throw new XfrmdError('PARENT_NOT_FOUND', `tunlink ${c.parent.name} is not an interface with a device in this file`);
    }
    if (!parentName) return buildPlan(c);
    if (!o.kernel) return buildPlan(c, { parent: { ifindex: 0, name: parentName } });
    const link = await o.kernel.getLink(parentName);
    if (!link) throw new XfrmdError('PARENT_NOT_FOUND', `parent device ${parentName} is not present`);
    return buildPlan(c, { parent: { ifindex: link.index, name: parentName } });
  };

  if (o.dryRun) {
    report.commands = {};
    for (const s of sections) report.commands[s.config.section] = renderIpCommands(await planFor(s.config));
    return report;
  }
  if (!o.kernel || !o.store) throw new Error('applyNetworkFile: kernel and store are required unless dryRun');
  const { kernel, store } = o;

  // Interfaces we manage that the file no longer has go first, freeing their if_ids and priorities.
  const wanted = new Set(sections.map((s) => s.config.section));
  for (const rec of store.all()) {
    if (wanted.has(rec.name)) continue;
    await removeInstalled(kernel, rec.installed, (m) => log(rec.name, m));
    store.remove(rec.name);
    report.removed.push(rec.name);
  }

  // One dump for all sections: what was deleted behind our back is put back, in linear time.
  const actual = indexActual(await kernel.dumpRoutes(XFRMD_RTPROT), await kernel.dumpRules(XFRMD_RTPROT));
  // Sections are independent once checked against each other (names, if_ids, priorities):
  // several are applied at once, so their requests share the netlink socket's batches, as the
  // daemon's lifecycles do when netifd sets many up together. Each keeps its own undo journal.
  const outcome = new Map<string, { failed?: ApplyReport['failed'][number] }>();
  const applyOne = async (s: (typeof sections)[number]): Promise<void> => {
    const name = s.config.section;
    try {
      const p = await planFor(s.config);
      const installed = await applyPlan(kernel, p, {
        previous: store.load(name)?.installed,
        actual,
        persist: (i) => (i ? store.save({ name, config: s.raw, installed: i }) : store.remove(name)),
        log: (m) => log(name, m),
      });
      store.save({ name, config: s.raw, installed });
      outcome.set(name, {});
    } catch (e) {
      const code = e instanceof XfrmdError ? e.code : 'KERNEL_ERROR';
      outcome.set(name, { failed: { interface: name, code, message: errorText(e) } });
    }
  };
  let next = 0;
  const worker = async () => {
    while (next < sections.length) await applyOne(sections[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(APPLY_CONCURRENCY, sections.length) }, worker));
  // reported in the file's order, whatever order they finished in
  for (const s of sections) {
    const o = outcome.get(s.config.section);
    if (o?.failed) report.failed.push(o.failed);
    else report.up.push(s.config.section);
  }
  return report;
}

/** Remove everything xfrmd installed (all interfaces, or the named ones). */
export async function downAll(kernel: Kernel, store: StateStore, names?: string[]): Promise<string[]> {
  const removed: string[] = [];
  for (const rec of store.all()) {
    if (names?.length && !names.includes(rec.name)) continue;
    await removeInstalled(kernel, rec.installed);
    store.remove(rec.name);
    removed.push(rec.name);
  }
  return removed;
}
