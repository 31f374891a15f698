// The kernel suite in IPVS mode inside UML guests, first half (suite.ts); the second half is
// kernel-suite-2.test.ts, so the whole suite's two workers run two guests at once.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { guestTests } from './guest-tests.ts';
import { REPO_ROOT } from './node-test.ts';
import { GUEST_DIFFERENTIAL, GUEST_SUITE_FILES, half } from './suite.ts';

test('every kernel test file is in the guest suite list, and each left out says why', () => {
  const listed = new Set([...GUEST_SUITE_FILES, GUEST_DIFFERENTIAL].map((f) => f.file));
  const kernelFiles = [
    ...readdirSync(`${REPO_ROOT}/test/kernel`)
      .filter((f) => f.endsWith('.test.ts'))
      .map((f) => `test/kernel/${f}`),
    // Guest-only files (*.guest.ts are not part of the host's suite).
    ...readdirSync(`${REPO_ROOT}/test/uml/guest`).map((f) => `test/uml/guest/${f}`),
  ];
  assert.deepEqual(
    kernelFiles.filter((f) => !listed.has(f)),
    [],
    'test/uml/suite.ts: add these (or exclude them with a reason)',
  );
  for (const f of GUEST_SUITE_FILES) if (f.excluded !== undefined) assert.ok(f.excluded.length > 10, f.file);
});

guestTests(half(GUEST_SUITE_FILES, 0));
