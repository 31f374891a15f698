// A minimal HTTP client for the few API calls kube-proxy makes: paginated lists, JSON watch
// streams and one POST. TLS material and credentials come from the client configuration for
// every request (so rotated tokens and certificates are picked up); transport, timeouts and
// streaming are ours. JSON only: the protobuf content type is accepted by the flags and logged.
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { KubeProxyError } from '../../errors.ts';
import type { ClientConfig } from './config.ts';
import type { Limiter } from './limiter.ts';

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

/** A non-2xx answer (or an in-stream ERROR event) carrying a metav1.Status; `status` is its HTTP code. */
export class ApiStatusError extends KubeProxyError {
  override name = 'ApiStatusError';
  readonly status: number;
  readonly reason: string | undefined;
  readonly causes: readonly StatusCause[];

  constructor(
    status: number,
    reason: string | undefined,
    message: string,
    causes: readonly StatusCause[] = [],
  ) {
    super('KP_ERR_API_STATUS', message);
    this.status = status;
    this.reason = reason;
    this.causes = causes;
  }
}

/** The request took longer than allowed without any byte arriving. */
export class RequestTimeoutError extends KubeProxyError {
  override name = 'RequestTimeoutError';
  constructor(message: string) {
    super('KP_ERR_API_TIMEOUT', message);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Builds the error for a metav1.Status body (or whatever came instead). */
export function statusError(httpStatus: number, body: unknown, fallbackText = ''): ApiStatusError {
  if (isRecord(body) && body.kind === 'Status') {
    const code = typeof body.code === 'number' && body.code > 0 ? body.code : httpStatus;
    const reason = typeof body.reason === 'string' && body.reason !== '' ? body.reason : undefined;
    const message = typeof body.message === 'string' && body.message !== '' ? body.message : `HTTP ${code}`;
    const details = isRecord(body.details) ? body.details : undefined;
    const causes = Array.isArray(details?.causes)
      ? details.causes.filter(isRecord).map((c) => ({
          ...(typeof c.reason === 'string' && { reason: c.reason }),
          ...(typeof c.message === 'string' && { message: c.message }),
          ...(typeof c.field === 'string' && { field: c.field }),
        }))
      : [];
    return new ApiStatusError(code, reason, message, causes);
  }
  const text = fallbackText.trim().slice(0, 300);
  return new ApiStatusError(httpStatus, undefined, `HTTP ${httpStatus}${text ? `: ${text}` : ''}`);
}

/** 410 Gone / Expired: the resourceVersion is compacted away; only a relist helps. */
export function isExpired(err: unknown): boolean {
  return (
    err instanceof ApiStatusError && (err.status === 410 || err.reason === 'Expired' || err.reason === 'Gone')
  );
}

/** The server has not seen the resourceVersion yet (a lagging apiserver); client-go relists. */
export function isTooLargeResourceVersion(err: unknown): boolean {
  if (!(err instanceof ApiStatusError)) return false;
  if (err.causes.some((c) => c.reason === 'ResourceVersionTooLarge')) return true;
  return (
    err.causes.some((c) => c.message === 'Too large resource version') ||
    /Too large resource version/.test(err.message)
  );
}

export function isNotFound(err: unknown): boolean {
  return err instanceof ApiStatusError && err.status === 404;
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** Socket inactivity timeout; none when unset. */
  timeoutMs?: number;
}

export interface ApiClientOptions {
  config: ClientConfig;
  limiter: Limiter;
  userAgent: string;
}

export type Query = Record<string, string | number | boolean | undefined>;

export function buildQuery(query: Query): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') params.set(k, String(v));
  const s = params.toString();
  return s === '' ? '' : `?${s}`;
}

const MAX_BODY_BYTES = 1024 * 1024 * 1024;

export class ApiClient {
  readonly server: string;
  readonly #config: ClientConfig;
  readonly #limiter: Limiter;
  readonly #userAgent: string;
  readonly #agent: http.Agent;

  constructor(opts: ApiClientOptions) {
    this.#config = opts.config;
    this.server = opts.config.server;
    this.#limiter = opts.limiter;
    this.#userAgent = opts.userAgent;
    // Keep-alive for connection reuse between list pages; TCP keepalive probes after 30 s of
    // silence (as client-go's dialer) help notice a dead peer under a quiet watch.
    const agentOpts = { keepAlive: true, keepAliveMsecs: 30_000 };
    this.#agent = opts.config.plainHttp ? new http.Agent(agentOpts) : new https.Agent(agentOpts);
  }

  /** GET returning the decoded JSON body; throws ApiStatusError on non-2xx. */
  async getJson(path: string, query: Query, opts: RequestOptions = {}): Promise<unknown> {
    const res = await this.#send('GET', path, query, undefined, opts);
    return readJson(res);
  }

  async postJson(path: string, body: unknown, opts: RequestOptions = {}): Promise<unknown> {
    const res = await this.#send('POST', path, {}, body, opts);
    return readJson(res);
  }

  /** Opens a watch stream; resolves with the 200 response, whose body the caller consumes. */
  async openStream(path: string, query: Query, opts: RequestOptions = {}): Promise<IncomingMessage> {
    const res = await this.#send('GET', path, query, undefined, opts);
    if (res.statusCode !== 200) {
      throw await readJson(res).then(
        () => statusError(res.statusCode ?? 0, undefined),
        (err: unknown) => err,
      );
    }
    return res;
  }

  close(): void {
    this.#agent.destroy();
  }

  async #send(
    method: 'GET' | 'POST',
    path: string,
    query: Query,
    body: unknown,
    opts: RequestOptions,
  ): Promise<IncomingMessage> {
    await this.#limiter.wait(opts.signal);
    const auth: https.RequestOptions = {};
    await this.#config.applyTo(auth);
    opts.signal?.throwIfAborted();
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(auth.headers ?? {})) {
      if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : String(v);
    }
    headers.Accept = 'application/json';
    headers['User-Agent'] = this.#userAgent;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    const url = new URL(`${this.server}${path}${buildQuery(query)}`);
    const reqOpts: https.RequestOptions = {
      method,
      headers,
      agent: this.#agent,
      ...(opts.signal && { signal: opts.signal }),
      ...(auth.auth !== undefined && { auth: auth.auth }),
    };
    if (!this.#config.plainHttp) {
      for (const k of [
        'ca',
        'cert',
        'key',
        'pfx',
        'passphrase',
        'rejectUnauthorized',
        'servername',
      ] as const) {
        if (auth[k] !== undefined) (reqOpts as Record<string, unknown>)[k] = auth[k];
      }
    }
    const request = this.#config.plainHttp ? http.request : https.request;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(url, reqOpts, resolve);
      req.on('error', reject);
      if (opts.timeoutMs !== undefined) {
        const ms = opts.timeoutMs;
        req.setTimeout(ms, () =>
          req.destroy(new RequestTimeoutError(`${method} ${path}: no data for ${ms} ms`)),
        );
      }
      req.end(payload);
    });
  }
}

/** Reads a whole response; non-2xx becomes ApiStatusError, a 2xx body must be JSON. */
export async function readJson(res: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      res.destroy();
      throw new KubeProxyError('KP_ERR_API_RESPONSE', `response body larger than ${MAX_BODY_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const status = res.statusCode ?? 0;
  let parsed: unknown;
  let parseError: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch (err) {
    parseError = err;
  }
  if (status < 200 || status >= 300) throw statusError(status, parsed, text);
  if (parseError !== undefined) {
    throw new KubeProxyError(
      'KP_ERR_API_RESPONSE',
      `invalid JSON in ${status} response: ${(parseError as Error).message}`,
    );
  }
  return parsed;
}
