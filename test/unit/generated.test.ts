import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { README, SHIM, stampReadme, stampShim } from '../../scripts/gen-files.ts';
import { stampIke } from '../../scripts/ike-examples.ts';

// The shim's dump line and the README option table are generated from the
// schema; a change to the schema without `npm run gen` must fail here.
describe('files generated from the schema', () => {
  it('the shim carries the current dump line', () => {
    const text = readFileSync(SHIM, 'utf8');
    expect(stampShim(text)).toBe(text);
  });
  it('the README carries the current option table', () => {
    const text = readFileSync(README, 'utf8');
    expect(stampReadme(text)).toBe(text);
  });
  it('the README carries the IKE configurations of examples/ike/ as the guest tests run them', () => {
    const text = readFileSync(README, 'utf8');
    expect(stampIke(text)).toBe(text);
  });
});
