// A list/watch reflector for one resource, modelled on client-go's (tools/cache/reflector.go),
// because client-node's informer stops on errors, never asks for bookmarks and has no backoff or
// watchdog:
// - paginated list (limit 500, continue); the result is diffed against the cache so vanished
//   objects become deletes and changed ones updates. The first list asks for resourceVersion 0,
//   as client-go's does: kube-apiserver answers it from its watch cache in one response (it
//   ignores the limit then; 1.37 checked), where a consistent read is paged from etcd, each page
//   a request through the client's rate limiter. Every later list is a consistent read;
// - watch from the list's resourceVersion with allowWatchBookmarks and a random timeoutSeconds
//   in [5, 10) min, the resourceVersion tracked from every event and bookmark;
// - 410 Gone (HTTP status or in-stream ERROR) or "too large resource version": relist;
// - other errors: exponential backoff with jitter (800 ms doubling to 30 s, reset after 2 min
//   without one), then watch again from the last resourceVersion (or relist);
// - a watchdog restarts a stream that sends nothing (not even a bookmark) for watchdogMs;
// - every resyncPeriodMs a fresh relist checks the cache against the server (only differences
//   are delivered);
// - a malformed line is logged and answered with a relist, as an event may have been lost.
// It never stops on errors; only close() ends it.
import { errorMessage, KubeProxyError } from '../../errors.ts';
import type { Logger } from '../../log/logger.ts';
import type { KubeObject } from '../../model/k8s.ts';
import { type Clock, realClock, sleep } from '../../util/clock.ts';
import {
  type ApiClient,
  isExpired,
  isNotFound,
  isTooLargeResourceVersion,
  type Query,
  statusError,
} from './api-client.ts';
import { Backoff, watchTimeoutSeconds } from './backoff.ts';
import { excerpt, LineSplitter, LineTooLongError, parseWatchLine } from './framing.ts';
import { decodeObject, type ResourceSpec } from './resources.ts';
import {
  applyDelete,
  applyUpsert,
  diffRelist,
  objectKey,
  resourceVersionOf,
  type StoreChange,
} from './store.ts';

/** The two calls a reflector makes; ApiClient implements them. */
export type ListWatchClient = Pick<ApiClient, 'getJson' | 'openStream'>;

export interface ReflectorOptions<T extends KubeObject> {
  spec: ResourceSpec<T>;
  client: ListWatchClient;
  logger: Logger;
  /** Called for every change of the cache, in order. Exceptions are logged, never fatal. */
  onChange: (change: StoreChange<T>) => void;
  /** Called once, after the first list has been delivered. */
  onSynced?: () => void;
  /** Items per list page; default 500. */
  pageSize?: number;
  /** The first list asks for resourceVersion 0 (the watch cache), as client-go; default true. */
  firstListFromCache?: boolean;
  /** Relist period to check the cache against the server; 0 = never. Default 0. */
  resyncPeriodMs?: number;
  /**
   * A watch that receives nothing for this long is restarted; default 150 s. kube-apiserver sends
   * a bookmark about every minute once the resource's cache has moved past the watch's
   * resourceVersion (observed with 1.37: the first after 60-120 s, then every 60 s).
   */
  watchdogMs?: number;
  /** Socket inactivity timeout for list pages; default 60 s. */
  listTimeoutMs?: number;
  /** Lower bound of the watch timeoutSeconds (the upper is twice it); default 300. */
  minWatchTimeoutSeconds?: number;
  backoff?: Backoff;
  random?: () => number;
  /** Time for the watchdog, resync, backoff and durations. */
  clock?: Clock;
}

export interface ReflectorStats {
  lists: number;
  /** List pages fetched, over all lists. */
  pages: number;
  watches: number;
  /** Relists after 410 Gone / too large resource version. */
  expired: number;
  malformed: number;
  watchdog: number;
  resyncs: number;
  errors: number;
  events: number;
  bookmarks: number;
}

type WatchOutcome =
  | { kind: 'ended'; events: number; ms: number }
  | { kind: 'relist'; why: 'expired' | 'malformed' }
  | { kind: 'resync' }
  | { kind: 'watchdog' }
  | { kind: 'closed' };

const WATCHDOG = Symbol('watchdog');
const RESYNC = Symbol('resync');

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class Reflector<T extends KubeObject> {
  readonly spec: ResourceSpec<T>;
  readonly stats: ReflectorStats = {
    lists: 0,
    pages: 0,
    watches: 0,
    expired: 0,
    malformed: 0,
    watchdog: 0,
    resyncs: 0,
    errors: 0,
    events: 0,
    bookmarks: 0,
  };
  readonly #client: ListWatchClient;
  readonly #log: Logger;
  readonly #onChange: (change: StoreChange<T>) => void;
  readonly #onSynced: (() => void) | undefined;
  readonly #pageSize: number;
  /** Whether the next list is the first and may come from the watch cache. */
  #fromCache: boolean;
  readonly #resyncPeriodMs: number;
  readonly #watchdogMs: number;
  readonly #listTimeoutMs: number;
  readonly #minWatchTimeoutS: number;
  readonly #backoff: Backoff;
  readonly #random: () => number;
  readonly #clock: Clock;

  #store = new Map<string, T>();
  #rv = '';
  #synced = false;
  #syncedWaiters: (() => void)[] = [];
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  /** Reasons for undecodable objects already logged, so a stuck object logs once. */
  #badLogged = new Set<string>();
  #notServedLogged = false;

  constructor(opts: ReflectorOptions<T>) {
    this.spec = opts.spec;
    this.#client = opts.client;
    this.#log = opts.logger;
    this.#onChange = opts.onChange;
    this.#onSynced = opts.onSynced;
    this.#pageSize = opts.pageSize ?? 500;
    this.#fromCache = opts.firstListFromCache ?? true;
    this.#resyncPeriodMs = opts.resyncPeriodMs ?? 0;
    this.#watchdogMs = opts.watchdogMs ?? 150_000;
    this.#listTimeoutMs = opts.listTimeoutMs ?? 60_000;
    this.#minWatchTimeoutS = opts.minWatchTimeoutSeconds ?? 300;
    this.#random = opts.random ?? Math.random;
    this.#clock = opts.clock ?? realClock;
    this.#backoff = opts.backoff ?? new Backoff({ random: this.#random, clock: this.#clock });
  }

  /** Starts listing and watching in the background. */
  start(): void {
    if (this.#loop || this.#abort.signal.aborted) return;
    this.#loop = this.#run();
  }

  hasSynced(): boolean {
    return this.#synced;
  }

  /** Resolves once the first list has been delivered (or at close). */
  waitForSync(): Promise<void> {
    if (this.#synced || this.#abort.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => this.#syncedWaiters.push(resolve));
  }

  /** The last resourceVersion seen (list, event or bookmark). */
  get resourceVersion(): string {
    return this.#rv;
  }

  get(key: string): T | undefined {
    return this.#store.get(key);
  }

  items(): T[] {
    return [...this.#store.values()];
  }

  /** Stops the loop and any request in flight; idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#abort.abort(new Error('reflector closed'));
      this.#releaseWaiters();
      await this.#loop;
    })();
    return this.#closing;
  }

  get #closed(): boolean {
    return this.#abort.signal.aborted;
  }

  #releaseWaiters(): void {
    const waiters = this.#syncedWaiters;
    this.#syncedWaiters = [];
    for (const w of waiters) w();
  }

  async #run(): Promise<void> {
    let needList = true;
    let resyncAt = Number.POSITIVE_INFINITY;
    /** Relists in a row that no successful watch separated: the second one backs off. */
    let relistsInARow = 0;
    while (!this.#closed) {
      try {
        if (needList) {
          const served = await this.#listAndReplace();
          if (!served) {
            await this.#pause();
            continue;
          }
          needList = false;
          resyncAt =
            this.#resyncPeriodMs > 0
              ? this.#clock.now() + this.#resyncPeriodMs * (1 + 0.1 * this.#random())
              : Number.POSITIVE_INFINITY;
        }
        const outcome = await this.#watchOnce(resyncAt);
        if (outcome.kind !== 'relist') relistsInARow = 0;
        switch (outcome.kind) {
          case 'closed':
            return;
          case 'relist':
            needList = true;
            relistsInARow++;
            if (relistsInARow > 1) await this.#pause();
            break;
          case 'resync':
            this.stats.resyncs++;
            this.#log.v(4, 'Periodic relist to check the cache', { resource: this.spec.name });
            needList = true;
            break;
          case 'watchdog':
            this.stats.watchdog++;
            this.#log.warn('Watch sent nothing (not even a bookmark), restarting it', {
              resource: this.spec.name,
              silentForMs: this.#watchdogMs,
              resourceVersion: this.#rv,
            });
            break;
          case 'ended':
            if (outcome.events === 0 && outcome.ms < 1000) {
              // client-go's "very short watch": something between us and the server closes at once.
              this.#log.warn('Watch closed at once without any event, backing off', {
                resource: this.spec.name,
              });
              await this.#pause();
            } else {
              this.#log.v(4, 'Watch ended, watching again', {
                resource: this.spec.name,
                events: outcome.events,
                resourceVersion: this.#rv,
              });
            }
            break;
        }
      } catch (err) {
        if (this.#closed) return;
        this.stats.errors++;
        if (isExpired(err) || isTooLargeResourceVersion(err)) {
          this.stats.expired++;
          this.#log.info('Resource version no longer available, relisting', {
            resource: this.spec.name,
            resourceVersion: this.#rv,
            err: errorMessage(err),
          });
          needList = true;
          relistsInARow++;
          if (relistsInARow > 1) await this.#pause();
          continue;
        }
        this.#log.warn(needList ? 'List failed, retrying' : 'Watch failed, retrying', {
          resource: this.spec.name,
          err: errorMessage(err),
        });
        await this.#pause();
      }
    }
  }

  /** Waits out the next backoff step; returns early at close. */
  async #pause(): Promise<void> {
    const ms = this.#backoff.next();
    this.#log.v(4, 'Backing off', { resource: this.spec.name, ms: Math.round(ms) });
    try {
      await sleep(ms, this.#abort.signal, this.#clock);
    } catch {
      // closed
    }
  }

  #deliver(change: StoreChange<T>): void {
    try {
      this.#onChange(change);
    } catch (err) {
      this.#log.error('Event handler failed', {
        resource: this.spec.name,
        change: change.type,
        object: objectKey(change.object),
        err: errorMessage(err),
      });
    }
  }

  #markSynced(): void {
    if (this.#synced) return;
    this.#synced = true;
    try {
      this.#onSynced?.();
    } catch (err) {
      this.#log.error('Synced handler failed', { resource: this.spec.name, err: errorMessage(err) });
    }
    this.#releaseWaiters();
  }

  #logBad(key: string, reason: string): void {
    const id = `${key}\0${reason}`;
    if (this.#badLogged.has(id)) return;
    if (this.#badLogged.size > 10_000) this.#badLogged.clear();
    this.#badLogged.add(id);
    const kept = this.#store.has(key);
    this.#log.error(
      kept ? 'Ignoring invalid API object, keeping its last good state' : 'Ignoring invalid API object',
      {
        resource: this.spec.name,
        object: key,
        reason,
      },
    );
  }

  /**
   * Lists everything, diffs it against the cache and delivers the differences. Returns false
   * when an optional resource is not served (it then counts as empty and synced).
   */
  async #listAndReplace(): Promise<boolean> {
    let listed: { items: Map<string, T>; rv: string };
    try {
      listed = await this.#listAllPages();
    } catch (err) {
      if (!(this.spec.optional && isNotFound(err))) throw err;
      if (!this.#notServedLogged) {
        this.#notServedLogged = true;
        this.#log.info('Resource not served by the API server, treating it as empty', {
          resource: this.spec.name,
          path: this.spec.path,
        });
      }
      this.#replace(new Map(), '');
      return false;
    }
    this.#notServedLogged = false;
    this.#replace(listed.items, listed.rv);
    return true;
  }

  #replace(items: Map<string, T>, rv: string): void {
    const changes = diffRelist(this.#store, items);
    this.#store = items;
    this.#rv = rv;
    if (changes.length > 0) {
      this.#log.v(2, 'Relist changed the cache', { resource: this.spec.name, changes: changes.length });
    }
    for (const c of changes) this.#deliver(c);
    this.#markSynced();
  }

  async #listAllPages(): Promise<{ items: Map<string, T>; rv: string }> {
    // A continue token can expire mid-list (410): start over, twice at most, then let backoff rule.
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#listOnce();
      } catch (err) {
        if (!isExpired(err) || attempt >= 2 || this.#closed) throw err;
        this.#log.info('List continuation expired, listing again', {
          resource: this.spec.name,
          err: errorMessage(err),
        });
      }
    }
  }

  async #listOnce(): Promise<{ items: Map<string, T>; rv: string }> {
    this.stats.lists++;
    const items = new Map<string, T>();
    let rv = '';
    let cont: string | undefined;
    let pages = 0;
    const started = this.#clock.now();
    do {
      const query: Query = {
        limit: this.#pageSize,
        continue: cont,
        // Only on the first page: a continue token carries its own snapshot.
        resourceVersion: this.#fromCache && cont === undefined ? '0' : undefined,
        labelSelector: this.spec.labelSelector,
        fieldSelector: this.spec.fieldSelector,
      };
      const body = await this.#client.getJson(this.spec.path, query, {
        signal: this.#abort.signal,
        timeoutMs: this.#listTimeoutMs,
      });
      pages++;
      this.stats.pages++;
      if (!isRecord(body) || !Array.isArray(body.items) || !isRecord(body.metadata)) {
        throw new KubeProxyError(
          'KP_ERR_API_RESPONSE',
          `list of ${this.spec.name}: the answer is not a list`,
        );
      }
      for (const raw of body.items) this.#collect(items, raw);
      const md = body.metadata;
      // Every page reports the snapshot's resourceVersion; the first one is kept.
      if (rv === '' && typeof md.resourceVersion === 'string') rv = md.resourceVersion;
      cont = typeof md.continue === 'string' && md.continue !== '' ? md.continue : undefined;
    } while (cont !== undefined);
    if (rv === '')
      throw new KubeProxyError(
        'KP_ERR_API_RESPONSE',
        `list of ${this.spec.name}: no resourceVersion in the answer`,
      );
    this.#fromCache = false;
    this.#log.v(2, 'Listed', {
      resource: this.spec.name,
      items: items.size,
      pages,
      resourceVersion: rv,
      ms: Math.round(this.#clock.now() - started),
    });
    return { items, rv };
  }

  #collect(items: Map<string, T>, raw: unknown): void {
    const decoded = decodeObject(this.spec, raw);
    if (decoded.ok) {
      const key = objectKey(decoded.object);
      if (key !== undefined) items.set(key, decoded.object);
      return;
    }
    const key = isRecord(raw) ? objectKey(raw as KubeObject) : undefined;
    this.#logBad(key ?? '<unnamed>', decoded.reason);
    const old = key === undefined ? undefined : this.#store.get(key);
    if (key !== undefined && old !== undefined) items.set(key, old);
  }

  async #watchOnce(resyncAt: number): Promise<WatchOutcome> {
    const ac = new AbortController();
    const parent = this.#abort.signal;
    const onParentAbort = (): void => ac.abort(parent.reason);
    parent.addEventListener('abort', onParentAbort, { once: true });
    const clock = this.#clock;
    let watchdog: unknown;
    const armWatchdog = (): void => {
      if (watchdog !== undefined) clock.clearTimeout(watchdog);
      watchdog = clock.setTimeout(() => ac.abort(WATCHDOG), this.#watchdogMs);
    };
    const untilResync = resyncAt - this.#clock.now();
    const resyncTimer = Number.isFinite(untilResync)
      ? clock.setTimeout(() => ac.abort(RESYNC), Math.max(0, untilResync))
      : undefined;
    const started = this.#clock.now();
    let events = 0;
    this.stats.watches++;
    armWatchdog();
    try {
      const query: Query = {
        watch: 'true',
        resourceVersion: this.#rv,
        allowWatchBookmarks: 'true',
        timeoutSeconds: watchTimeoutSeconds(this.#random, this.#minWatchTimeoutS),
        labelSelector: this.spec.labelSelector,
        fieldSelector: this.spec.fieldSelector,
      };
      const res = await this.#client.openStream(this.spec.path, query, { signal: ac.signal });
      const splitter = new LineSplitter();
      for await (const chunk of res as AsyncIterable<Buffer>) {
        armWatchdog();
        for (const line of splitter.push(chunk)) {
          events++;
          const outcome = this.#handleLine(line);
          if (outcome) return outcome;
        }
      }
      const rest = splitter.end();
      if (rest !== undefined) {
        // Not applied, so watching again from the last resourceVersion sends it again.
        this.#log.warn('Watch stream ended inside an event, watching again', {
          resource: this.spec.name,
          partial: excerpt(rest),
        });
      }
      return { kind: 'ended', events, ms: this.#clock.now() - started };
    } catch (err) {
      if (parent.aborted) return { kind: 'closed' };
      if (ac.signal.reason === WATCHDOG) return { kind: 'watchdog' };
      if (ac.signal.reason === RESYNC) return { kind: 'resync' };
      if (err instanceof LineTooLongError) {
        this.stats.malformed++;
        this.#log.error('Malformed watch stream, relisting', { resource: this.spec.name, err: err.message });
        return { kind: 'relist', why: 'malformed' };
      }
      throw err;
    } finally {
      if (watchdog !== undefined) clock.clearTimeout(watchdog);
      if (resyncTimer !== undefined) clock.clearTimeout(resyncTimer);
      parent.removeEventListener('abort', onParentAbort);
      ac.abort(); // drops the connection if we stopped reading early
    }
  }

  /** Applies one event line; returns an outcome when the watch must end. */
  #handleLine(line: string): WatchOutcome | undefined {
    const parsed = parseWatchLine(line);
    if (!parsed.ok) {
      this.stats.malformed++;
      this.#log.error('Malformed watch event, relisting', {
        resource: this.spec.name,
        reason: parsed.reason,
        line: excerpt(line),
      });
      return { kind: 'relist', why: 'malformed' };
    }
    const { type, object } = parsed.event;
    const rv = resourceVersionOf(object as KubeObject);
    if (type === 'BOOKMARK') {
      this.stats.bookmarks++;
      if (rv !== undefined) this.#rv = rv;
      return undefined;
    }
    if (type === 'ERROR') {
      const err = statusError(500, object);
      if (isExpired(err) || isTooLargeResourceVersion(err)) {
        this.stats.expired++;
        this.#log.info('Watch reports the resource version is gone, relisting', {
          resource: this.spec.name,
          resourceVersion: this.#rv,
          err: err.message,
        });
        return { kind: 'relist', why: 'expired' };
      }
      throw err;
    }
    this.stats.events++;
    const decoded = decodeObject(this.spec, object);
    const key = decoded.ok ? objectKey(decoded.object) : objectKey(object as KubeObject);
    if (key === undefined) {
      this.stats.malformed++;
      this.#log.error('Watch event for an object without a name, relisting', {
        resource: this.spec.name,
        line: excerpt(line),
      });
      return { kind: 'relist', why: 'malformed' };
    }
    let change: StoreChange<T> | undefined;
    if (type === 'DELETED') {
      change = applyDelete(this.#store, key, decoded.ok ? decoded.object : undefined);
    } else if (decoded.ok) {
      change = applyUpsert(this.#store, key, decoded.object);
    } else {
      this.#logBad(key, decoded.reason);
    }
    if (rv !== undefined) this.#rv = rv;
    if (change) this.#deliver(change);
    return undefined;
  }
}
