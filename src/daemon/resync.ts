// Resync: after the daemon starts, or the bus or netifd came back, or kernel events
// were lost. netifd is the truth for what should be up; our records (state store) and
// the tags on kernel objects are the truth for what is ours. Every decision about an
// interface goes through its lifecycle's queue, as an event that stands down when
// netifd has asked about that interface since resync looked (see lifecycle.ts).
//
//   netifd says                  we have a record         no record
//   up                           adopt (repair + notify)  kick: setup failed, so netifd
//                                                          sets it up again and we get its config
//   pending (setting up)         – its setup request comes, unless it was lost with a
//                                  dead daemon: kicked if none arrived after `kickAfterMs`;
//                                  adopt if our setup ran and only its report was lost
//   down, blocked by the shim    ifup (DAEMON_UNAVAILABLE: the setup ran while we were away)
//   down, autostart, available   – (netifd is about to set it up)
//   down otherwise, or unknown   release (remove what we own)
//
// Finally tagged routes and rules that no record owns (left by a crash) are deleted;
// deletes carry our tag, so the kernel never removes someone else's object for us.
import { XFRMD_RTPROT } from '../model.ts';
import { errorText } from '../errors.ts';
import { indexActual } from '../reconcile/reconcile.ts';
import { routeKey, ruleKey } from '../reconcile/keys.ts';
import type { InterfaceManager } from './manager.ts';

export interface ResyncReport {
  adopted: string[];
  released: string[];
  reopened: string[];
  /** pending or up in netifd without a request or record of ours: to be kicked if nothing comes */
  watched: string[];
  strays: number;
}

export interface ResyncOptions {
  /** how long a pending interface may wait for its setup request before netifd is asked again */
  kickAfterMs?: number;
  /** how long after netifd (re)appeared the resync runs (its setups come first) */
  afterNetifdMs?: number;
}

/** `since`: requests from netifd numbered above it are newer than what this resync decides. */
export async function resync(m: InterfaceManager, why: string, o: ResyncOptions = {}, since = m.seq): Promise<ResyncReport | undefined> {
  const log = m.log;
  log.info({ why }, 'resync');
  let ifaces;
  try {
    ifaces = await m.netifd.dump();
  } catch (e) {
    // without netifd nothing can be decided; we resync when it (re)appears
    log.warn(`resync: netifd not reachable (${errorText(e)}); waiting for it`);
    return undefined;
  }
  const actual = indexActual(...(await Promise.all([m.kernel.dumpRoutes(XFRMD_RTPROT), m.kernel.dumpRules(XFRMD_RTPROT)])));
  const report: ResyncReport = { adopted: [], released: [], reopened: [], watched: [], strays: 0 };
  const jobs: Array<Promise<void>> = [];
  const records = new Map(m.store.all().map((r) => [r.name, r]));

  for (const [name, rec] of records) {
    const s = ifaces.get(name);
    // pending with our objects up: the setup ran, its report was lost with the bus
    const reportLost = s?.pending === true && m.has(name) && m.lifecycle(name).state === 'up';
    if (s?.proto === 'xfrm' && (s.up || reportLost)) {
      report.adopted.push(name);
      jobs.push(m.dispatch(name, { type: 'adopt', config: rec.config, since, actual }));
    } else if (s?.proto === 'xfrm' && (s.pending || (s.autostart && s.available && !s.errors.length))) {
      // netifd is (about to be) setting it up: its request will find and adopt what is there
    } else {
      report.released.push(name);
      jobs.push(m.dispatch(name, { type: 'release', since }));
    }
  }
  for (const [name, s] of ifaces) {
    if (s.proto !== 'xfrm') continue;
    if (s.pending || (s.up && !records.has(name))) report.watched.push(name);
    else if (!s.up && s.errors.some((e) => e.code === 'DAEMON_UNAVAILABLE')) {
      report.reopened.push(name);
      log.info({ iface: name }, 'setting up again: its setup ran while xfrmd was not running');
      jobs.push(m.netifd.ifup(name).catch((e) => log.warn({ iface: name }, errorText(e))));
    }
  }
  // Lifecycles we know that netifd has no more (the section was deleted while we were away)
  for (const l of m.all()) {
    if (!records.has(l.name) && l.installed && !ifaces.has(l.name)) {
      report.released.push(l.name);
      jobs.push(m.dispatch(l.name, { type: 'release', since }));
    }
  }
  await Promise.all(jobs);

  // A setup request lost with a dead daemon never comes: after a while, make netifd try again.
  if (report.watched.length) {
    const t = setTimeout(() => {
      for (const name of report.watched) void m.dispatch(name, { type: 'kick', since });
    }, o.kickAfterMs ?? 10_000);
    t.unref();
  }

  // Strays: tagged objects no record owns. Looked at after the jobs, with a fresh dump (the
  // first is stale by now). Records are written (and owners registered) before any change, so
  // what an interface adds meanwhile is owned before it exists; an object is skipped if a record
  // held it when the dump came back or an interface owns it right before its delete is sent.
  const now = await m.ownObjects().catch(() => undefined);
  const recorded = new Set<string>();
  for (const rec of m.store.all()) {
    for (const r of rec.installed.routes) recorded.add('route|' + routeKey(r));
    for (const r of rec.installed.rules) recorded.add('rule|' + ruleKey(r));
  }
  const owned = (key: string) => recorded.has(key) || m.owns(key);
  // (counted when a delete went through: an interface that was removed meanwhile took its own)
  const sweep = (p: Promise<void>) => p.then(() => void report.strays++, () => undefined);
  if (now) {
    for (const [k, r] of now.rules) if (!owned('rule|' + k)) await sweep(m.kernel.deleteRule(r));
    for (const [k, r] of now.routes) if (!owned('route|' + k)) await sweep(m.kernel.deleteRoute(r));
  }
  // netifd's SA summaries: SAs may have come and gone while we were away
  m.xfrmChanged();
  log.info({ ...report }, 'resync done');
  return report;
}
