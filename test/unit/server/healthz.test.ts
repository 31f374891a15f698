import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { ProxyHealthTracker } from '../../../src/healthcheck/proxy-health.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { ProxyMetrics } from '../../../src/metrics/metrics.ts';
import { newSyncObserver } from '../../../src/metrics/sync-observer.ts';
import type { Node } from '../../../src/model/k8s.ts';
import { healthzHandler } from '../../../src/server/healthz-server.ts';
import { serve } from '../../../src/server/listen.ts';
import { NodeEligibility } from '../../../src/server/node-eligibility.ts';

const SYNC_PERIOD_MS = 30_000;
const T0 = Date.parse('2025-11-26T07:00:00Z');

function setup() {
  let now = T0;
  const tracker = new ProxyHealthTracker(2 * SYNC_PERIOD_MS, { date: () => new Date(now) });
  const metrics = new ProxyMetrics({ mode: 'nftables' });
  const eligibility = new NodeEligibility('node-a');
  const observer = newSyncObserver({ health: tracker, metrics, clock: { date: () => new Date(now) } });
  const server = serve({
    name: 'healthz',
    address: '127.0.0.1:0',
    handler: healthzHandler({ tracker, eligibility, metrics, clock: { date: () => new Date(now) } }),
    logger: silentLogger,
    hardFail: true,
    onFatal: (err) => {
      throw err;
    },
  });
  const get = async (path: string) => {
    const port = await server.listening;
    const r = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: r.status, headers: r.headers, body: await r.text() };
  };
  return { tracker, metrics, eligibility, observer, server, get, advance: (ms: number) => (now += ms) };
}

const stats = {
  full: true,
  durationMs: 5,
  servicePorts: 1,
  endpoints: 1,
  operations: 3,
  lastChangeTriggerTimes: new Map(),
  noLocalEndpoints: { internal: 0, external: 0 },
};

describe('proxy health server (/healthz, /livez)', () => {
  const env = setup();
  after(() => env.server.close());

  test('healthy while starting up: 200, upstream JSON body and headers', async () => {
    const r = await env.get('/healthz');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/json');
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.deepEqual(JSON.parse(r.body), {
      lastUpdated: '2025-11-26T07:00:00Z',
      currentTime: '2025-11-26T07:00:00Z',
      nodeEligible: true,
      healthy: true,
      status: {},
    });
  });

  test('across a failed sync: healthy until the queued update is 2 × syncPeriod old, then 503', async () => {
    env.observer.queued!('IPv4');
    env.observer.synced!('IPv4', stats);
    env.advance(1000);
    env.observer.queued!('IPv4');
    env.observer.failed!('IPv4', new Error('nft: exit 1'), 5, { full: true, mode: 'nftables' });
    env.advance(2 * SYNC_PERIOD_MS - 1);
    assert.equal((await env.get('/healthz')).status, 200, 'not late yet');
    env.advance(1);
    const h = await env.get('/healthz');
    assert.equal(h.status, 503);
    const body = JSON.parse(h.body);
    assert.equal(body.healthy, false);
    assert.equal(body.lastUpdated, '2025-11-26T07:00:00Z', 'the last successful sync');
    assert.equal(body.currentTime, '2025-11-26T07:01:01Z');
    assert.deepEqual(body.status, { IPv4: { lastUpdated: '2025-11-26T07:00:00Z', healthy: false } });
    const l = await env.get('/livez');
    assert.equal(l.status, 503);
    assert.equal('nodeEligible' in JSON.parse(l.body), false);
    // The retry succeeds: healthy again, lastUpdated is now.
    env.advance(500);
    env.observer.synced!('IPv4', stats);
    const ok = JSON.parse((await env.get('/healthz')).body);
    assert.equal(ok.healthy, true);
    assert.equal(ok.lastUpdated, '2025-11-26T07:01:01.5Z');
  });

  test('node eligibility: a deleting or autoscaler-tainted node fails /healthz but not /livez', async () => {
    const node = (extra: object): Node => ({ metadata: { name: 'node-a' }, ...extra }) as Node;
    env.eligibility.onNode(
      node({ spec: { taints: [{ key: 'ToBeDeletedByClusterAutoscaler', effect: 'NoSchedule' }] } }),
    );
    let r = await env.get('/healthz');
    assert.equal(r.status, 503);
    assert.equal(JSON.parse(r.body).nodeEligible, false);
    assert.equal((await env.get('/livez')).status, 200);
    env.eligibility.onNode(node({}));
    assert.equal((await env.get('/healthz')).status, 200);
    env.eligibility.onNode({
      metadata: { name: 'node-b', deletionTimestamp: '2025-11-26T07:00:00Z' },
    } as Node);
    assert.equal((await env.get('/healthz')).status, 200, 'other nodes do not count');
    env.eligibility.onNode({
      metadata: { name: 'node-a', deletionTimestamp: '2025-11-26T07:00:00Z' },
    } as Node);
    assert.equal((await env.get('/healthz')).status, 503);
    env.eligibility.onNode(node({}));
    env.eligibility.onNodeDelete(node({}));
    r = await env.get('/healthz');
    assert.equal(r.status, 503);
  });

  test('other paths are 404; every answer is counted by code', async () => {
    const r = await env.get('/metrics');
    assert.equal(r.status, 404);
    assert.equal(r.body, '404 page not found\n');
    const text = await env.metrics.render();
    assert.match(text, /kubeproxy_proxy_healthz_total\{code="200"\} \d+/);
    assert.match(text, /kubeproxy_proxy_healthz_total\{code="503"\} \d+/);
    assert.match(text, /kubeproxy_proxy_livez_total\{code="503"\} 1/);
  });
});
