// /debug/explain/ on the metrics server: off unless --debug-explain, loopback peers only unless
// allowed, every query validated (400 with a message), an unknown service 404.
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, describe, test } from 'node:test';
import { KubeProxyError } from '../../../src/errors.ts';
import type { ServiceBeliefs } from '../../../src/explain/service-beliefs.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { ProxyMetrics } from '../../../src/metrics/metrics.ts';
import {
  type ExplainEndpointDeps,
  fromLoopback,
  handleExplain,
} from '../../../src/server/explain-endpoint.ts';
import { serve } from '../../../src/server/listen.ts';
import { metricsHandler } from '../../../src/server/metrics-server.ts';

const BELIEFS: ServiceBeliefs = {
  service: 'demo/web',
  families: [
    { family: 'IPv4', mode: 'nftables', node: { name: 'node-a', zone: '' }, pendingChanges: 0, ports: [] },
  ],
};

function start(explain: ExplainEndpointDeps | undefined) {
  const metrics = new ProxyMetrics({ mode: 'nftables', processMetrics: false, version: '0.1.0' });
  const server = serve({
    name: 'metrics',
    address: '127.0.0.1:0',
    handler: metricsHandler({
      metrics,
      proxyMode: 'nftables',
      configz: () => ({}),
      ...(explain && { explain }),
    }),
    logger: silentLogger,
    hardFail: true,
    onFatal: (err) => {
      throw err;
    },
  });
  after(() => server.close());
  return async (path: string) => {
    const r = await fetch(`http://127.0.0.1:${await server.listening}${path}`);
    return {
      status: r.status,
      body: (await r.json()) as { code?: string; message?: string } & Record<string, unknown>,
    };
  };
}

const asked: string[] = [];
const ENABLED: ExplainEndpointDeps = {
  enabled: true,
  allowRemote: false,
  service: (ns, name) => {
    asked.push(`${ns}/${name}`);
    return ns === 'demo' && name === 'web' ? BELIEFS : undefined;
  },
  packet: async (p) => {
    if (p.from !== '198.18.0.1')
      throw new KubeProxyError('KP_ERR_INVALID_FLAG', '--from must be an IP address');
    return { verdict: 'dnat', to: p.to, proto: p.proto ?? 'tcp' };
  },
};

describe('/debug/explain/ disabled', () => {
  test('without --debug-explain every explain path is 404, saying how to enable it', async () => {
    for (const get of [start(undefined), start({ ...ENABLED, enabled: false })]) {
      const r = await get('/debug/explain/service?name=demo/web');
      assert.equal(r.status, 404);
      assert.equal(r.body.code, 'KP_ERR_EXPLAIN_DISABLED');
      assert.match(r.body.message!, /--debug-explain/);
    }
    assert.deepEqual(asked, []);
  });
});

describe('/debug/explain/ enabled', () => {
  const get = start(ENABLED);

  test('service: the beliefs of a known service', async () => {
    const r = await get('/debug/explain/service?name=demo%2Fweb');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, BELIEFS);
  });

  test('service: an unknown one is 404 KP_ERR_NOT_FOUND', async () => {
    const r = await get('/debug/explain/service?name=demo/nope');
    assert.equal(r.status, 404);
    assert.equal(r.body.code, 'KP_ERR_NOT_FOUND');
    assert.match(r.body.message!, /demo\/nope/);
  });

  test('bad queries are 400 with a clear message, and never reach the proxier', async () => {
    const before = asked.length;
    for (const [q, msg] of [
      ['', /name must be NAMESPACE\/NAME/],
      ['?name=web', /name must be NAMESPACE\/NAME/],
      ['?name=demo/web/x', /name must be NAMESPACE\/NAME/],
      ['?name=Demo/web', /name must be NAMESPACE\/NAME/],
      ['?name=demo/we%3Bb', /name must be NAMESPACE\/NAME/],
      ['?name=demo/web&name=demo/x', /given more than once/],
      ['?name=demo/web&verbose=1', /unknown query parameter "verbose"/],
    ] as const) {
      const r = await get(`/debug/explain/service${q}`);
      assert.equal(r.status, 400, q);
      assert.equal(r.body.code, 'KP_ERR_INVALID_QUERY');
      assert.match(r.body.message!, msg, q);
    }
    assert.equal(asked.length, before);
  });

  test('packet: the report, or 400 for what the packet parser refuses', async () => {
    const ok = await get('/debug/explain/packet?from=198.18.0.1&to=198.19.16.10:80&proto=udp');
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body, { verdict: 'dnat', to: '198.19.16.10:80', proto: 'udp' });
    const bad = await get('/debug/explain/packet?from=x&to=198.19.16.10:80');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.message, 'from must be an IP address');
    const extra = await get('/debug/explain/packet?from=198.18.0.1&to=198.19.16.10:80&dport=1');
    assert.equal(extra.status, 400);
  });

  test('an unknown explain path is 404', async () => {
    const r = await get('/debug/explain/node');
    assert.equal(r.status, 404);
    assert.equal(r.body.code, 'KP_ERR_NOT_FOUND');
  });
});

describe('/debug/explain/ peers', () => {
  function call(deps: ExplainEndpointDeps, remoteAddress: string) {
    let status = 0;
    let body = '';
    const req = { method: 'GET', socket: { remoteAddress } } as unknown as IncomingMessage;
    const res = {
      writeHead: (s: number) => {
        status = s;
      },
      setHeader: () => {},
      end: (b: string) => {
        body = b;
      },
    } as unknown as ServerResponse;
    handleExplain(deps, req, res, new URL('http://x/debug/explain/service?name=demo/web'));
    return { status, body: JSON.parse(body) as { code: string } };
  }

  test('a peer that is not loopback is refused (403) unless remote peers are allowed', () => {
    for (const peer of ['198.18.0.5', '::ffff:198.18.0.5', 'fd00::5']) {
      const r = call(ENABLED, peer);
      assert.equal(r.status, 403, peer);
      assert.equal(r.body.code, 'KP_ERR_FORBIDDEN');
      assert.equal(call({ ...ENABLED, allowRemote: true }, peer).status, 200, peer);
    }
    for (const peer of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1'])
      assert.equal(call(ENABLED, peer).status, 200, peer);
  });

  test('fromLoopback', () => {
    assert.equal(fromLoopback(undefined), false);
    assert.equal(fromLoopback('not an address'), false);
    assert.equal(fromLoopback('::ffff:127.0.0.1'), true);
    assert.equal(fromLoopback('::ffff:198.18.0.1'), false);
  });
});
