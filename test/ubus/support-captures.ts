// The capture-loading helpers under the name the brief gave them; the code lives
// in support-shared.ts (shared-dir lookup ../shared then /work/shared, framing, cli-output).
export * from './support-shared.ts';
