import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { configzBody } from '../../../src/config/configz.ts';
import { newDefaultConfig, platformApplyDefaults } from '../../../src/config/defaults.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { ProxyMetrics } from '../../../src/metrics/metrics.ts';
import { serve } from '../../../src/server/listen.ts';
import { metricsHandler } from '../../../src/server/metrics-server.ts';
import { waitFor } from '../../api/recorder.ts';
import { ManualClock } from '../../support/manual-clock.ts';

describe('metrics server', () => {
  const config = newDefaultConfig();
  platformApplyDefaults(config);
  const metrics = new ProxyMetrics({ mode: 'nftables', processMetrics: true, version: '0.1.0' });
  const server = serve({
    name: 'metrics',
    address: '127.0.0.1:0',
    handler: metricsHandler({ metrics, proxyMode: 'nftables', configz: () => configzBody(config) }),
    logger: silentLogger,
    hardFail: true,
    onFatal: (err) => {
      throw err;
    },
  });
  after(() => server.close());
  const get = async (path: string) => {
    const r = await fetch(`http://127.0.0.1:${await server.listening}${path}`);
    return { status: r.status, type: r.headers.get('content-type'), body: await r.text() };
  };

  test('/metrics: Prometheus text with the kubeproxy metrics and process metrics', async () => {
    const r = await get('/metrics');
    assert.equal(r.status, 200);
    assert.match(r.type!, /^text\/plain; version=0.0.4/);
    assert.match(
      r.body,
      /# HELP kubeproxy_sync_proxy_rules_duration_seconds \[ALPHA\] SyncProxyRules latency in seconds/,
    );
    assert.match(r.body, /# TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram/);
    assert.match(r.body, /\nprocess_start_time_seconds /);
    assert.match(r.body, /kubernetes_build_info\{.*git_version="v0.1.0".*\} 1/);
  });

  test('/proxyMode is the mode as plain text', async () => {
    const r = await get('/proxyMode');
    assert.deepEqual([r.status, r.type, r.body], [200, 'text/plain; charset=utf-8', 'nftables']);
  });

  test('/healthz is the generic "ok" check', async () => {
    assert.deepEqual(await get('/healthz'), { status: 200, type: 'text/plain; charset=utf-8', body: 'ok' });
    assert.match((await get('/healthz?verbose')).body, /\[\+\]ping ok/);
  });

  test('/configz is the configuration as JSON', async () => {
    const r = await get('/configz');
    assert.equal(r.type, 'application/json');
    const body = JSON.parse(r.body);
    assert.equal(body['kubeproxy.config.k8s.io'].Mode, 'iptables');
    assert.equal(body['kubeproxy.config.k8s.io'].MetricsBindAddress, '127.0.0.1:10249');
  });

  test('unknown paths are 404', async () => {
    assert.equal((await get('/nope')).status, 404);
  });
});

describe('listen', () => {
  test('a bind failure is retried, or fatal with bindAddressHardFail', async () => {
    const first = serve({
      name: 'a',
      address: '127.0.0.1:0',
      handler: (_q, s) => s.end(),
      logger: silentLogger,
      hardFail: false,
      onFatal: () => {},
    });
    const port = await first.listening;
    const fatal = await new Promise<Error>((resolve) => {
      serve({
        name: 'b',
        address: `127.0.0.1:${port}`,
        handler: (_q, s) => s.end(),
        logger: silentLogger,
        hardFail: true,
        onFatal: resolve,
      });
    });
    assert.match(fatal.message, /^b server failed: .*EADDRINUSE/);
    const clock = new ManualClock();
    const retrying = serve({
      name: 'c',
      address: `127.0.0.1:${port}`,
      handler: (_q, s) => s.end(),
      logger: silentLogger,
      hardFail: false,
      onFatal: () => assert.fail('not fatal'),
      retryMs: 20,
      clock,
    });
    await waitFor(() => clock.pendingTimers === 1, 2000, 'the first attempt failed, a retry is due');
    await first.close();
    await clock.advance(20);
    assert.equal(await retrying.listening, port);
    await retrying.close();
  });
});
