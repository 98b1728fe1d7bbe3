import { defineConfig } from 'vitest/config';

// Host tests: unit tests, ubus against the test broker, netlink in namespaces.
// Tests that need a kernel with XFRM interfaces live in test/kernel/ and run only
// inside the QEMU guest (vitest.kernel.config.ts).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/kernel/**', 'node_modules/**'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
  },
});
