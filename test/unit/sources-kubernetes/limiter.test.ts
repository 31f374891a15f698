import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  createLimiter,
  effectiveRate,
  TokenBucket,
  UNLIMITED,
} from '../../../src/sources/kubernetes/limiter.ts';
import { sleep } from '../../../src/util/clock.ts';
import { ManualClock } from '../../support/manual-clock.ts';

test('client-go defaults: qps 0 -> 5, burst 0 -> 10, negative qps disables limiting', () => {
  assert.deepEqual(effectiveRate(0, 0), { qps: 5, burst: 10 });
  assert.deepEqual(effectiveRate(50, 100), { qps: 50, burst: 100 });
  assert.deepEqual(effectiveRate(2.5, 1.7), { qps: 2.5, burst: 1 });
  assert.equal(effectiveRate(-1, 10), undefined);
  assert.equal(createLimiter(-1, 10), UNLIMITED);
});

test('a full bucket lets `burst` requests through at once, then one per 1/qps', () => {
  let t = 0;
  const b = new TokenBucket({ qps: 5, burst: 10, clock: { now: () => t } });
  for (let i = 0; i < 10; i++) assert.equal(b.reserve(), 0);
  assert.equal(b.reserve(), 200);
  assert.equal(b.reserve(), 400, 'waiters queue behind each other');
  t += 400;
  assert.equal(b.reserve(), 200);
});

test('the bucket refills at qps and never beyond burst', () => {
  let t = 0;
  const b = new TokenBucket({ qps: 10, burst: 3, clock: { now: () => t } });
  for (let i = 0; i < 3; i++) b.reserve();
  assert.equal(b.available(), 0);
  t += 150;
  assert.ok(Math.abs(b.available() - 1.5) < 1e-9);
  t += 60_000;
  assert.equal(b.available(), 3);
});

test('invalid rates are rejected', () => {
  assert.throws(() => new TokenBucket({ qps: 0, burst: 1 }), RangeError);
  assert.throws(() => new TokenBucket({ qps: 1, burst: 0 }), RangeError);
});

test('the limiter waits on its clock and can be aborted', async () => {
  const clock = new ManualClock();
  const limiter = createLimiter(20, 1, clock);
  const done: number[] = [];
  const waits = [0, 1, 2].map((i) => limiter.wait().then(() => done.push(i)));
  await clock.advance(0);
  assert.deepEqual(done, [0], 'the burst of one goes at once');
  await clock.advance(49);
  assert.deepEqual(done, [0]);
  await clock.advance(1);
  assert.deepEqual(done, [0, 1], 'the next one 50 ms later (qps 20)');
  await clock.advance(50);
  assert.deepEqual(done, [0, 1, 2]);
  await Promise.all(waits);
  const ac = new AbortController();
  const p = limiter.wait(ac.signal);
  ac.abort(new Error('stop'));
  await assert.rejects(p, /stop/);
  await assert.rejects(sleep(10, AbortSignal.abort(new Error('gone'))), /gone/);
});
