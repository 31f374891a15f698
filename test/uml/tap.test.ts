// parseTap() on what node:test's TAP reporter really prints: a generated test file with passing,
// failing, skipped and nested tests runs in a child `node --test`, and its output is parsed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseTap } from './tap.ts';

const FIXTURE = `
import assert from 'node:assert/strict';
import { test } from 'node:test';
test('passes', (t) => { t.diagnostic('said by a test'); });
test('fails # with a hash', () => { assert.equal(1, 2, 'one is not two'); });
test('skips', (t) => { t.skip('no kernel here'); });
test('parent', async (t) => {
  await t.test('child passes', (c) => { c.diagnostic('two\\nlines'); });
  await t.test('child fails', () => { throw new Error('line one\\nline two'); });
});
`;

test('parseTap reads counts, failing leaves with their errors, and skips from a real TAP run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kpts-tap-'));
  try {
    const file = join(dir, 'fixture.test.mjs');
    writeFileSync(file, FIXTURE);
    // Without NODE_TEST_CONTEXT, which would make the child report to this runner instead of printing TAP.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', file], {
      encoding: 'utf8',
      env,
      timeout: 60_000,
    });
    const tap = parseTap(r.stdout);
    assert.deepEqual(tap.counts, { tests: 6, pass: 2, fail: 3, skipped: 1, cancelled: 0, todo: 0 }, r.stdout);
    assert.deepEqual(
      tap.failures.map((f) => f.name),
      ['fails # with a hash', 'parent > child fails'],
    );
    assert.match(tap.failures[0]!.detail, /one is not two/);
    assert.match(tap.failures[1]!.detail, /^line one\nline two/);
    assert.deepEqual(tap.skips, [{ name: 'skips', detail: 'no kernel here' }]);
    assert.deepEqual(tap.diagnostics, ['said by a test', 'two\nlines']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('parseTap: output cut short (a killed guest) has no counts', () => {
  const tap = parseTap('TAP version 13\n# Subtest: slow\n');
  assert.equal(tap.counts, null);
  assert.deepEqual(tap.failures, []);
});
