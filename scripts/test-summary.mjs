// Prints one closing line over every vitest JSON report of this run
// (.cache/results/*.json: host tests and each guest kernel): "N passed, N failed",
// after the time of each report and of each test file in it.
import { readdirSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';

const dir = '.cache/results';
let passed = 0;
let failed = 0;
let skipped = 0;
const parts = [];
const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;
for (const f of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
  const r = JSON.parse(readFileSync(`${dir}/${f}`, 'utf8'));
  const name = f.replace(/\.json$/, '');
  passed += r.numPassedTests;
  failed += r.numFailedTests + (r.success === false && r.numFailedTests === 0 ? 1 : 0);
  skipped += r.numPendingTests + (r.numTodoTests ?? 0);
  parts.push(`${name}: ${r.numPassedTests}/${r.numTotalTests}`);
  const files = (r.testResults ?? []).filter((t) => t.startTime && t.endTime);
  if (files.length) {
    const end = Math.max(...files.map((t) => t.endTime));
    console.log(`${name}: ${secs(end - (r.startTime ?? Math.min(...files.map((t) => t.startTime))))}`);
    for (const t of [...files].sort((a, b) => a.name.localeCompare(b.name))) {
      console.log(`  ${secs(t.endTime - t.startTime).padStart(8)}  ${relative(process.cwd(), t.name)}`);
    }
  }
}
console.log(`(${parts.join(', ')})`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed ? 1 : 0);
