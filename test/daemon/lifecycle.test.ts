// Every transition of one interface's lifecycle (src/daemon/lifecycle.ts), event by event and
// state by state, against the in-memory kernel and a netifd stand-in that records what it was told
// and answers as netifd would. The daemon-level flows (fake and real netifd) build on these.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/log.ts';
import { Lifecycle, type LifecycleContext, type LifecycleEvent, type State } from '../../src/daemon/lifecycle.ts';
import type { IfaceUp, Netifd } from '../../src/daemon/netifd.ts';
import { prepare, type Prepared } from '../../src/daemon/prepare.ts';
import { XFRMD_RTPROT } from '../../src/model.ts';
import { indexActual } from '../../src/reconcile/reconcile.ts';
import { StateStore } from '../../src/state/store.ts';
import { UbusError } from '../../src/ubus/errors.ts';
import { FakeKernel, kerr } from '../support/fake-kernel.ts';

/** What netifd was told, in order; `answer` decides the status of the next notifies. */
class NetifdStandIn {
  told: string[] = [];
  answer: (what: string) => number = () => 0;
  status: { pending: boolean; up: boolean } = { pending: false, up: false };
  /** false: ubusd is gone (questions fail with CONNECTION_FAILED) */
  bus = true;
  private say(what: string): Promise<void> {
    this.told.push(what);
    const s = this.answer(what);
    return s ? Promise.reject(new UbusError(s)) : Promise.resolve();
  }
  asNetifd(): Netifd {
    return {
      up: (_n: string, u: IfaceUp) => this.say(u.keep ? 'update' : 'up'),
      linkLost: () => this.say('link-lost'),
      error: (_n: string, code: string, _m: string, permanent: boolean) => this.say(`error ${code}${permanent ? ' +block' : ''}`),
      setAvailable: (_n: string, a: boolean) => this.say(`available ${a}`),
      setupFailed: () => this.say('setup-failed'),
      ifup: () => this.say('ifup'),
      dependOn: () => (this.bus ? Promise.resolve(true) : Promise.reject(new UbusError(10))),
      parentDevice: () => (this.bus ? Promise.resolve('eth0') : Promise.reject(new UbusError(10))),
      status: () => Promise.resolve({ ...this.status, available: true, autostart: true, proto: 'xfrm', device: undefined, l3Device: undefined, errors: [] }),
    } as unknown as Netifd;
  }
}

let kernel: FakeKernel;
let netifd: NetifdStandIn;
let dir: string;
let lc: Lifecycle;
let repairs: string[];
/** the other sections' validated configs (conflict checks) */
let others: Prepared[];
let seq = 0;

const CONFIG = { ifid: '5', ipaddr: ['10.9.0.2/32'], route: ['10.20.0.0/16'], parent_device: 'eth0' };

beforeEach(() => {
  kernel = new FakeKernel();
  kernel.addDevice('eth0');
  netifd = new NetifdStandIn();
  dir = mkdtempSync(join(tmpdir(), 'xfrmd-lc-'));
  repairs = [];
  others = [];
  const ctx: LifecycleContext = {
    kernel,
    netifd: netifd.asNetifd(),
    store: new StateStore(dir),
    log: silentLogger,
    capabilities: () => ({ kernel: '6.12', xfrmInterface: true, collectMetadata: true, packetOffloadApi: true }),
    others: () => others,
    retryDelay: () => 3_600_000,
    ownership: () => undefined,
    ownObjects: async () => indexActual(await kernel.dumpRoutes(XFRMD_RTPROT), await kernel.dumpRules(XFRMD_RTPROT)),
    sasChanged: () => undefined,
    repairLater: (name) => void repairs.push(name),
    follows: () => undefined,
    freed: () => undefined,
    worked: () => undefined,
  };
  lc = new Lifecycle('vpn0', ctx);
});

afterEach(() => {
  lc.close();
  rmSync(dir, { recursive: true, force: true });
});

const ours = () => [...kernel.routes.values()].filter((r) => r.protocol === XFRMD_RTPROT).map((r) => `${r.dst}/${r.dstLen}`);
const request = (ev: LifecycleEvent) => lc.dispatch(ev, ++seq);
const event = (ev: LifecycleEvent) => lc.dispatch(ev);

/** Brings the lifecycle into `state` the way it gets there for real; netifd's log starts empty. */
async function into(state: State): Promise<void> {
  switch (state) {
    case 'idle':
      break;
    case 'up':
      await request({ type: 'setup', config: CONFIG });
      break;
    case 'waiting':
      kernel.failOn('createXfrmLink', kerr('ENOBUFS'));
      await request({ type: 'setup', config: CONFIG });
      break;
    case 'failed':
      await request({ type: 'setup', config: { ...CONFIG, ifid: '0' } });
      break;
    default:
      throw new Error(`no way into ${state}`);
  }
  expect(lc.state).toBe(state);
  netifd.told = [];
}

describe('lifecycle transitions', () => {
  it('idle + setup → up: device, address, route; netifd told once', async () => {
    await request({ type: 'setup', config: CONFIG });
    expect(lc.state).toBe('up');
    expect(netifd.told).toEqual(['up']);
    expect(ours()).toEqual(['10.20.0.0/16']);
  });

  it('setup with a config error → failed: error, restart blocked, setup failed; nothing in the kernel', async () => {
    await into('failed');
    expect(lc.error?.code).toBe('INVALID_IFID');
    expect(kernel.snapshot().links).toEqual(['eth0']);
  });

  it('setup with a transient kernel error → waiting: error, unavailable, retry timer; nothing left', async () => {
    kernel.failOn('createXfrmLink', kerr('ENOBUFS'));
    await request({ type: 'setup', config: CONFIG });
    expect(lc.state).toBe('waiting');
    expect(netifd.told).toEqual(['error KERNEL_ERROR', 'available false']);
    expect(kernel.snapshot().links).toEqual(['eth0']);
  });

  it('up + setup with another route → up, the kernel follows', async () => {
    await into('up');
    await request({ type: 'setup', config: { ...CONFIG, route: ['10.21.0.0/16'] } });
    expect(lc.state).toBe('up');
    expect(ours()).toEqual(['10.21.0.0/16']);
  });

  it('up + setup whose question about the tunlink fails because ubusd is gone → stays up, everything kept, a repair follows', async () => {
    const config = { ...CONFIG, parent_device: undefined, tunlink: 'wan' };
    await request({ type: 'setup', config });
    expect(lc.state).toBe('up');
    const link = await kernel.getLink('vpn0');
    netifd.bus = false;
    await request({ type: 'setup', config });
    expect(lc.state).toBe('up');
    expect((await kernel.getLink('vpn0'))?.index).toBe(link?.index);
    expect(ours()).toEqual(['10.20.0.0/16']);
    expect(repairs).toEqual(['vpn0']);
  });

  it('idle + setup whose question about the tunlink fails because ubusd is gone → waiting, nothing in the kernel', async () => {
    netifd.bus = false;
    await request({ type: 'setup', config: { ...CONFIG, parent_device: undefined, tunlink: 'wan' } });
    expect(lc.state).toBe('waiting');
    expect(kernel.snapshot().links).toEqual(['eth0']);
  });

  for (const [from, to] of [['up', 'idle'], ['idle', 'idle'], ['waiting', 'waiting'], ['failed', 'failed']] as const) {
    it(`${from} + teardown → ${to}, nothing of ours left`, async () => {
      await into(from);
      await request({ type: 'teardown' });
      expect(lc.state).toBe(to);
      expect(kernel.snapshot()).toEqual({ links: ['eth0'], addresses: [], routes: [], rules: [] });
      if (to !== 'idle') expect(lc.error).toBeDefined();
    });
  }

  it('a netifd request superseded by a newer one is skipped when its turn comes', async () => {
    const first = ++seq;
    const second = ++seq;
    await Promise.all([lc.dispatch({ type: 'setup', config: CONFIG }, first), lc.dispatch({ type: 'teardown' }, second)]);
    expect(lc.transitions.map((t) => `${t.event}:${t.to}`)).toEqual(['setup:idle', 'teardown:idle']);
    expect(kernel.calls).not.toContain('createXfrmLink');
  });

  it('setup whose report netifd refuses (6, tearing down) → idle, everything taken back, no error', async () => {
    netifd.answer = (w) => (w === 'up' ? 6 : 0);
    await request({ type: 'setup', config: CONFIG });
    expect(lc.state).toBe('idle');
    expect(lc.error).toBeUndefined();
    expect(kernel.snapshot().links).toEqual(['eth0']);
  });

  it('setup whose report cannot reach netifd (bus gone) → up, the kernel kept for the resync to report', async () => {
    netifd.answer = (w) => (w === 'up' ? 10 : 0);
    await request({ type: 'setup', config: CONFIG });
    expect(lc.state).toBe('up');
    expect(ours()).toEqual(['10.20.0.0/16']);
  });

  it('up + device-lost (deleted) → link lost, recreated, up; for another ifindex or when not up: nothing', async () => {
    await into('up');
    const index = lc.installed!.link.index;
    await event({ type: 'device-lost', ifindex: index + 100 });
    expect(netifd.told).toEqual([]);
    kernel.removeDevice('vpn0');
    await event({ type: 'device-lost', ifindex: index });
    expect(lc.state).toBe('up');
    expect(netifd.told).toEqual(['link-lost', 'up']);
    expect(lc.installed!.link.index).not.toBe(index);
    expect(ours()).toEqual(['10.20.0.0/16']);
    await request({ type: 'teardown' });
    netifd.told = [];
    await event({ type: 'device-lost', ifindex: index });
    expect(netifd.told).toEqual([]);
  });

  it('up + device-lost when only set down → brought up, route back, no link-lost', async () => {
    await into('up');
    const index = lc.installed!.link.index;
    await kernel.setLink(index, { up: false });
    expect(ours()).toEqual([]);
    await event({ type: 'device-lost', ifindex: index });
    expect(netifd.told).toEqual(['up']);
    expect((await kernel.getLinkByIndex(index))?.up).toBe(true);
    expect(ours()).toEqual(['10.20.0.0/16']);
  });

  it('up + repair → what vanished is put back (netifd told); with nothing missing, netifd is not bothered', async () => {
    await into('up');
    await event({ type: 'repair', actual: indexActual(await kernel.dumpRoutes(XFRMD_RTPROT), []) });
    expect(netifd.told).toEqual([]);
    await kernel.deleteRoute([...kernel.routes.values()][0]!);
    await event({ type: 'repair', actual: indexActual(await kernel.dumpRoutes(XFRMD_RTPROT), []) });
    expect(netifd.told).toEqual(['up']);
    expect(ours()).toEqual(['10.20.0.0/16']);
  });

  it('a transient fault during a repair leaves the interface up and asks for another repair', async () => {
    await into('up');
    await kernel.deleteRoute([...kernel.routes.values()][0]!);
    kernel.failOn('addRoute', kerr('ENOBUFS'));
    await event({ type: 'repair', actual: indexActual([], []) });
    expect(lc.state).toBe('up');
    expect(repairs).toEqual(['vpn0']);
    expect(kernel.snapshot().links).toContain('vpn0');
  });

  it('idle + adopt → up and reported; a netifd request since resync looked makes it stand down', async () => {
    await into('up');
    const since = seq;
    await request({ type: 'teardown' });
    await event({ type: 'adopt', config: CONFIG, since, actual: indexActual([], []) });
    expect(lc.state).toBe('idle');
    await event({ type: 'adopt', config: CONFIG, since: seq, actual: indexActual([], []) });
    expect(lc.state).toBe('up');
  });

  it('up + release → idle, nothing left', async () => {
    await into('up');
    await event({ type: 'release', since: seq });
    expect(lc.state).toBe('idle');
    expect(kernel.snapshot().links).toEqual(['eth0']);
  });

  it('kick: netifd waiting for a setup we never got is asked to start over; not when we hold it', async () => {
    netifd.status = { pending: true, up: false };
    await event({ type: 'kick', since: seq });
    expect(netifd.told).toEqual(['setup-failed']);
    await into('up');
    await event({ type: 'kick', since: seq });
    expect(netifd.told).toEqual([]);
  });

  it('failed over another section + reopen → netifd asked to set it up again; failed for another reason, or up: nothing', async () => {
    others = [prepare('vpn9', CONFIG, [])];
    await request({ type: 'setup', config: CONFIG });
    expect(lc.error?.code).toBe('DUPLICATE_IFID');
    netifd.told = [];
    others = [];
    await event({ type: 'reopen', over: 'vpn9' });
    expect(netifd.told).toEqual(['ifup']);
    netifd.told = [];
    await into('failed');
    await event({ type: 'reopen', over: 'vpn9' });
    expect(netifd.told).toEqual([]);
    await into('up');
    await event({ type: 'reopen', over: 'vpn9' });
    expect(netifd.told).toEqual([]);
  });

  it('waiting + retry → made available; in other states a retry does nothing', async () => {
    await into('waiting');
    await event({ type: 'retry' });
    expect(netifd.told).toEqual(['available true']);
    netifd.told = [];
    await request({ type: 'setup', config: CONFIG });
    netifd.told = [];
    await event({ type: 'retry' });
    expect(netifd.told).toEqual([]);
  });

  it('parent-up: same ifindex → nothing; a new one → recreated on it; waiting → retried at once', async () => {
    await into('up');
    const eth0 = (await kernel.getLink('eth0'))!.index;
    await event({ type: 'parent-up', device: 'eth0', ifindex: eth0 });
    expect(netifd.told).toEqual([]);
    kernel.removeDevice('eth0');
    const again = kernel.addDevice('eth0');
    await event({ type: 'parent-up', device: 'eth0', ifindex: again.index });
    expect(netifd.told).toEqual(['link-lost', 'up']);
    expect(lc.installed!.link.parent).toBe(again.index);
    await request({ type: 'teardown' });
    kernel.failOn('createXfrmLink', kerr('ENOBUFS'));
    await request({ type: 'setup', config: CONFIG });
    netifd.told = [];
    await event({ type: 'parent-up', device: 'eth0', ifindex: again.index });
    expect(netifd.told).toEqual(['available true']);
  });

  it('up + parent-gone → waiting with PARENT_GONE, everything taken back, unavailable', async () => {
    await into('up');
    await event({ type: 'parent-gone', device: 'eth0' });
    expect(lc.state).toBe('waiting');
    expect(lc.error?.code).toBe('PARENT_GONE');
    expect(netifd.told).toEqual(['error PARENT_GONE', 'available false']);
    expect(kernel.snapshot().links).toEqual(['eth0']);
  });

  it('up + summary: netifd told only when the counts change, as an update that keeps the device', async () => {
    await into('up');
    await event({ type: 'summary', data: { sa_in: 0, sa_out: 0, sa_offloaded: 0 } });
    expect(netifd.told).toEqual([]);
    await event({ type: 'summary', data: { sa_in: 1, sa_out: 1, sa_offloaded: 0 } });
    await event({ type: 'summary', data: { sa_in: 1, sa_out: 1, sa_offloaded: 0 } });
    expect(netifd.told).toEqual(['update']);
  });
});
