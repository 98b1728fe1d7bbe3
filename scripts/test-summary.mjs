// Prints one closing line over every vitest JSON report of this run
// (.cache/results/*.json: host tests and each guest kernel): "N passed, N failed".
import { readdirSync, readFileSync } from 'node:fs';

const dir = '.cache/results';
let passed = 0;
let failed = 0;
let skipped = 0;
const parts = [];
for (const f of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
  const r = JSON.parse(readFileSync(`${dir}/${f}`, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests + (r.success === false && r.numFailedTests === 0 ? 1 : 0);
  skipped += r.numPendingTests + (r.numTodoTests ?? 0);
  parts.push(`${f.replace(/\.json$/, '')}: ${r.numPassedTests}/${r.numTotalTests}`);
}
console.log(`(${parts.join(', ')})`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed ? 1 : 0);
