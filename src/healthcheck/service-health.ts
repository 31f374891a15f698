// Health-check node ports: for every LoadBalancer Service with externalTrafficPolicy Local, an HTTP
// server on its healthCheckNodePort that tells the cloud load balancer whether this node has local
// ready endpoints (upstream pkg/proxy/healthcheck/service_health.go).
import { createServer, type Server } from 'node:http';
import type { Logger } from '../log/logger.ts';

export interface ServiceHealthOptions {
  readonly logger: Logger;
  /** Addresses to listen on; empty means all addresses. */
  readonly addresses: () => readonly string[];
  readonly proxyHealthy: () => boolean;
}

interface HealthCheckService {
  port: number;
  endpoints: number;
  servers: Server[];
}

/** The response body, byte for byte as upstream writes it (tab-indented). */
export function serviceHealthBody(
  namespace: string,
  name: string,
  localEndpoints: number,
  healthy: boolean,
): string {
  return [
    '{',
    '\t"service": {',
    `\t\t"namespace": ${JSON.stringify(namespace)},`,
    `\t\t"name": ${JSON.stringify(name)}`,
    '\t},',
    `\t"localEndpoints": ${localEndpoints},`,
    `\t"serviceProxyHealthy": ${healthy}`,
    '}',
  ].join('\n');
}

export class ServiceHealthServer {
  readonly #opts: ServiceHealthOptions;
  readonly #services = new Map<string, HealthCheckService>();

  constructor(opts: ServiceHealthOptions) {
    this.#opts = opts;
  }

  /** Opens servers for new services ("ns/name" → port), closes those of services that went away. */
  async syncServices(ports: ReadonlyMap<string, number>): Promise<void> {
    for (const [key, svc] of this.#services) {
      if (ports.get(key) === svc.port) continue;
      this.#opts.logger.v(2, 'Closing healthcheck', { service: key, port: svc.port });
      this.#services.delete(key);
      await Promise.all(svc.servers.map((s) => closeServer(s)));
    }
    for (const [key, port] of ports) {
      if (this.#services.has(key)) continue;
      const svc: HealthCheckService = { port, endpoints: 0, servers: [] };
      this.#services.set(key, svc);
      this.#opts.logger.v(2, 'Opening healthcheck', { service: key, port });
      const addresses = this.#opts.addresses();
      for (const host of addresses.length > 0 ? addresses : [undefined]) {
        const server = createServer((req, res) => {
          const current = this.#services.get(key);
          req.resume();
          if (current !== svc) {
            res.destroy();
            return;
          }
          const healthy = this.#opts.proxyHealthy();
          const [namespace = '', name = ''] = key.split('/');
          res.setHeader('Content-Type', 'application/json');
          res.setHeader('X-Content-Type-Options', 'nosniff');
          res.setHeader('X-Load-Balancing-Endpoint-Weight', String(svc.endpoints));
          res.statusCode = svc.endpoints !== 0 && healthy ? 200 : 503;
          res.end(serviceHealthBody(namespace, name, svc.endpoints, healthy));
        });
        try {
          await listen(server, port, host);
          svc.servers.push(server);
        } catch (err) {
          // Upstream logs and goes on: one busy port must not break the proxy.
          this.#opts.logger.error('Failed to start healthcheck', {
            service: key,
            port,
            address: host ?? '',
            err,
          });
        }
      }
    }
  }

  /** Local ready endpoint counts per service ("ns/name"); services without health checks are ignored. */
  syncEndpoints(counts: ReadonlyMap<string, number>): void {
    for (const [key, svc] of this.#services) svc.endpoints = counts.get(key) ?? 0;
  }

  async close(): Promise<void> {
    const all = [...this.#services.values()].flatMap((s) => s.servers);
    this.#services.clear();
    await Promise.all(all.map((s) => closeServer(s)));
  }
}

function listen(server: Server, port: number, host: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, ...(host !== undefined && { host }), exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
