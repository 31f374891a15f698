// Serving an HTTP handler on a "host:port" bind address as kube-proxy's servers do: an unspecified
// host (0.0.0.0 or ::) listens on every address of both families, as Go's net.Listen does; a failed
// bind is logged and retried every 5 s, or, with bindAddressHardFail, reported as fatal.

import { createServer, type RequestListener, type Server } from 'node:http';
import { splitHostPort } from '../config/addresses.ts';
import { KubeProxyError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { type Clock, realClock } from '../util/clock.ts';

export const RETRY_MS = 5000;

export interface ServeOptions {
  readonly name: string;
  readonly address: string;
  readonly handler: RequestListener;
  readonly logger: Logger;
  readonly hardFail: boolean;
  /** Called once when hardFail is set and the server cannot listen. */
  readonly onFatal: (err: Error) => void;
  readonly retryMs?: number;
  /** Time for the retries. */
  readonly clock?: Clock;
}

export interface RunningServer {
  /** Resolves with the bound port once listening (useful with port 0). */
  readonly listening: Promise<number>;
  close(): Promise<void>;
}

function listenOnce(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      server.off('listening', onListening);
      reject(err);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host, port, ipv6Only: false });
  });
}

async function listen(server: Server, address: string): Promise<void> {
  const hp = splitHostPort(address);
  if (!hp)
    throw new KubeProxyError('KP_ERR_INVALID_CONFIG', `invalid bind address ${JSON.stringify(address)}`);
  const port = Number(hp.port);
  const host = hp.host;
  if (host === '' || host === '0.0.0.0' || host === '::') {
    try {
      await listenOnce(server, '::', port);
      return;
    } catch (err) {
      // No IPv6 in this namespace: the IPv4 wildcard still serves.
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') || host === '::') throw err;
    }
    await listenOnce(server, '0.0.0.0', port);
    return;
  }
  await listenOnce(server, host, port);
}

export function serve(opts: ServeOptions): RunningServer {
  const server = createServer(opts.handler);
  server.keepAliveTimeout = 5000;
  let closed = false;
  const clock = opts.clock ?? realClock;
  let timer: unknown;
  let resolvePort: (port: number) => void = () => {};
  const listening = new Promise<number>((r) => {
    resolvePort = r;
  });
  const attempt = () => {
    if (closed) return;
    listen(server, opts.address).then(
      () => {
        const a = server.address();
        opts.logger.v(3, `Starting ${opts.name} HTTP server`, { address: opts.address });
        resolvePort(typeof a === 'object' && a ? a.port : 0);
      },
      (err: Error) => {
        if (closed) return;
        opts.logger.error(`${opts.name} server failed`, { address: opts.address, err });
        if (opts.hardFail) {
          opts.onFatal(new KubeProxyError('KP_ERR_LISTEN', `${opts.name} server failed: ${err.message}`));
          return;
        }
        timer = clock.setTimeout(attempt, opts.retryMs ?? RETRY_MS);
        // Retrying must not keep a process alive that has nothing else to do.
        (timer as { unref?: () => void }).unref?.();
      },
    );
  };
  attempt();
  return {
    listening,
    close: () =>
      new Promise<void>((resolve) => {
        closed = true;
        if (timer !== undefined) clock.clearTimeout(timer);
        if (!server.listening) return resolve();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
