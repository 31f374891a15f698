// Golden-file comparison; UPDATE_GOLDEN=1 rewrites the files instead of comparing.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';

export function assertGolden(path: URL, actual: string): void {
  if (process.env.UPDATE_GOLDEN === '1') {
    writeFileSync(path, actual);
    return;
  }
  let expected: string;
  try {
    expected = readFileSync(path, 'utf8');
  } catch {
    assert.fail(`golden file ${path.pathname} is missing; run with UPDATE_GOLDEN=1 to create it`);
  }
  assert.equal(
    actual,
    expected,
    `output differs from ${path.pathname} (UPDATE_GOLDEN=1 rewrites it after review)`,
  );
}
