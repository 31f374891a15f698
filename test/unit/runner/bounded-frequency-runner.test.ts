import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BoundedFrequencyRunner } from '../../../src/runner/bounded-frequency-runner.ts';
import { ManualClock } from '../../support/manual-clock.ts';

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const MIN = 1000;
const MAX = 60_000;

/** A runner whose fn records the fake time of every call; `body` may make a call slow or fail. */
function setup(body?: (call: number) => Promise<void> | void, opts: { min?: number; max?: number } = {}) {
  const clock = new ManualClock();
  const calls: number[] = [];
  const errors: unknown[] = [];
  let active = 0;
  let maxActive = 0;
  const runner = new BoundedFrequencyRunner(
    async () => {
      calls.push(clock.now());
      active++;
      maxActive = Math.max(maxActive, active);
      try {
        await body?.(calls.length);
      } finally {
        active--;
      }
    },
    { minIntervalMs: opts.min ?? MIN, maxIntervalMs: opts.max ?? MAX, clock, onError: (e) => errors.push(e) },
  );
  return { clock, runner, calls, errors, maxActive: () => maxActive };
}

describe('BoundedFrequencyRunner', () => {
  test('nothing runs before start(); a run requested before start runs at start', async () => {
    const { clock, runner, calls } = setup();
    runner.run();
    await clock.advance(5000);
    assert.deepEqual(calls, []);
    runner.start();
    await clock.advance(0);
    assert.deepEqual(calls, [5000]);
  });

  test('without requests, the first run is maxInterval after start, then every maxInterval', async () => {
    const { clock, runner, calls } = setup();
    runner.start();
    await clock.advance(MAX - 1);
    assert.deepEqual(calls, []);
    await clock.advance(1);
    assert.deepEqual(calls, [MAX]);
    await clock.advance(2 * MAX);
    assert.deepEqual(calls, [MAX, 2 * MAX, 3 * MAX]);
  });

  test('the first request runs immediately', async () => {
    const { clock, runner, calls } = setup();
    runner.start();
    await clock.advance(10);
    runner.run();
    await clock.advance(0);
    assert.deepEqual(calls, [10]);
  });

  test('requests within minInterval of the last run coalesce into one run at lastRun + minInterval', async () => {
    const { clock, runner, calls } = setup();
    runner.start();
    runner.run();
    await clock.advance(0);
    assert.deepEqual(calls, [0]);
    for (let t = 0; t < 5; t++) {
      await clock.advance(100);
      runner.run();
      runner.run();
    }
    assert.deepEqual(calls, [0], 'no run before minInterval has passed');
    await clock.advance(MIN - 501);
    assert.deepEqual(calls, [0]);
    await clock.advance(1);
    assert.deepEqual(calls, [0, MIN], 'exactly one coalesced run at lastRun + minInterval');
    await clock.advance(MIN * 5);
    assert.deepEqual(calls, [0, MIN], 'no extra runs afterwards');
  });

  test('a request after a quiet period runs at once', async () => {
    const { clock, runner, calls } = setup();
    runner.start();
    runner.run();
    await clock.advance(5000);
    runner.run();
    await clock.advance(0);
    assert.deepEqual(calls, [0, 5000]);
  });

  test('the periodic run is measured from the last run', async () => {
    const { clock, runner, calls } = setup();
    runner.start();
    await clock.advance(20_000);
    runner.run();
    await clock.advance(0);
    await clock.advance(MAX - 1);
    assert.deepEqual(calls, [20_000]);
    await clock.advance(1);
    assert.deepEqual(calls, [20_000, 20_000 + MAX]);
  });

  test('minInterval 0 runs every request right away, but never concurrently', async () => {
    const { clock, runner, calls, maxActive } = setup(undefined, { min: 0 });
    runner.start();
    runner.run();
    await clock.advance(0);
    runner.run();
    await clock.advance(0);
    runner.run();
    await clock.advance(0);
    assert.deepEqual(calls, [0, 0, 0]);
    assert.equal(maxActive(), 1);
  });

  test('run() during an in-flight run schedules exactly one follow-up', async () => {
    const gates: Deferred[] = [];
    const { clock, runner, calls, maxActive } = setup(async () => {
      const d = deferred();
      gates.push(d);
      await d.promise;
    });
    runner.start();
    runner.run();
    await clock.advance(0);
    assert.equal(calls.length, 1);
    // The run is in flight for 300ms; requests meanwhile must not start a second one.
    await clock.advance(100);
    runner.run();
    runner.run();
    await clock.advance(100);
    runner.run();
    await clock.advance(100);
    assert.equal(calls.length, 1, 'no concurrent run');
    gates[0]!.resolve();
    await clock.advance(0);
    assert.equal(calls.length, 1, 'follow-up waits for minInterval from the start of the last run');
    await clock.advance(MIN - 300);
    assert.deepEqual(calls, [0, MIN]);
    gates[1]!.resolve();
    await clock.advance(MAX - 1);
    assert.deepEqual(calls, [0, MIN], 'only one follow-up');
    await clock.advance(1);
    assert.deepEqual(calls, [0, MIN, MIN + MAX], 'then the periodic run');
    gates[2]!.resolve();
    assert.equal(maxActive(), 1);
  });

  test('a follow-up after a run longer than minInterval starts as soon as the run ends', async () => {
    const gates: Deferred[] = [];
    const { clock, runner, calls } = setup(async () => {
      const d = deferred();
      gates.push(d);
      await d.promise;
    });
    runner.start();
    runner.run();
    await clock.advance(0);
    runner.run();
    await clock.advance(3000);
    assert.deepEqual(calls, [0]);
    gates[0]!.resolve();
    await clock.advance(0);
    assert.deepEqual(calls, [0, 3000]);
    gates[1]!.resolve();
    await clock.advance(0);
  });

  test('a failed run is reported and the runner keeps going', async () => {
    const boom = new Error('boom');
    const { clock, runner, calls, errors } = setup((n) => {
      if (n === 1) throw boom;
    });
    runner.start();
    runner.run();
    await clock.advance(0);
    assert.deepEqual(errors, [boom]);
    runner.run();
    await clock.advance(MIN);
    assert.deepEqual(calls, [0, MIN]);
  });

  test('retryAfter() from a failing run retries after the retry interval, not immediately', async () => {
    const RETRY = 30_000;
    let runner!: BoundedFrequencyRunner;
    const s = setup((n) => {
      if (n === 1) {
        runner.retryAfter(RETRY);
        throw new Error('sync failed');
      }
    });
    runner = s.runner;
    runner.start();
    runner.run();
    await s.clock.advance(0);
    assert.deepEqual(s.calls, [0]);
    await s.clock.advance(MIN);
    assert.deepEqual(s.calls, [0], 'no rerun at minInterval');
    await s.clock.advance(RETRY - MIN - 1);
    assert.deepEqual(s.calls, [0]);
    await s.clock.advance(1);
    assert.deepEqual(s.calls, [0, RETRY]);
    await s.clock.advance(MAX - 1);
    assert.deepEqual(s.calls, [0, RETRY], 'a successful retry clears the retry');
    await s.clock.advance(1);
    assert.deepEqual(s.calls, [0, RETRY, RETRY + MAX]);
    assert.equal(s.errors.length, 1);
  });

  test('retryAfter() shorter than minInterval waits for minInterval', async () => {
    let runner!: BoundedFrequencyRunner;
    const s = setup((n) => {
      if (n === 1) runner.retryAfter(100);
    });
    runner = s.runner;
    runner.start();
    runner.run();
    await s.clock.advance(MIN - 1);
    assert.deepEqual(s.calls, [0]);
    await s.clock.advance(1);
    assert.deepEqual(s.calls, [0, MIN]);
  });

  test('a request during a failing run is not delayed by a longer retry', async () => {
    let runner!: BoundedFrequencyRunner;
    const s = setup((n) => {
      if (n === 1) {
        runner.run();
        runner.retryAfter(30_000);
        throw new Error('x');
      }
    });
    runner = s.runner;
    runner.start();
    runner.run();
    await s.clock.advance(MIN);
    assert.deepEqual(s.calls, [0, MIN]);
    await s.clock.advance(30_000);
    assert.deepEqual(s.calls, [0, MIN], 'the retry was satisfied by the follow-up run');
  });

  test('retryAfter() while idle pulls the next run closer', async () => {
    const { clock, runner, calls } = setup();
    runner.start();
    runner.run();
    await clock.advance(0);
    runner.retryAfter(5000);
    await clock.advance(4999);
    assert.deepEqual(calls, [0]);
    await clock.advance(1);
    assert.deepEqual(calls, [0, 5000]);
  });

  test('close() waits for the run in flight and stops all scheduling', async () => {
    const gate = deferred();
    const { clock, runner, calls } = setup(async (n) => {
      if (n === 1) await gate.promise;
    });
    runner.start();
    runner.run();
    await clock.advance(0);
    runner.run(); // would schedule a follow-up
    let closed = false;
    const closing = runner.close().then(() => {
      closed = true;
    });
    await clock.advance(10);
    assert.equal(closed, false, 'close() waits for the in-flight run');
    gate.resolve();
    await closing;
    assert.equal(closed, true);
    assert.equal(clock.pendingTimers, 0, 'no timer left behind');
    runner.run();
    runner.retryAfter(1);
    runner.start();
    await clock.advance(10 * MAX);
    assert.deepEqual(calls, [0], 'nothing runs after close()');
    await runner.close(); // idempotent
  });

  test('close() when idle resolves at once and cancels the periodic timer', async () => {
    const { clock, runner, calls } = setup();
    runner.start();
    assert.equal(clock.pendingTimers, 1);
    await runner.close();
    assert.equal(clock.pendingTimers, 0);
    await clock.advance(2 * MAX);
    assert.deepEqual(calls, []);
  });

  test('start() is idempotent', async () => {
    const { clock, runner, calls } = setup();
    runner.start();
    runner.start();
    assert.equal(clock.pendingTimers, 1);
    assert.equal(clock.nextAt, MAX);
    await clock.advance(MAX);
    assert.deepEqual(calls, [MAX]);
  });
});
