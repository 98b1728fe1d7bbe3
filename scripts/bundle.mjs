// Bundles the daemon and CLI into one file for the router (dist/xfrmd.mjs), and
// puts our netlink socket addon beside it (src/netlink/native.ts looks there). The
// `netlink` package is bundled: only its pure-JS rtnetlink encoders (deep imports),
// never its binding, so the bundle needs no node_modules on the router.
import { build } from 'esbuild';
import { statSync, chmodSync, copyFileSync, existsSync } from 'node:fs';

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
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __xfrmdCreateRequire } from 'node:module';\nconst require = __xfrmdCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
chmodSync(outfile, 0o755);
const addon = 'native/build/Release/xfrmd_netlink.node';
if (!existsSync(addon)) throw new Error(`${addon} missing: run npm ci (it builds the addon)`);
copyFileSync(addon, 'dist/xfrmd_netlink.node');
console.log(`bundle ${outfile} ${statSync(outfile).size} bytes, addon ${statSync('dist/xfrmd_netlink.node').size} bytes`);
