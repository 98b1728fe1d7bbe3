// The README's "IKE daemons" section, made from examples/ike/: each scenario's README.md with its
// `{{file}}` lines replaced by the file in a code block. The guest tests load the same files.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const IKE_DIR = 'examples/ike';
/** The scenarios in the README's order. */
export const IKE_SCENARIOS = ['site-to-site', 'road-warrior', 'routed-vpn', 'libreswan', 'offload'];
export const IKE_BEGIN = '<!-- ike:begin (generated from examples/ike/ by `npm run gen`) -->';
export const IKE_END = '<!-- ike:end -->';

function block(scenario: string, file: string): string {
  const path = join(IKE_DIR, scenario, file);
  if (!existsSync(path)) throw new Error(`${path}: named in ${join(IKE_DIR, scenario, 'README.md')} but missing`);
  const text = readFileSync(path, 'utf8').trimEnd();
  if (text.includes('```')) throw new Error(`${path} contains a code fence`);
  return `\`\`\`\n${text}\n\`\`\``;
}

export function renderIkeExamples(): string {
  return IKE_SCENARIOS.map((s) =>
    readFileSync(join(IKE_DIR, s, 'README.md'), 'utf8')
      .trimEnd()
      .replace(/^\{\{([\w.-]+)\}\}$/gm, (_m, file: string) => block(s, file)),
  ).join('\n\n');
}

export function stampIke(text: string): string {
  const start = text.indexOf(IKE_BEGIN);
  const end = text.indexOf(IKE_END);
  if (start < 0 || end < start) throw new Error(`README.md lacks the ${IKE_BEGIN} … ${IKE_END} markers`);
  return `${text.slice(0, start + IKE_BEGIN.length)}\n${renderIkeExamples()}\n${text.slice(end)}`;
}
