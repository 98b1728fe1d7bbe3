// Standalone mode (`xfrmd apply`): the same planner and reconciler as the
// daemon, fed from a UCI file. On the in-memory kernel here; the same file is
// applied to a real kernel by the demo and by test/kernel/road-warrior.ktest.ts.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyNetworkFile, downAll } from '../../src/standalone/apply.ts';
import { StateStore } from '../../src/state/store.ts';
import { FakeKernel } from '../support/fake-kernel.ts';

const EXAMPLE = readFileSync('examples/network', 'utf8');
let dir: string;
let store: StateStore;
let kernel: FakeKernel;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'xfrmd-apply-'));
  store = new StateStore(dir);
  kernel = new FakeKernel();
  kernel.addDevice('wan0');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('xfrmd apply', () => {
  it('brings up every xfrm section of the example, and down removes all of it', async () => {
    const report = await applyNetworkFile(EXAMPLE, { kernel, store });
    expect(report).toMatchObject({ up: ['rw0', 'site0', 'branch1', 'branch2'], failed: [], removed: [] });
    expect(kernel.snapshot().links).toEqual(['branch1', 'branch2', 'rw0', 'site0', 'wan0']);
    expect((await kernel.getLink('rw0'))?.xfrm?.link).toBe((await kernel.getLink('wan0'))!.index);
    expect(await downAll(kernel, store)).toHaveLength(4);
    expect(kernel.snapshot()).toEqual({ links: ['wan0'], addresses: [], routes: [], rules: [] });
  });

  it('applying again puts back a rule deleted behind its back, and touches nothing else', async () => {
    await applyNetworkFile(EXAMPLE, { kernel, store });
    const before = kernel.snapshot();
    const exempt = [...kernel.rules.values()].find((r) => r.fwmark === 6)!;
    await kernel.deleteRule(exempt);
    kernel.calls = [];
    await applyNetworkFile(EXAMPLE, { kernel, store });
    expect(kernel.snapshot()).toEqual(before);
    expect(kernel.calls.filter((c) => /^(add|delete|create)/.test(c))).toEqual(['addRule']);
  });

  it('removes the interfaces a new file no longer has', async () => {
    await applyNetworkFile(EXAMPLE, { kernel, store });
    const fewer = EXAMPLE.split("config interface 'branch1'")[0]!;
    const report = await applyNetworkFile(fewer, { kernel, store });
    expect(report.removed.sort()).toEqual(['branch1', 'branch2']);
    expect(kernel.snapshot().links).toEqual(['rw0', 'site0', 'wan0']);
  });

  it('refuses a file with any bad section as a whole: every problem listed, nothing applied', async () => {
    const bad = `${EXAMPLE}\nconfig interface 'bad0'\n\toption proto 'xfrm'\n\toption ifid '9'\n\toption mtu 'huge'\n\nconfig interface 'bad1'\n\toption proto 'xfrm'\n\toption ifid '1'\n`;
    await expect(applyNetworkFile(bad, { kernel, store })).rejects.toMatchObject({ message: expect.stringMatching(/INVALID_MTU[\s\S]*DUPLICATE_IFID|DUPLICATE_IFID[\s\S]*INVALID_MTU/) });
    expect(kernel.snapshot().links).toEqual(['wan0']);
    expect(store.all()).toEqual([]);
  });

  it('a missing parent fails only that interface, with PARENT_NOT_FOUND, and leaves nothing of it', async () => {
    const other = new FakeKernel();
    const report = await applyNetworkFile(EXAMPLE, { kernel: other, store });
    expect(report.failed.map((f) => [f.interface, f.code])).toEqual([
      ['rw0', 'PARENT_NOT_FOUND'],
      ['site0', 'PARENT_NOT_FOUND'],
    ]);
    expect(report.up).toEqual(['branch1', 'branch2']);
    expect(other.snapshot().links).toEqual(['branch1', 'branch2']);
    expect(store.all().map((r) => r.name)).toEqual(['branch1', 'branch2']);
  });

  it('--dry-run prints the iproute2 plan and touches nothing', async () => {
    const report = await applyNetworkFile(EXAMPLE, { dryRun: true });
    expect(report.commands?.rw0?.[0]).toBe('link add rw0 mtu 1400 type xfrm dev wan0 if_id 1');
    expect(report.commands?.rw0).toContain('rule add prio 99 fwmark 0x6/0xffffffff lookup main proto 88');
  });
});
