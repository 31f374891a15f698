import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  excerpt,
  LineSplitter,
  LineTooLongError,
  parseWatchLine,
} from '../../../src/sources/kubernetes/framing.ts';

test('lines are reassembled across chunk boundaries; blank lines are skipped', () => {
  const s = new LineSplitter();
  assert.deepEqual(s.push(Buffer.from('{"a":1}\n{"b"')), ['{"a":1}']);
  assert.deepEqual(s.push(Buffer.from(':2}')), []);
  assert.deepEqual(s.push(Buffer.from('\n\n  \n{"c":3}\n{"d":')), ['{"b":2}', '{"c":3}']);
  assert.equal(s.end(), '{"d":');
  assert.equal(s.end(), undefined);
});

test('a UTF-8 sequence split between chunks is decoded whole', () => {
  const bytes = Buffer.from('{"name":"ü€𝄞"}\n', 'utf8');
  for (let cut = 1; cut < bytes.length; cut++) {
    const s = new LineSplitter();
    const out = [...s.push(bytes.subarray(0, cut)), ...s.push(bytes.subarray(cut))];
    assert.deepEqual(out, ['{"name":"ü€𝄞"}'], `cut at ${cut}`);
  }
});

test('every byte in its own chunk still gives the same lines', () => {
  const text = '{"type":"ADDED","object":{}}\n{"type":"BOOKMARK","object":{}}\n';
  const s = new LineSplitter();
  const out: string[] = [];
  for (const b of Buffer.from(text)) out.push(...s.push(Buffer.from([b])));
  assert.deepEqual(out, text.trim().split('\n'));
});

test('a line longer than the limit is an error, not unbounded memory', () => {
  const s = new LineSplitter(10);
  assert.throws(() => s.push('01234567890123'), LineTooLongError);
  assert.deepEqual(s.push('ok\n'), ['ok'], 'the splitter starts afresh after the error');
});

test('parseWatchLine accepts the five event types with an object', () => {
  for (const type of ['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']) {
    const r = parseWatchLine(JSON.stringify({ type, object: { kind: 'X' } }));
    assert.ok(r.ok, type);
    assert.equal(r.ok && r.event.type, type);
  }
});

test('parseWatchLine rejects what is not an event, with a reason', () => {
  const bad = (line: string, re: RegExp) => {
    const r = parseWatchLine(line);
    assert.equal(r.ok, false, line);
    assert.match(r.ok ? '' : r.reason, re);
  };
  bad('{"type":"ADDED","object":{', /invalid JSON/);
  bad('[1,2]', /not a JSON object/);
  bad('{"type":"SYNC","object":{}}', /unknown event type "SYNC"/);
  bad('{"object":{}}', /unknown event type undefined/);
  bad('{"type":"ADDED"}', /ADDED event without an object/);
  bad('{"type":"DELETED","object":"x"}', /without an object/);
});

test('excerpt keeps log lines short and on one line', () => {
  assert.equal(excerpt('a\n  b'), 'a b');
  const long = 'x'.repeat(500);
  assert.match(excerpt(long), /^x{200}… \(500 chars\)$/);
});
