import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff, watchTimeoutSeconds } from '../../../src/sources/kubernetes/backoff.ts';

function clock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

test('base doubles from 800 ms to the 30 s cap (no jitter at random()=0)', () => {
  const c = clock();
  const b = new Backoff({ random: () => 0, clock: c });
  const seq = Array.from({ length: 9 }, () => b.next());
  assert.deepEqual(seq, [800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000]);
});

test('jitter adds up to 100% on top of the base, as client-go (jitter 1.0)', () => {
  const c = clock();
  const b = new Backoff({ random: () => 0.999, clock: c });
  const first = b.next();
  assert.ok(first >= 800 && first < 1600, String(first));
  for (let i = 0; i < 10; i++) b.next();
  const atCap = b.next();
  assert.ok(atCap >= 30_000 && atCap < 60_000, String(atCap));
  const half = new Backoff({ random: () => 0.5, clock: c });
  assert.equal(half.next(), 1200);
});

test('reset after 2 minutes without a backoff (a healthy connection)', () => {
  const c = clock();
  const b = new Backoff({ random: () => 0, clock: c });
  b.next();
  b.next();
  c.advance(119_000);
  assert.equal(b.next(), 3200, 'within 2 min the sequence continues');
  c.advance(120_001);
  assert.equal(b.next(), 800, 'after 2 min quiet it starts over');
  b.reset();
  assert.equal(b.next(), 800);
});

test('watch timeoutSeconds is drawn from [300, 600)', () => {
  assert.equal(
    watchTimeoutSeconds(() => 0),
    300,
  );
  assert.equal(
    watchTimeoutSeconds(() => 0.5),
    450,
  );
  assert.equal(
    watchTimeoutSeconds(() => 0.9999),
    599,
  );
  for (let i = 0; i < 100; i++) {
    const s = watchTimeoutSeconds();
    assert.ok(Number.isInteger(s) && s >= 300 && s < 600, String(s));
  }
  assert.equal(
    watchTimeoutSeconds(() => 0.5, 10),
    15,
  );
});
