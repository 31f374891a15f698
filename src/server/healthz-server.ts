// The proxy health server (upstream pkg/proxy/healthcheck/proxy_health.go), default 0.0.0.0:10256:
// /healthz is 200 only when every IP family is healthy and the node is eligible, /livez ignores
// node eligibility. Healthy means no queued update older than 2 × syncPeriod. The JSON body has
// lastUpdated (now when healthy), currentTime, nodeEligible (/healthz only), healthy and per-family
// status; each answer is counted in kubeproxy_proxy_{healthz,livez}_total{code}.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ProxyHealthTracker } from '../healthcheck/proxy-health.ts';
import type { ProxyMetrics } from '../metrics/metrics.ts';
import { type Clock, realClock } from '../util/clock.ts';
import { goJSONTime } from './go-time.ts';
import type { NodeEligibility } from './node-eligibility.ts';

export interface HealthzDeps {
  readonly tracker: ProxyHealthTracker;
  readonly eligibility?: NodeEligibility;
  readonly metrics?: ProxyMetrics;
  readonly clock?: Pick<Clock, 'date'>;
}

export function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
  res.end('404 page not found\n');
}

/** The body and status of /healthz (withNode) or /livez. */
export function healthResponse(deps: HealthzDeps, withNode: boolean): { code: number; body: string } {
  const now = (deps.clock ?? realClock).date();
  const h = deps.tracker.health();
  const nodeEligible = deps.eligibility?.eligible ?? true;
  const healthy = h.healthy && (!withNode || nodeEligible);
  const status: Record<string, { lastUpdated: string; healthy: boolean }> = {};
  for (const [family, s] of Object.entries(h.status)) {
    if (s) status[family] = { lastUpdated: goJSONTime(s.lastUpdated), healthy: s.healthy };
  }
  const body = {
    lastUpdated: goJSONTime(healthy ? now : h.lastUpdated),
    currentTime: goJSONTime(now),
    ...(withNode && { nodeEligible }),
    healthy,
    status,
  };
  return { code: healthy ? 200 : 503, body: JSON.stringify(body) };
}

export function healthzHandler(deps: HealthzDeps) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/healthz' && path !== '/livez') {
      notFound(res);
      return;
    }
    const withNode = path === '/healthz';
    const { code, body } = healthResponse(deps, withNode);
    (withNode ? deps.metrics?.proxyHealthzTotal : deps.metrics?.proxyLivezTotal)?.inc({ code: String(code) });
    res.writeHead(code, { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff' });
    res.end(body);
  };
}
