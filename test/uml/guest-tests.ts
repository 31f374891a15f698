// Test files run inside user-mode-linux guests, one guest per file, with GUEST_SUITE_ENV (suite.ts):
// each must pass with no failure, at least one pass and, under CI=true, no skip. A guest's output
// streams to <outDir>/output.log while it runs (the path is printed on stderr; KPTS_UML_STREAM=1
// copies the output to stderr as well). The kernel-suite-*.test.ts and differential-ipvs.test.ts
// files split the list, so that the whole suite's two workers run two guests at once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inCI } from '../harness/kernel.ts';
import { describeFailure, requireGuest } from './guest.ts';
import { describeTestRun, runTestFileInGuest, type TestFileRun } from './node-test.ts';
import { GUEST_SUITE_ENV, GUEST_TIME_SCALE, type GuestSuiteFile } from './suite.ts';

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

/** One test per file, each in its own guest. */
/** Why a guest run does not count as passed, or undefined when it passed. */
function runProblem(r: TestFileRun): string | undefined {
  const counts = r.tap.counts;
  if (!counts) return `the file printed no test counts: ${describeFailure(r.guest)}`;
  if (r.tap.failures.length > 0) return `failing tests:\n${describeTestRun(r)}\nlogs: ${r.guest.outDir}`;
  if (inCI() && counts.skipped > 0) return `CI=true and tests skipped:\n${describeTestRun(r)}`;
  if (counts.pass < 1) return `no test passed: ${JSON.stringify(counts)}`;
  if (counts.fail + counts.cancelled > 0) return `${JSON.stringify(counts)}\n${describeTestRun(r)}`;
  if (r.guest.status !== 0) return describeFailure(r.guest);
  return undefined;
}

/**
 * One test per file, each in its own guest. A file that fails is run once more in a fresh guest:
 * the guest's one slow CPU, shared with the host's other work, sometimes misses a timing bound.
 * The first failure is reported either way; a second failure fails the test.
 */
export function guestTests(files: readonly GuestSuiteFile[]): void {
  for (const { file, excluded, env: fileEnv, memory, timeoutMs = FILE_TIMEOUT_MS, retry = true } of files) {
    if (excluded !== undefined) continue;
    test(`${file} in a UML guest (${label})`, {
      timeout: (retry ? 2 : 1) * timeoutMs + 60_000,
    }, async (t) => {
      if (!requireGuest(t)) return;
      const once = () =>
        runTestFileInGuest({
          file,
          env: { ...env, ...fileEnv },
          timeoutMs,
          ...(memory && { memory }),
          onStart: (dir) => process.stderr.write(`# ${file}: guest output in ${dir}/output.log\n`),
          ...(process.env.KPTS_UML_STREAM === '1' && { onOutput: (c: string) => process.stderr.write(c) }),
        });
      let r = await once();
      t.diagnostic(`boot ${r.guest.bootSeconds} s, whole run ${(r.guest.durationMs / 1000).toFixed(1)} s`);
      const first = runProblem(r);
      if (first !== undefined && retry) {
        t.diagnostic(`first run failed, running the file once more in a new guest:\n${first}`);
        r = await once();
        t.diagnostic(`retry: whole run ${(r.guest.durationMs / 1000).toFixed(1)} s`);
      }
      // What the file's tests reported (flow counts, measurements), passed on to this run's log.
      for (const d of r.tap.diagnostics) t.diagnostic(`guest: ${d}`);
      if (!inCI())
        for (const sk of r.tap.skips) t.diagnostic(`skipped in the guest: ${sk.name}: ${sk.detail}`);
      const problem = runProblem(r);
      assert.equal(problem, undefined, problem);
    });
  }
}
