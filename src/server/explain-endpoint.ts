// /debug/explain/service?name=NS/NAME and /debug/explain/packet?from=IP&to=IP:PORT[&proto=][&iif=]
// on the metrics server: what the running proxy believes about a Service, and the trace of a packet
// through the live rules. Off unless kube-proxy-ts runs with --debug-explain. The metrics address
// may be wider than loopback (--metrics-bind-address 0.0.0.0:10249 is common), but these answers
// describe the node's traffic in detail, so they are refused to any peer that is not loopback
// unless --debug-explain-allow-remote says otherwise. Errors are JSON: {"code": …, "message": …}.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ErrorCode, errorMessage, KubeProxyError } from '../errors.ts';
import type { ServiceBeliefs } from '../explain/service-beliefs.ts';
import { isDNSLabel } from '../model/names.ts';
import { isLoopback, parseIP } from '../util/ip.ts';

export const EXPLAIN_PREFIX = '/debug/explain/';

export interface PacketParams {
  readonly from: string;
  readonly to: string;
  readonly proto?: string;
  readonly iif?: string;
}

export interface ExplainEndpointDeps {
  /** Whether --debug-explain is set; when not, every /debug/explain/ request gets 404. */
  readonly enabled: boolean;
  /** --debug-explain-allow-remote: serve peers other than loopback too. */
  readonly allowRemote: boolean;
  readonly service: (namespace: string, name: string) => ServiceBeliefs | undefined;
  /** Throws KubeProxyError KP_ERR_INVALID_FLAG for parameters that are not valid. */
  readonly packet?: (params: PacketParams) => Promise<unknown>;
}

const JSON_HEADERS = { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff' };

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, JSON_HEADERS);
  res.end(`${JSON.stringify(body, null, 2)}\n`);
}

function fail(res: ServerResponse, status: number, code: ErrorCode, message: string): void {
  send(res, status, { code, message });
}

/** Whether the peer is a loopback address (IPv4-mapped IPv6 included). */
export function fromLoopback(remoteAddress: string | undefined): boolean {
  if (remoteAddress === undefined) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remoteAddress);
  const ip = parseIP(mapped ? mapped[1]! : remoteAddress);
  return ip !== undefined && isLoopback(ip);
}

function onlyParams(url: URL, allowed: readonly string[]): string | undefined {
  for (const k of url.searchParams.keys())
    if (!allowed.includes(k))
      return `unknown query parameter ${JSON.stringify(k)} (allowed: ${allowed.join(', ')})`;
  for (const k of allowed)
    if (url.searchParams.getAll(k).length > 1)
      return `query parameter ${JSON.stringify(k)} given more than once`;
  return undefined;
}

/** Handles a request under /debug/explain/. */
export function handleExplain(
  deps: ExplainEndpointDeps,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): void {
  if (!deps.enabled) {
    fail(
      res,
      404,
      'KP_ERR_EXPLAIN_DISABLED',
      'the explain endpoints are off; start kube-proxy-ts with --debug-explain',
    );
    return;
  }
  if (!deps.allowRemote && !fromLoopback(req.socket.remoteAddress)) {
    fail(
      res,
      403,
      'KP_ERR_FORBIDDEN',
      'the explain endpoints answer loopback clients only (see --debug-explain-allow-remote)',
    );
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    fail(res, 405, 'KP_ERR_INVALID_QUERY', `method ${req.method} not allowed`);
    return;
  }
  const what = url.pathname.slice(EXPLAIN_PREFIX.length);
  if (what === 'service') {
    const bad = onlyParams(url, ['name']);
    if (bad) {
      fail(res, 400, 'KP_ERR_INVALID_QUERY', bad);
      return;
    }
    const name = url.searchParams.get('name') ?? '';
    const parts = name.split('/');
    if (parts.length !== 2 || !isDNSLabel(parts[0]) || !isDNSLabel(parts[1])) {
      fail(
        res,
        400,
        'KP_ERR_INVALID_QUERY',
        `name must be NAMESPACE/NAME (DNS labels), got ${JSON.stringify(name.slice(0, 300))}`,
      );
      return;
    }
    const beliefs = deps.service(parts[0]!, parts[1]!);
    if (!beliefs) {
      fail(
        res,
        404,
        'KP_ERR_NOT_FOUND',
        `the proxy has no Service ${name} with ports it programs (unknown, headless, ExternalName, or not synced yet)`,
      );
      return;
    }
    send(res, 200, beliefs);
    return;
  }
  if (what === 'packet' && deps.packet) {
    const bad = onlyParams(url, ['from', 'to', 'proto', 'iif']);
    if (bad) {
      fail(res, 400, 'KP_ERR_INVALID_QUERY', bad);
      return;
    }
    const p = url.searchParams;
    const params: PacketParams = {
      from: p.get('from') ?? '',
      to: p.get('to') ?? '',
      ...(p.has('proto') && { proto: p.get('proto')! }),
      ...(p.has('iif') && { iif: p.get('iif')! }),
    };
    deps.packet(params).then(
      (rep) => send(res, 200, rep),
      (err: unknown) => {
        if (err instanceof KubeProxyError && err.code === 'KP_ERR_INVALID_FLAG')
          fail(res, 400, 'KP_ERR_INVALID_QUERY', err.message.replaceAll('--', ''));
        else fail(res, 500, 'KP_ERR_HTTP', `explaining the packet failed: ${errorMessage(err)}`);
      },
    );
    return;
  }
  fail(res, 404, 'KP_ERR_NOT_FOUND', `no explain endpoint ${JSON.stringify(url.pathname)} (service, packet)`);
}
