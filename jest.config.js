/** ESM mode: Nest 12 is ESM-only, so CommonJS jest cannot load it. */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    // The README's quick start imports the package by name; here that is the source.
    '^nestjs-socket-auth$': '<rootDir>/lib/index.ts',
    '^nestjs-socket-auth/(.*)$': '<rootDir>/lib/$1/index.ts',
  },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json', diagnostics: { ignoreCodes: [151002] } }],
  },
  testMatch: ['<rootDir>/lib/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts', '<rootDir>/docs/quickstart/**/*.spec.ts'],
  testTimeout: 30000,
  // Browser and cluster suites spawn processes; two workers fit the 2-core machines.
  maxWorkers: 2,
};
