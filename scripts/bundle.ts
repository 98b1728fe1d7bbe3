// Bundles the daemon and CLI into one file for the router (dist/xfrmd.cjs), and
// puts our netlink socket addon beside it (src/netlink/native.ts looks there). The bundle
// needs no node_modules on the router.
// scripts/dist.ts bundles through bundleDaemon() too, so the release tarball holds the same file.
import { build } from 'esbuild';
import { statSync, chmodSync, copyFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('..', import.meta.url));

/** Writes the single-file daemon to `outfile` (mode 0755); deterministic for the same sources.
 *  `entry`: another entry point bundled the same way (benchmarks: test/support/standin-daemon.ts). */
export async function bundleDaemon(outfile: string, entry = `${REPO}src/main.ts`): Promise<void> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    // CommonJS: an ES module entry loads node's ESM loader, 1.7 MB of the daemon's memory
    format: 'cjs',
    target: 'node20',
    // XFRMD_BUNDLE_NAMES=1 keeps names readable (CPU profiles)
    minify: process.env.XFRMD_BUNDLE_NAMES !== '1',
    legalComments: 'none',
    define: { 'import.meta.url': '__xfrmdUrl' },
    banner: { js: "#!/usr/bin/env node\n'use strict';\nconst __xfrmdUrl = require('node:url').pathToFileURL(__filename).href;" },
    logLevel: 'warning',
  });
  chmodSync(outfile, 0o755);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const outfile = 'dist/xfrmd.cjs';
  await bundleDaemon(outfile);
  const addon = 'native/build/Release/xfrmd_netlink.node';
  if (!existsSync(addon)) throw new Error(`${addon} missing: run npm ci (it builds the addon)`);
  copyFileSync(addon, 'dist/xfrmd_netlink.node');
  console.log(`bundle ${outfile} ${statSync(outfile).size} bytes, addon ${statSync('dist/xfrmd_netlink.node').size} bytes`);
}
