import { defineConfig } from 'vitest/config';

// Real-kernel tests: run only inside the QEMU guest (test/kernel/guest.sh, test/kernel/run-tests.sh),
// where Node is 16–20× slower than on the host. One worker, one process, no per-file isolation:
// every extra Node process or module graph costs seconds under TCG.
export default defineConfig({
  test: {
    include: ['test/kernel/**/*.ktest.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    teardownTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 1,
    isolate: false,
    fileParallelism: false,
    watch: false,
  },
});
