import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatDuration, parseDuration } from '../../../src/util/duration.ts';

describe('parseDuration (Go time.ParseDuration)', () => {
  const valid: [string, number][] = [
    ['0', 0],
    ['-0', 0],
    ['+0', 0],
    ['0s', 0],
    ['1s', 1000],
    ['+5s', 5000],
    ['-5s', -5000],
    ['100ms', 100],
    ['1.5s', 1500],
    ['.5s', 500],
    ['5.s', 5000],
    ['1m', 60_000],
    ['2h22m', 2 * 3_600_000 + 22 * 60_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['1h0m0s', 3_600_000],
    ['-1m30s', -90_000],
    ['1m1m', 120_000], // Go sums repeated units
    ['1ms1s', 1001], // any unit order
    ['1000000ns', 1],
    ['1000us', 1],
    ['1000µs', 1], // U+00B5
    ['1000μs', 1], // U+03BC
    ['30s', 30_000],
  ];
  for (const [s, ms] of valid) {
    test(`${JSON.stringify(s)} = ${ms}ms`, () => {
      const got = parseDuration(s);
      assert.ok(got !== undefined, `expected ${s} to parse`);
      assert.ok(Math.abs(got - ms) < 1e-9, `${s}: got ${got}, want ${ms}`);
    });
  }

  const invalid = [
    '',
    '1',
    '10',
    '-',
    '+',
    '.',
    '.s',
    's',
    '1 s',
    ' 1s',
    '1s ',
    '1S',
    '1sec',
    '1d',
    '1e3s',
    '1.2.3s',
    '--1s',
    '1s-1s',
    '0x10s',
    '1,5s',
    'abc',
  ];
  for (const s of invalid) {
    test(`rejects ${JSON.stringify(s)}`, () => assert.equal(parseDuration(s), undefined));
  }
});

describe('formatDuration (Go Duration.String)', () => {
  const cases: [number, string][] = [
    [0, '0s'],
    [100, '100ms'],
    [1000, '1s'],
    [1500, '1.5s'],
    [30_000, '30s'],
    [90_000, '1m30s'],
    [60_000, '1m0s'],
    [3_600_000, '1h0m0s'],
    [2 * 3_600_000 + 22 * 60_000, '2h22m0s'],
    [3_600_000 + 500, '1h0m0.5s'],
    [-1000, '-1s'],
    [-90_000, '-1m30s'],
  ];
  for (const [ms, s] of cases) {
    test(`${ms}ms -> ${s}`, () => assert.equal(formatDuration(ms), s));
  }

  test('round-trips through parseDuration', () => {
    for (const ms of [1000, 1500, 90_000, 3_600_000, 7_384_500])
      assert.equal(parseDuration(formatDuration(ms)), ms);
  });
});
