import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../../../src/log/logger.ts';
import { ApiStatusError } from '../../../src/sources/kubernetes/api-client.ts';
import {
  eventName,
  microTime,
  recordStartingEvent,
  startingCoreEvent,
  startingEvent,
} from '../../../src/sources/kubernetes/events.ts';

const t = new Date('2026-11-26T09:38:00.123Z');

test('MicroTime has six fractional digits; names are <node>.<unix nanos hex>', () => {
  assert.equal(microTime(t), '2026-11-26T09:38:00.123000Z');
  assert.equal(eventName('node-a', t), `node-a.${(BigInt(t.getTime()) * 1_000_000n).toString(16)}`);
});

test('the Starting event matches upstream birthCry (events.k8s.io/v1)', () => {
  assert.deepEqual(startingEvent('node-a', 'host-1', t), {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: { name: eventName('node-a', t), namespace: 'default' },
    eventTime: '2026-11-26T09:38:00.123000Z',
    reportingController: 'kube-proxy',
    reportingInstance: 'kube-proxy-host-1',
    action: 'StartKubeProxy',
    reason: 'Starting',
    type: 'Normal',
    note: '',
    regarding: { apiVersion: 'v1', kind: 'Node', name: 'node-a' },
  });
  const core = startingCoreEvent('node-a', 'host-1', t);
  assert.equal(core.reason, 'Starting');
  assert.deepEqual(core.involvedObject, { apiVersion: 'v1', kind: 'Node', name: 'node-a' });
  assert.equal(core.firstTimestamp, '2026-11-26T09:38:00Z');
});

test('recording falls back to core v1 Events when events.k8s.io is not served, and retries errors', async () => {
  const calls: string[] = [];
  let failures = 1;
  const client = {
    postJson: async (path: string) => {
      calls.push(path);
      if (path.startsWith('/apis/')) throw new ApiStatusError(404, 'NotFound', 'not found');
      if (failures-- > 0) throw new Error('connection refused');
      return {};
    },
  };
  const ok = await recordStartingEvent({
    client,
    nodeName: 'node-a',
    hostname: 'h',
    logger: silentLogger,
    signal: new AbortController().signal,
    retryDelayMs: 1,
  });
  assert.equal(ok, true);
  assert.deepEqual(calls, [
    '/apis/events.k8s.io/v1/namespaces/default/events',
    '/api/v1/namespaces/default/events',
    '/api/v1/namespaces/default/events',
  ]);
});

test('a forbidden event is not retried', async () => {
  let n = 0;
  const ok = await recordStartingEvent({
    client: {
      postJson: async () => {
        n++;
        throw new ApiStatusError(403, 'Forbidden', 'no');
      },
    },
    nodeName: 'node-a',
    hostname: 'h',
    logger: silentLogger,
    signal: new AbortController().signal,
    retryDelayMs: 1,
  });
  assert.equal(ok, false);
  assert.equal(n, 1);
});
