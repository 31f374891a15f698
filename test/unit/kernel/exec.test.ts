// ProcessExecer: a run that outlives its timeout (on the clock) is killed and fails with a code.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KubeProxyError } from '../../../src/errors.ts';
import { ProcessExecer } from '../../../src/kernel/exec.ts';
import { waitFor } from '../../api/recorder.ts';
import { ManualClock } from '../../support/manual-clock.ts';

test('a run that outlives its timeout is killed and fails with KP_ERR_EXEC_TIMEOUT', async () => {
  const clock = new ManualClock();
  const run = new ProcessExecer(clock).run('sleep', ['30'], { timeoutMs: 5000 });
  const outcome = run.then(
    () => 'resolved',
    (e: unknown) => e,
  );
  await waitFor(() => clock.pendingTimers === 1, 2000, 'the timeout armed');
  await clock.advance(4999);
  assert.equal(clock.pendingTimers, 1, 'not before the timeout');
  await clock.advance(1);
  const err = await outcome;
  assert.ok(err instanceof KubeProxyError, String(err));
  assert.equal(err.code, 'KP_ERR_EXEC_TIMEOUT');
  assert.equal(err.message, 'sleep timed out after 5000 ms');
});

test('a run that ends in time resolves with its exit code and output', async () => {
  const clock = new ManualClock();
  const r = await new ProcessExecer(clock).run('sh', ['-c', 'echo out; echo err >&2; exit 3']);
  assert.deepEqual(r, { code: 3, stdout: 'out\n', stderr: 'err\n' });
  assert.equal(clock.pendingTimers, 0, 'the timeout is cleared');
});
