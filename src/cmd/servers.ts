// Starting the health and metrics servers of a running proxy (upstream serveHealthz/serveMetrics).

import { configzBody } from '../config/configz.ts';
import type { ProxyHealthTracker } from '../healthcheck/proxy-health.ts';
import type { Logger } from '../log/logger.ts';
import type { ProxyMetrics } from '../metrics/metrics.ts';
import type { ExplainEndpointDeps } from '../server/explain-endpoint.ts';
import { healthzHandler } from '../server/healthz-server.ts';
import { type RunningServer, serve } from '../server/listen.ts';
import { metricsHandler } from '../server/metrics-server.ts';
import type { NodeEligibility } from '../server/node-eligibility.ts';
import type { ProxyOptions } from './options.ts';

export interface Servers {
  readonly healthz: RunningServer | undefined;
  readonly metrics: RunningServer | undefined;
  close(): Promise<void>;
}

export interface ServerDeps {
  readonly tracker: ProxyHealthTracker;
  readonly eligibility: NodeEligibility;
  readonly metrics: ProxyMetrics;
  readonly log: Logger;
  /** bindAddressHardFail: a server that cannot listen ends the process with this error. */
  readonly onFatal: (err: Error) => void;
  /** What /debug/explain/ answers from (used only with --debug-explain). */
  readonly explain?: Pick<ExplainEndpointDeps, 'service' | 'packet'>;
}

export function startServers(opts: ProxyOptions, deps: ServerDeps): Servers {
  const c = opts.config;
  const common = { logger: deps.log, hardFail: c.bindAddressHardFail, onFatal: deps.onFatal };
  const healthz =
    c.healthzBindAddress === ''
      ? undefined
      : serve({
          ...common,
          name: 'healthz',
          address: c.healthzBindAddress,
          handler: healthzHandler({
            tracker: deps.tracker,
            eligibility: deps.eligibility,
            metrics: deps.metrics,
          }),
        });
  const metrics =
    c.metricsBindAddress === ''
      ? undefined
      : serve({
          ...common,
          name: 'metrics',
          address: c.metricsBindAddress,
          handler: metricsHandler({
            metrics: deps.metrics,
            proxyMode: c.mode,
            configz: () => configzBody(c),
            ...(opts.debugExplain &&
              deps.explain && {
                explain: {
                  enabled: true,
                  allowRemote: opts.debugExplainAllowRemote,
                  ...deps.explain,
                },
              }),
          }),
        });
  return {
    healthz,
    metrics,
    close: async () => {
      await Promise.all([healthz?.close(), metrics?.close()]);
    },
  };
}
