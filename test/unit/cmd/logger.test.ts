import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogger, type LogFormat } from '../../../src/log/logger.ts';

const NOW = new Date('2025-11-26T07:14:21.123Z');

function collect(verbosity: number, format: LogFormat = 'text') {
  const lines: string[] = [];
  const logger = createLogger({ verbosity, format, sink: (l) => lines.push(l), clock: { date: () => NOW } });
  return { logger, lines };
}

// klog: Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg
const KLOG = /^([IWE])(\d{4}) (\d{2}:\d{2}:\d{2}\.\d{6}) +(\d+) ([^\]\s]+)\] (.*)$/;

describe('logger: klog text format', () => {
  test('line shape', () => {
    const { logger, lines } = collect(0);
    logger.info('Starting', { ipFamily: 'IPv4', count: 3, ok: true });
    assert.equal(lines.length, 1);
    const m = KLOG.exec(lines[0]!);
    assert.ok(m, lines[0]);
    assert.equal(m[1], 'I');
    assert.equal(m[2], '1126');
    assert.equal(m[3], '07:14:21.123000');
    assert.equal(Number(m[4]), process.pid);
    assert.equal(m[5], 'kube-proxy-ts');
    assert.equal(m[6], '"Starting" ipFamily="IPv4" count=3 ok=true');
    // The pid column is right-aligned in 7 characters, as klog pads its thread id.
    assert.ok(lines[0]!.includes(` ${String(process.pid).padStart(7, ' ')} `));
  });

  test('severity letters', () => {
    const { logger, lines } = collect(0);
    logger.info('a');
    logger.warn('b');
    logger.error('c');
    assert.deepEqual(
      lines.map((l) => l[0]),
      ['I', 'W', 'E'],
    );
  });

  test('values: strings quoted, errors as their message, nil, objects as JSON', () => {
    const { logger, lines } = collect(0);
    logger.error('Sync failed', {
      err: new Error('nft: exit 1'),
      missing: undefined,
      none: null,
      obj: { a: [1, 2] },
      big: 10n,
    });
    assert.match(
      lines[0]!,
      /\] "Sync failed" err="nft: exit 1" missing=<nil> none=<nil> obj=\{"a":\[1,2\]\} big=10$/,
    );
  });

  test('newlines and quotes cannot break the one-line format', () => {
    const { logger, lines } = collect(0);
    logger.info('line1\nline2 "q"', { k: 'v\nE0101 forged] "x"' });
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.includes('\n'), false);
    assert.ok(lines[0]!.endsWith('] "line1\\nline2 \\"q\\"" k="v\\nE0101 forged] \\"x\\""'), lines[0]);
  });

  test('withName sets the name column', () => {
    const { logger, lines } = collect(0);
    logger.withName('proxier').info('x');
    assert.match(lines[0]!, / proxier\] "x"$/);
  });
});

describe('logger: -v gating', () => {
  const cases: [verbosity: number, levels: number[]][] = [
    [0, [0]],
    [2, [0, 1, 2]],
    [4, [0, 1, 2, 3, 4]],
    [-1, []],
  ];
  for (const [verbosity, levels] of cases) {
    test(`-v=${verbosity} logs V(${levels.join(',')})`, () => {
      const { logger, lines } = collect(verbosity);
      for (let l = 0; l <= 5; l++) logger.v(l, `level ${l}`);
      assert.deepEqual(
        lines.map((x) => Number(/"level (\d)"/.exec(x)![1])),
        levels,
      );
      for (let l = 0; l <= 5; l++) assert.equal(logger.enabled(l), levels.includes(l), `enabled(${l})`);
    });
  }

  test('info, warn and error are never gated by -v', () => {
    const { logger, lines } = collect(0);
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    assert.equal(lines.length, 3);
  });

  test('a child logger keeps the verbosity', () => {
    const { logger, lines } = collect(2);
    const child = logger.withName('c');
    child.v(2, 'yes');
    child.v(3, 'no');
    assert.equal(lines.length, 1);
    assert.equal(child.enabled(2), true);
    assert.equal(child.enabled(3), false);
  });
});

describe('logger: json format', () => {
  test('records carry ts, caller, msg, v and the key/values', () => {
    const { logger, lines } = collect(4, 'json');
    logger.v(3, 'Syncing', { ipFamily: 'IPv6', n: 2 });
    const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.deepEqual(rec, {
      ts: NOW.getTime() / 1000,
      caller: 'kube-proxy-ts',
      msg: 'Syncing',
      v: 3,
      ipFamily: 'IPv6',
      n: 2,
    });
  });

  test('errors have no v, and err is the message', () => {
    const { logger, lines } = collect(0, 'json');
    logger.error('Sync failed', { err: new Error('boom'), big: 5n });
    const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal('v' in rec, false);
    assert.equal(rec.err, 'boom');
    assert.equal(rec.big, '5');
    assert.equal(rec.msg, 'Sync failed');
  });

  test('json output is one line per record and gated by -v', () => {
    const { logger, lines } = collect(1, 'json');
    logger.info('a\nb');
    logger.v(2, 'hidden');
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.includes('\n'), false);
    assert.equal((JSON.parse(lines[0]!) as { msg: string }).msg, 'a\nb');
  });
});
