// The kernel suite inside user-mode-linux guests: one guest per file of GUEST_SUITE_FILES, run
// with GUEST_SUITE_ENV (suite.ts). Each must pass with no failure, at least one pass and, under
// CI=true, no skip. A guest's output streams to <outDir>/output.log while it runs (the path is
// printed on stderr; KPTS_UML_STREAM=1 copies the output to stderr as well).
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { inCI } from '../harness/kernel.ts';
import { describeFailure, requireGuest } from './guest.ts';
import { describeTestRun, REPO_ROOT, runTestFileInGuest } from './node-test.ts';
import { GUEST_SUITE_ENV, GUEST_SUITE_FILES, GUEST_TIME_SCALE } from './suite.ts';

/** One file's guest, boot included; the slowest took 6.6 minutes on a loaded host (README.md). */
const FILE_TIMEOUT_MS = 15 * 60_000;
const env = {
  ...GUEST_SUITE_ENV,
  KPTS_TEST_TIME_SCALE: String(GUEST_TIME_SCALE),
  ...(process.env.CI !== undefined && { CI: process.env.CI }),
};
const label = Object.entries(GUEST_SUITE_ENV)
  .map(([k, v]) => `${k}=${v}`)
  .join(' ');

test('every kernel test file is in the guest suite list, and each left out says why', () => {
  const listed = new Set(GUEST_SUITE_FILES.map((f) => f.file));
  const kernelFiles = readdirSync(`${REPO_ROOT}/test/kernel`)
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => `test/kernel/${f}`);
  assert.deepEqual(
    kernelFiles.filter((f) => !listed.has(f)),
    [],
    'test/uml/suite.ts: add these (or exclude them with a reason)',
  );
  for (const f of GUEST_SUITE_FILES) if (f.excluded !== undefined) assert.ok(f.excluded.length > 10, f.file);
});

for (const { file, excluded } of GUEST_SUITE_FILES) {
  if (excluded !== undefined) continue;
  test(`${file} in a UML guest (${label})`, { timeout: FILE_TIMEOUT_MS + 60_000 }, async (t) => {
    if (!requireGuest(t)) return;
    const r = await runTestFileInGuest({
      file,
      env,
      timeoutMs: FILE_TIMEOUT_MS,
      onStart: (dir) => process.stderr.write(`# ${file}: guest output in ${dir}/output.log\n`),
      ...(process.env.KPTS_UML_STREAM === '1' && { onOutput: (c: string) => process.stderr.write(c) }),
    });
    t.diagnostic(`boot ${r.guest.bootSeconds} s, whole run ${(r.guest.durationMs / 1000).toFixed(1)} s`);
    const counts = r.tap.counts;
    assert.ok(counts, `the file printed no test counts: ${describeFailure(r.guest)}`);
    assert.deepEqual(
      r.tap.failures.map((f) => f.name),
      [],
      `failing tests:\n${describeTestRun(r)}\nlogs: ${r.guest.outDir}`,
    );
    if (inCI()) assert.equal(counts.skipped, 0, `CI=true and tests skipped:\n${describeTestRun(r)}`);
    else for (const s of r.tap.skips) t.diagnostic(`skipped in the guest: ${s.name}: ${s.detail}`);
    assert.ok(counts.pass >= 1, `no test passed: ${JSON.stringify(counts)}`);
    assert.equal(counts.fail + counts.cancelled, 0, `${JSON.stringify(counts)}\n${describeTestRun(r)}`);
    assert.equal(r.guest.status, 0, describeFailure(r.guest));
  });
}
