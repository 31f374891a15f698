// The flag table (src/cmd/flags.ts) against what documents it: the README's flag table documents
// every flag --help lists and names no other, and the defaults --help shows are the default
// configuration's.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { FLAGS } from '../../../src/cmd/flags.ts';
import { newDefaultConfig } from '../../../src/config/defaults.ts';
import { formatDuration } from '../../../src/util/duration.ts';

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

// pflag shows a default unless it is the type's zero value; strings are quoted, addresses not.
function helpDefault(type: string, value: unknown): string | undefined {
  if (value === undefined || value === '' || value === 0 || value === false) return undefined;
  if (Array.isArray(value)) return value.length === 0 ? undefined : `[${value.join(',')}]`;
  if (type === 'duration') return formatDuration(value as number);
  if (type === 'string') return JSON.stringify(value);
  return String(value);
}

test("--help shows each configuration flag's default as the default configuration has it", () => {
  // Where the two differ on purpose: upstream's flag defaults to cbr0 and its config field to ""
  // (the proxy uses cbr0 when it is empty); a zero quantity ("0") is not shown.
  const differ = new Set(['root-hnsendpoint-name', 'log-json-info-buffer-size', 'log-text-info-buffer-size']);
  const config = newDefaultConfig();
  const at = (path: string) =>
    path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], config);
  const wrong = FLAGS.filter((f) => f.field !== undefined && !differ.has(f.name))
    .filter((f) => helpDefault(f.type, at(f.field!)) !== f.defaultText)
    .map((f) => `--${f.name}: help says ${f.defaultText}, config has ${JSON.stringify(at(f.field!))}`);
  assert.deepEqual(wrong, []);
});
