// main() is importable: importing src/cmd/main.ts starts nothing, and main() answers with an exit code.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { main } from '../../../src/cmd/main.ts';

test('main() refuses an unknown flag with exit code 1 and the usage on stderr', async () => {
  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => {
    written.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    assert.equal(await main(['--no-such-flag']), 1);
  } finally {
    process.stderr.write = write;
  }
  assert.match(written.join(''), /^Error: unknown flag: --no-such-flag\n\nFlags:\n/);
});
