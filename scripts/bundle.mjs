// Bundles the daemon and CLI into one file for the router (dist/xfrmd.mjs).
// The `netlink` package carries a native addon, so it stays external and is
// installed beside the bundle by the OpenWrt package.
import { build } from 'esbuild';
import { statSync, chmodSync } from 'node:fs';

const outfile = 'dist/xfrmd.mjs';
await build({
  entryPoints: ['src/main.ts'],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minify: true,
  legalComments: 'none',
  external: ['netlink'],
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __xfrmdCreateRequire } from 'node:module';\nconst require = __xfrmdCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
chmodSync(outfile, 0o755);
console.log(`bundle ${outfile} ${statSync(outfile).size} bytes`);
