/** Native suites share process-wide state (signals, the addon), so jest runs them in band (npm test). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: { warnOnly: false } }] },
  testTimeout: 60000,
  // A test that starts a server must close it; open handles are bugs, not noise.
  detectOpenHandles: false,
};
