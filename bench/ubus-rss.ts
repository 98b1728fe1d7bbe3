// RSS of a separate node process that holds one ubus connection and one
// object: the ubus side of the daemon. The child is bundled with esbuild and
// run by plain node, as on the router (dist/xfrmd.cjs); an idle plain node
// process is measured the same way for comparison.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const self = fileURLToPath(import.meta.url);
const [mode, socketPath] = process.argv.slice(2);

async function settleAndReport(): Promise<void> {
  await new Promise((r) => setTimeout(r, 300));
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((r) => setTimeout(r, 100));
  process.stdout.write(`rss=${process.memoryUsage().rss}\n`);
}

if (mode === '--child') {
  const { UbusClient } = await import('../src/ubus/client.ts');
  const c = new UbusClient({ socketPath: socketPath!, reconnect: true });
  await c.connect();
  await c.addObject('rss.obj', { status: () => ({ up: true }) });
  await settleAndReport();
  await new Promise<void>((r) => process.stdin.once('data', () => r()));
  c.close();
  process.exit(0);
} else if (mode === '--idle') {
  await settleAndReport();
  process.exit(0);
} else {
  const { TestBroker } = await import('../test/support/broker.ts');
  const { build } = await import('esbuild');
  const dir = mkdtempSync(join(tmpdir(), 'xfrmd-rss-'));
  const bundle = join(dir, 'child.mjs');
  await build({
    entryPoints: [self], outfile: bundle, bundle: true, platform: 'node', format: 'esm', target: 'node20',
    external: ['esbuild', '../test/support/broker.ts'], logLevel: 'error',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  const broker = await TestBroker.start();
  const measure = (args: string[]): Promise<number> =>
    new Promise((resolve, reject) => {
      const p = spawn(process.execPath, ['--expose-gc', bundle, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /rss=(\d+)/.exec(out);
        if (m) {
          p.stdin.write('x');
          p.stdin.end();
          resolve(Number(m[1]) / 1048576);
        }
      });
      p.on('error', reject);
      p.on('exit', (code) => {
        if (!/rss=/.test(out)) reject(new Error(`child exited ${code}`));
      });
    });
  const idle = await measure(['--idle']);
  const rss = await measure(['--child', broker.socketPath]);
  await broker.close();
  rmSync(dir, { recursive: true, force: true });
  console.log(`plain node idle: ${idle.toFixed(1)} MB, with one ubus connection and one object: ${rss.toFixed(1)} MB`);
  console.log(`ubus-rss.rss_mb=${rss.toFixed(1)}`);
  console.log(`ubus-rss.idle_mb=${idle.toFixed(1)}`);
  console.log(`ubus-rss.delta_mb=${(rss - idle).toFixed(1)}`);
}
