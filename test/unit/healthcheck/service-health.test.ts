// Health-check node port servers and the proxy health they report, over real HTTP on loopback.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { ProxyHealthTracker } from '../../../src/healthcheck/proxy-health.ts';
import { ServiceHealthServer, serviceHealthBody } from '../../../src/healthcheck/service-health.ts';
import { silentLogger } from '../../../src/log/logger.ts';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test('proxy health: a queued update turns unhealthy only after the timeout', () => {
  let now = 1_000_000;
  const h = new ProxyHealthTracker(60_000, { date: () => new Date(now) });
  assert.equal(h.isHealthy(), true, 'healthy before any sync');
  h.updated('IPv4');
  h.queuedUpdate('IPv4');
  now += 59_000;
  assert.equal(h.isHealthy(), true);
  h.queuedUpdate('IPv4'); // a later queued update does not reset the oldest one
  now += 2_000;
  assert.equal(h.isHealthy(), false);
  assert.equal(h.health().status.IPv4?.healthy, false);
  h.updated('IPv4');
  assert.equal(h.isHealthy(), true);
  assert.equal(h.health().lastUpdated.getTime(), now);
});

test('health-check node port answers with upstream body, headers and codes', async () => {
  let healthy = true;
  const server = new ServiceHealthServer({
    logger: silentLogger,
    addresses: () => ['127.0.0.1'],
    proxyHealthy: () => healthy,
  });
  const port = await freePort();
  try {
    await server.syncServices(new Map([['ns1/svc1', port]]));
    const get = async () => {
      const r = await fetch(`http://127.0.0.1:${port}/any/path`);
      return { status: r.status, body: await r.text(), headers: r.headers };
    };
    let r = await get();
    assert.equal(r.status, 503, 'no local endpoints yet');
    assert.equal(r.body, serviceHealthBody('ns1', 'svc1', 0, true));
    assert.equal(r.headers.get('content-type'), 'application/json');
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(r.headers.get('x-load-balancing-endpoint-weight'), '0');

    server.syncEndpoints(
      new Map([
        ['ns1/svc1', 2],
        ['ns9/other', 5],
      ]),
    );
    r = await get();
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-load-balancing-endpoint-weight'), '2');
    assert.equal(
      r.body,
      '{\n\t"service": {\n\t\t"namespace": "ns1",\n\t\t"name": "svc1"\n\t},\n\t"localEndpoints": 2,\n\t"serviceProxyHealthy": true\n}',
    );

    healthy = false;
    r = await get();
    assert.equal(r.status, 503, 'unhealthy proxy');
    assert.match(r.body, /"serviceProxyHealthy": false/);

    await server.syncServices(new Map());
    await assert.rejects(get(), 'the server is closed when the service goes away');
  } finally {
    await server.close();
  }
});

test('a busy health-check port is logged, not fatal', async () => {
  const port = await freePort();
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', r));
  const lines: string[] = [];
  const { createLogger } = await import('../../../src/log/logger.ts');
  const server = new ServiceHealthServer({
    logger: createLogger({ verbosity: 0, sink: (l) => lines.push(l) }),
    addresses: () => ['127.0.0.1'],
    proxyHealthy: () => true,
  });
  try {
    await server.syncServices(new Map([['ns1/svc1', port]]));
    assert.equal(lines.filter((l) => l.includes('Failed to start healthcheck')).length, 1);
  } finally {
    await server.close();
    await new Promise<void>((r) => blocker.close(() => r()));
  }
});
