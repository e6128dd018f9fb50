import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Process-level and engine tests start real servers; give them room but keep a bound.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: run test files two at a time so process-level tests are not starved.
    maxWorkers: 2,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
