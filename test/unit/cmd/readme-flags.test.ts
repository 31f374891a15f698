// The README's flag table is checked against the flag table (src/cmd/flags.ts): every flag --help
// lists is documented, and the README names no flag that does not exist.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { FLAGS } from '../../../src/cmd/flags.ts';

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
const from = readme.indexOf('### Flags');
const section = readme.slice(from, readme.indexOf('\n## ', from));
/** The flags named in the first cell of each table row; `--conntrack-*` stands for a prefix. */
const named = section
  .split('\n')
  .filter((l) => l.startsWith('| `-'))
  .flatMap((row) =>
    [...row.split(/(?<!\\)\|/)[1]!.matchAll(/`(-{1,2}[a-z][a-z0-9-]*\*?)/g)].map((m) => m[1]!),
  );

function documents(flag: string): boolean {
  return named.some((n) =>
    n.endsWith('*') ? `--${flag}`.startsWith(n.slice(0, -1)) : n.replace(/^-+/, '') === flag,
  );
}

test('the README flag table documents every flag --help lists', () => {
  const listed = FLAGS.filter((f) => f.deprecated === undefined).map((f) => f.name);
  assert.deepEqual(
    listed.filter((name) => !documents(name)),
    [],
  );
});

test('the README flag table names only flags that exist', () => {
  const names = new Set(FLAGS.map((f) => f.name));
  assert.deepEqual(
    named.filter((n) => !n.endsWith('*') && !names.has(n.replace(/^-+/, ''))),
    [],
  );
  for (const prefix of named.filter((n) => n.endsWith('*')))
    assert.ok(
      FLAGS.some((f) => `--${f.name}`.startsWith(prefix.slice(0, -1))),
      prefix,
    );
});
