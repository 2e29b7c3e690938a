import { defineConfig } from 'vitest/config';

// Workspace packages resolve to their TypeScript sources through the `vhw-source`
// export condition, so tests need no build step.
export default defineConfig({
  resolve: { conditions: ['vhw-source'] },
  ssr: { resolve: { conditions: ['vhw-source'] } },
  oxc: { decorator: { legacy: true } } as never,
  test: {
    include: [
      'packages/*/src/**/*.test.ts',
      'packages/*/test/**/*.test.ts',
      'plugins/*/src/**/*.test.ts',
      'plugins/*/test/**/*.test.ts',
      'test/**/*.test.ts',
      'examples/**/*.test.ts',
    ],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 90000,
  },
});
