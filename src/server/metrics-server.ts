// The metrics server (upstream serveMetrics), default 127.0.0.1:10249: /metrics, /healthz (the
// generic "ok" check), /proxyMode, /configz and /metrics/slis.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ProxyMetrics } from '../metrics/metrics.ts';
import { EXPLAIN_PREFIX, type ExplainEndpointDeps, handleExplain } from './explain-endpoint.ts';
import { notFound } from './healthz-server.ts';

export interface MetricsServerDeps {
  readonly metrics: ProxyMetrics;
  readonly proxyMode: string;
  /** The /configz body. */
  readonly configz: () => unknown;
  /** /debug/explain/…; absent: the endpoints are off (404). */
  readonly explain?: ExplainEndpointDeps;
}

const TEXT = { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' };

export function metricsHandler(deps: MetricsServerDeps) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname.startsWith(EXPLAIN_PREFIX)) {
      handleExplain(
        deps.explain ?? { enabled: false, allowRemote: false, service: () => undefined },
        req,
        res,
        url,
      );
      return;
    }
    switch (url.pathname) {
      case '/metrics':
        deps.metrics.render().then(
          (text) => {
            res.writeHead(200, { 'Content-Type': deps.metrics.contentType });
            res.end(text);
          },
          (err: Error) => {
            res.writeHead(500, TEXT);
            res.end(`error gathering metrics: ${err.message}\n`);
          },
        );
        return;
      case '/healthz':
      case '/healthz/ping':
        res.writeHead(200, TEXT);
        res.end(url.searchParams.has('verbose') ? '[+]ping ok\nhealthz check passed\n' : 'ok');
        return;
      case '/metrics/slis':
        res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
        res.end(
          '# HELP kubernetes_healthcheck [STABLE] This metric records the result of a single healthcheck.\n' +
            '# TYPE kubernetes_healthcheck gauge\nkubernetes_healthcheck{name="ping",type="healthz"} 1\n',
        );
        return;
      case '/proxyMode':
        res.writeHead(200, TEXT);
        res.end(deps.proxyMode);
        return;
      case '/configz':
        res.writeHead(200, { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff' });
        res.end(JSON.stringify(deps.configz()));
        return;
      default:
        notFound(res);
    }
  };
}
