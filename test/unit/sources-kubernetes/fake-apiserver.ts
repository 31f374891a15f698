// An in-process, plain-HTTP imitation of kube-apiserver's list/watch for one collection, enough
// to drive the reflector through pagination, resourceVersions, bookmarks, 410s, broken streams
// and bad input without a real server. Tests script faults with the `next*` queues.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { KubeObject } from '../../../src/model/k8s.ts';

type Obj = KubeObject & Record<string, unknown>;

export interface Recorded {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingMessage['headers'];
}

interface HistoryEvent {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: Obj;
}

/** What to do with the next list or watch request instead of the normal answer. */
export type Fault =
  | { kind: 'status'; code: number; reason?: string; message?: string; causes?: { reason: string }[] }
  | { kind: 'raw'; lines: string[]; end?: boolean }
  | { kind: 'hang' }
  | { kind: 'reset' };

const key = (o: KubeObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

export class FakeApiServer {
  readonly path: string;
  readonly requests: Recorded[] = [];
  readonly objects = new Map<string, Obj>();
  readonly history: HistoryEvent[] = [];
  /** Watches from below this resourceVersion get 410 (compaction). */
  compactedRV = 0;
  rv = 100;
  readonly nextList: Fault[] = [];
  readonly nextWatch: Fault[] = [];
  /** The next list request with a continue token gets 410 (the token expired). */
  expireContinueOnce = false;
  /** Send 410 as the HTTP status instead of an in-stream ERROR. */
  expiredAsHttpStatus = false;
  readonly watches = new Set<ServerResponse>();
  #server: Server | undefined;
  port = 0;

  constructor(path = '/api/v1/services') {
    this.path = path;
  }

  get server(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.#server = createServer((req, res) => this.#handle(req, res));
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
    const addr = this.#server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : 0;
  }

  async close(): Promise<void> {
    for (const w of this.watches) w.destroy();
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()));
  }

  listRequests(): Recorded[] {
    return this.requests.filter((r) => r.query.watch !== 'true');
  }

  watchRequests(): Recorded[] {
    return this.requests.filter((r) => r.query.watch === 'true');
  }

  /** Creates or updates an object, recording and broadcasting the event. */
  put(o: KubeObject, broadcast = true): Obj {
    const k = key(o);
    const type = this.objects.has(k) ? 'MODIFIED' : 'ADDED';
    const copy = structuredClone(o) as Obj;
    this.rv++;
    copy.metadata = { ...copy.metadata, resourceVersion: String(this.rv) };
    this.objects.set(k, copy);
    this.#emit({ rv: this.rv, type, object: copy }, broadcast);
    return copy;
  }

  remove(namespace: string, name: string, broadcast = true): void {
    const k = `${namespace}/${name}`;
    const old = this.objects.get(k);
    if (!old) return;
    this.objects.delete(k);
    this.rv++;
    const copy = structuredClone(old);
    copy.metadata = { ...copy.metadata, resourceVersion: String(this.rv) };
    this.#emit({ rv: this.rv, type: 'DELETED', object: copy }, broadcast);
  }

  /** Forgets history up to now: older resourceVersions get 410. */
  compact(): void {
    this.compactedRV = this.rv;
    this.history.length = 0;
  }

  bookmark(): void {
    this.#writeAll({
      type: 'BOOKMARK',
      object: { kind: 'Service', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) } },
    });
  }

  writeRaw(text: string): void {
    for (const w of this.watches) w.write(text);
  }

  endWatches(): void {
    for (const w of [...this.watches]) w.end();
    this.watches.clear();
  }

  resetWatches(): void {
    for (const w of [...this.watches]) w.destroy();
    this.watches.clear();
  }

  #emit(e: HistoryEvent, broadcast: boolean): void {
    this.history.push(e);
    if (broadcast) this.#writeAll({ type: e.type, object: e.object });
  }

  #writeAll(event: unknown): void {
    for (const w of this.watches) w.write(`${JSON.stringify(event)}\n`);
  }

  #status(res: ServerResponse, code: number, reason = '', message = '', causes?: { reason: string }[]): void {
    res.writeHead(code, { 'Content-Type': 'application/json' });
    res.end(
      JSON.stringify({
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        code,
        reason,
        message,
        ...(causes && { details: { causes } }),
      }),
    );
  }

  #fault(res: ServerResponse, f: Fault): void {
    switch (f.kind) {
      case 'status':
        this.#status(res, f.code, f.reason, f.message, f.causes);
        return;
      case 'raw':
        res.writeHead(200, { 'Content-Type': 'application/json' });
        for (const l of f.lines) res.write(l);
        if (f.end) res.end();
        else this.watches.add(res);
        return;
      case 'hang':
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.flushHeaders();
        return; // never writes anything
      case 'reset':
        res.socket?.destroy();
        return;
    }
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const query = Object.fromEntries(url.searchParams);
    this.requests.push({ method: req.method ?? '', path: url.pathname, query, headers: req.headers });
    if (url.pathname !== this.path) {
      this.#status(res, 404, 'NotFound', `${url.pathname} not found`);
      return;
    }
    if (query.watch === 'true') this.#watch(res, query);
    else this.#list(res, query);
  }

  #list(res: ServerResponse, query: Record<string, string>): void {
    const fault = this.nextList.shift();
    if (fault) {
      this.#fault(res, fault);
      return;
    }
    if (query.continue && this.expireContinueOnce) {
      this.expireContinueOnce = false;
      this.#status(res, 410, 'Expired', 'The provided continue parameter is too old');
      return;
    }
    const all = [...this.objects.values()].sort((a, b) => key(a).localeCompare(key(b)));
    const limit = query.limit ? Number(query.limit) : all.length;
    const cont = query.continue ? JSON.parse(Buffer.from(query.continue, 'base64').toString()) : undefined;
    const start = cont?.start ?? 0;
    const rv = cont?.rv ?? this.rv;
    const page = all.slice(start, start + limit).map((o) => {
      const { apiVersion: _a, kind: _k, ...item } = o; // list items carry no apiVersion/kind
      return item;
    });
    const next =
      start + limit < all.length
        ? Buffer.from(JSON.stringify({ start: start + limit, rv })).toString('base64')
        : undefined;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(
      JSON.stringify({
        kind: 'ServiceList',
        apiVersion: 'v1',
        metadata: { resourceVersion: String(rv), ...(next && { continue: next }) },
        items: page,
      }),
    );
  }

  #watch(res: ServerResponse, query: Record<string, string>): void {
    const fault = this.nextWatch.shift();
    if (fault) {
      this.#fault(res, fault);
      return;
    }
    const from = Number(query.resourceVersion ?? '0');
    if (from < this.compactedRV) {
      const message = `too old resource version: ${from} (${this.compactedRV})`;
      if (this.expiredAsHttpStatus) {
        this.#status(res, 410, 'Expired', message);
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(
        `${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 410, reason: 'Expired', message } })}\n`,
      );
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    for (const e of this.history) {
      if (e.rv > from) res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
    }
    this.watches.add(res);
    res.on('close', () => this.watches.delete(res));
  }
}
