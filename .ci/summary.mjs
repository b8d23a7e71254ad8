// Prints "N passed, N failed, N skipped" from vitest's JSON report; fails on skips under CI=true.
import { readFileSync } from 'node:fs';

const path = process.argv[2];
let r;
try {
  r = JSON.parse(readFileSync(path, 'utf8'));
} catch (e) {
  console.log(`ci: no test report at ${path} (${e.message})`);
  console.log('0 passed, 1 failed, 0 skipped');
  process.exit(1);
}
const skipped = r.numPendingTests + r.numTodoTests;
const failedSuites = r.testResults.filter((s) => s.status === 'failed' && s.assertionResults.length === 0).length;
const failed = r.numFailedTests + failedSuites;
if (skipped > 0 && process.env.CI === 'true') {
  for (const s of r.testResults) for (const t of s.assertionResults) if (t.status === 'pending' || t.status === 'todo') console.log(`ci: skipped: ${t.fullName}`);
  console.log('ci: a skipped test is a failure under CI=true');
}
console.log(`${r.numPassedTests} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || r.numTotalTests === 0 || (skipped > 0 && process.env.CI === 'true') ? 1 : 0);
