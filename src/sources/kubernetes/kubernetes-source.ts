// The Kubernetes API source: what upstream kube-proxy watches (cmd/kube-proxy/app/server.go),
// through our own reflectors, delivered to the same handlers as the manifests source.
//
// createKubernetesSource() is upstream's createClient + NewNodeManager: it loads the client
// configuration, watches this node and waits for it to have IPs (30 s, then goes on without, as
// upstream) and, with detect-local-mode NodeCIDR, pod CIDRs (5 more minutes, then fails). From
// then on a change of the node's IPs (or pod CIDRs when watched), or its deletion, calls
// onFatal: the process must exit and restart with the new state. start() then lists and watches
// Services, EndpointSlices and ServiceCIDRs and resolves once all three are delivered.
import { hostname as osHostname } from 'node:os';
import { errorMessage, KubeProxyError } from '../../errors.ts';
import type { Logger } from '../../log/logger.ts';
import type { EndpointSlice, Node, Service, ServiceCIDR } from '../../model/k8s.ts';
import { type Clock, realClock } from '../../util/clock.ts';
import type { ProxyHandlers, Source } from '../handlers.ts';
import { ApiClient } from './api-client.ts';
import { type ClientConfig, loadClientConfig } from './config.ts';
import { recordStartingEvent } from './events.ts';
import { createLimiter } from './limiter.ts';
import { fatalNodeChange, type NodeState, nodeState } from './node-manager.ts';
import { Reflector, type ReflectorStats } from './reflector.ts';
import { ENDPOINT_SLICES, nodeResource, type ResourceSpec, SERVICE_CIDRS, SERVICES } from './resources.ts';
import type { StoreChange } from './store.ts';

export const JSON_CONTENT_TYPE = 'application/json';
export const PROTOBUF_CONTENT_TYPE = 'application/vnd.kubernetes.protobuf';

export interface KubernetesSourceOptions {
  /** --kubeconfig */
  kubeconfig?: string | undefined;
  /** --master */
  master?: string | undefined;
  /** --kube-api-qps (0 = client-go's 5, negative = unlimited) */
  qps: number;
  /** --kube-api-burst (0 = client-go's 10) */
  burst: number;
  /** --kube-api-content-type: accepted and logged; JSON is what is spoken. */
  contentType: string;
  /** --config-sync-period: how often each cache is checked against a fresh list; 0 = never. */
  configSyncPeriodMs: number;
  /** This node's name (--hostname-override or the hostname). */
  nodeName: string;
  /** detect-local-mode NodeCIDR: wait for the node's pod CIDRs and exit when they change. */
  watchPodCIDRs: boolean;
  logger: Logger;
  /** The process must exit with code 1 (node IPs / pod CIDRs changed, node deleted). Called once. */
  onFatal: (reason: string) => void;
  /** Aborts the wait for the node in createKubernetesSource (e.g. on SIGTERM). */
  signal?: AbortSignal;
  /** Sent as User-Agent. */
  userAgent?: string;
  /** For the Starting event's reportingInstance; default os.hostname(). */
  hostname?: string;
  /** Record the Starting event (default true). */
  recordEvents?: boolean;
  /** Time for the reflectors, the rate limiter and the wait for the node. */
  clock?: Clock;
  // Tuning, for tests.
  nodeIPsTimeoutMs?: number;
  podCIDRsTimeoutMs?: number;
  watchdogMs?: number;
  minWatchTimeoutSeconds?: number;
  pageSize?: number;
  /** See ReflectorOptions.firstListFromCache. */
  firstListFromCache?: boolean;
  env?: NodeJS.ProcessEnv;
  serviceAccountDir?: string;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** The union of spec.cidrs over all ServiceCIDR objects, deduplicated and sorted. */
export function serviceCIDRUnion(objects: Iterable<ServiceCIDR>): string[] {
  const cidrs = new Set<string>();
  for (const o of objects) for (const c of o.spec?.cidrs ?? []) cidrs.add(c);
  return [...cidrs].sort();
}

export class KubernetesSource implements Source {
  readonly nodeName: string;
  readonly clientConfig: ClientConfig;
  readonly #client: ApiClient;
  readonly #opts: KubernetesSourceOptions;
  readonly #log: Logger;
  readonly #nodeReflector: Reflector<Node>;
  #services: Reflector<Service> | undefined;
  #slices: Reflector<EndpointSlice> | undefined;
  #cidrs: Reflector<ServiceCIDR> | undefined;
  #handlers: ProxyHandlers | undefined;
  #baseline: NodeState | undefined;
  #cidrUnion: string[] | undefined;
  #fatal = false;
  #started = false;
  #synced = false;
  readonly #abort = new AbortController();
  #background: Promise<unknown>[] = [];
  #closing: Promise<void> | undefined;
  /** Set while waitForNode waits: checks the node again after each change. */
  #nodeWaiter: (() => void) | undefined;

  /** Use createKubernetesSource(), which also waits for the node. */
  constructor(opts: KubernetesSourceOptions, clientConfig: ClientConfig, client: ApiClient) {
    this.#opts = opts;
    this.#log = opts.logger;
    this.nodeName = opts.nodeName;
    this.clientConfig = clientConfig;
    this.#client = client;
    this.#nodeReflector = this.#reflector(nodeResource(opts.nodeName), (c) => this.#onNodeChange(c));
    this.#nodeReflector.start();
  }

  /** The node's IPs seen at startup (primary family first); empty when it had none in time. */
  get nodeIPs(): readonly string[] {
    return this.#baseline?.nodeIPs ?? [];
  }

  /** The node's pod CIDRs seen at startup. */
  get podCIDRs(): readonly string[] {
    return this.#baseline?.podCIDRs ?? [];
  }

  /** The latest state of this node, if it exists. */
  get node(): Node | undefined {
    return this.#nodeReflector.get(this.nodeName);
  }

  /** True once services, endpoint slices and service CIDRs have all been delivered. */
  hasSynced(): boolean {
    return this.#synced;
  }

  stats(): Record<string, ReflectorStats> {
    const out: Record<string, ReflectorStats> = { node: { ...this.#nodeReflector.stats } };
    for (const r of [this.#services, this.#slices, this.#cidrs]) if (r) out[r.spec.name] = { ...r.stats };
    return out;
  }

  #reflector<T extends Node | Service | EndpointSlice | ServiceCIDR>(
    spec: ResourceSpec<T>,
    onChange: (c: StoreChange<T>) => void,
    onSynced?: () => void,
  ): Reflector<T> {
    const o = this.#opts;
    return new Reflector<T>({
      spec,
      client: this.#client,
      logger: this.#log,
      onChange,
      ...(onSynced && { onSynced }),
      resyncPeriodMs: o.configSyncPeriodMs,
      ...(o.watchdogMs !== undefined && { watchdogMs: o.watchdogMs }),
      ...(o.minWatchTimeoutSeconds !== undefined && { minWatchTimeoutSeconds: o.minWatchTimeoutSeconds }),
      ...(o.pageSize !== undefined && { pageSize: o.pageSize }),
      ...(o.firstListFromCache !== undefined && { firstListFromCache: o.firstListFromCache }),
      ...(o.clock !== undefined && { clock: o.clock }),
    });
  }

  /** NodeManager: waits for the node (see the file comment). Called by createKubernetesSource. */
  async waitForNode(signal?: AbortSignal): Promise<void> {
    const o = this.#opts;
    const aborted = (): boolean => this.#abort.signal.aborted || signal?.aborted === true;
    // Woken by the node's watch events (not polled): resolves when `done` holds, at the deadline
    // on the source's clock, or when the wait is aborted.
    const waitUntil = (timeoutMs: number, done: (s: NodeState) => boolean): Promise<NodeState> =>
      new Promise((resolve) => {
        const clock = o.clock ?? realClock;
        const finish = (): void => {
          clock.clearTimeout(timer);
          this.#nodeWaiter = undefined;
          signal?.removeEventListener('abort', finish);
          this.#abort.signal.removeEventListener('abort', finish);
          resolve(nodeState(this.node));
        };
        const timer = clock.setTimeout(finish, timeoutMs);
        signal?.addEventListener('abort', finish, { once: true });
        this.#abort.signal.addEventListener('abort', finish, { once: true });
        this.#nodeWaiter = () => {
          if (done(nodeState(this.node))) finish();
        };
        if (aborted()) finish();
        else this.#nodeWaiter();
      });
    const synced = this.#nodeReflector.waitForSync();
    const stop = new Promise<void>((resolve) => {
      if (signal?.aborted) resolve();
      signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    await Promise.race([synced, stop]);
    const check = (): void => {
      if (signal?.aborted) throw signal.reason ?? new Error('aborted');
      if (this.#abort.signal.aborted) throw new KubeProxyError('KP_ERR_CLOSED', 'Kubernetes source closed');
    };
    check();
    let state = nodeState(this.node);
    if (state.nodeIPs.length === 0) {
      this.#log.info('Waiting for the node to exist and have IPs', { node: this.nodeName });
      state = await waitUntil(o.nodeIPsTimeoutMs ?? 30_000, (s) => s.nodeIPs.length > 0);
      check();
    }
    if (o.watchPodCIDRs && state.podCIDRs.length === 0) {
      this.#log.info('Waiting for the node to be allocated pod CIDRs', { node: this.nodeName });
      state = await waitUntil(o.podCIDRsTimeoutMs ?? 300_000, (s) => s.podCIDRs.length > 0);
      check();
      if (state.podCIDRs.length === 0) {
        throw new KubeProxyError(
          'KP_ERR_NODE_TIMEOUT',
          state.node === undefined
            ? `timeout waiting for node "${this.nodeName}" to exist`
            : `timeout waiting for PodCIDR allocation on node "${this.nodeName}"`,
        );
      }
    }
    // Upstream goes on without a node or its IPs unless it needs the pod CIDRs.
    if (state.node === undefined)
      this.#log.error('Timed out waiting for node to exist', { node: this.nodeName });
    else if (state.nodeIPs.length === 0) {
      this.#log.error('Timed out waiting for node to be assigned IPs', { node: this.nodeName });
    } else this.#log.info('Successfully retrieved NodeIPs', { node: this.nodeName, nodeIPs: state.nodeIPs });
    this.#baseline = state;
  }

  #raiseFatal(reason: string): void {
    if (this.#fatal) return;
    this.#fatal = true;
    this.#log.error('Node changed in a way that needs a restart', { node: this.nodeName, reason });
    try {
      this.#opts.onFatal(reason);
    } catch (err) {
      this.#log.error('onFatal failed', { err: errorMessage(err) });
    }
  }

  #onNodeChange(change: StoreChange<Node>): void {
    this.#nodeWaiter?.();
    if (this.#fatal) return;
    if (this.#baseline) {
      const reason =
        change.type === 'delete'
          ? 'Node is being deleted'
          : fatalNodeChange(this.#baseline, change.object, this.#opts.watchPodCIDRs);
      if (reason !== undefined) {
        this.#raiseFatal(reason);
        return;
      }
    }
    const h = this.#handlers;
    if (!h) return;
    if (change.type === 'add') h.onNodeAdd(change.object);
    else if (change.type === 'update') h.onNodeUpdate(change.old, change.object);
    else h.onNodeDelete(change.object);
  }

  #emitCIDRs(): void {
    const h = this.#handlers;
    if (!h || !this.#cidrs?.hasSynced()) return;
    const union = serviceCIDRUnion(this.#cidrs.items());
    if (this.#cidrUnion !== undefined && sameList(union, this.#cidrUnion)) return;
    this.#cidrUnion = union;
    this.#log.v(2, 'Service CIDRs changed', { cidrs: union });
    this.#call(() => h.onServiceCIDRsChanged([...union]), 'onServiceCIDRsChanged');
  }

  #call(fn: () => void, what: string): void {
    try {
      fn();
    } catch (err) {
      this.#log.error('Event handler failed', { handler: what, err: errorMessage(err) });
    }
  }

  async start(handlers: ProxyHandlers): Promise<void> {
    if (this.#abort.signal.aborted) throw new KubeProxyError('KP_ERR_CLOSED', 'Kubernetes source is closed');
    if (this.#started)
      throw new KubeProxyError('KP_ERR_ALREADY_STARTED', 'Kubernetes source already started');
    this.#started = true;
    this.#handlers = handlers;
    const started = (this.#opts.clock ?? realClock).now();

    const node = this.node;
    if (node && !this.#fatal) this.#call(() => handlers.onNodeAdd(node), 'onNodeAdd');
    this.#call(() => handlers.onNodeSynced(), 'onNodeSynced');

    this.#services = this.#reflector(
      SERVICES,
      (c) => {
        if (c.type === 'add') handlers.onServiceAdd(c.object);
        else if (c.type === 'update') handlers.onServiceUpdate(c.old, c.object);
        else handlers.onServiceDelete(c.object);
      },
      () => handlers.onServicesSynced(),
    );
    this.#slices = this.#reflector(
      ENDPOINT_SLICES,
      (c) => {
        if (c.type === 'add') handlers.onEndpointSliceAdd(c.object);
        else if (c.type === 'update') handlers.onEndpointSliceUpdate(c.old, c.object);
        else handlers.onEndpointSliceDelete(c.object);
      },
      () => handlers.onEndpointSlicesSynced(),
    );
    this.#cidrs = this.#reflector(
      SERVICE_CIDRS,
      () => this.#emitCIDRs(),
      () => this.#emitCIDRs(),
    );
    const reflectors = [this.#services, this.#slices, this.#cidrs];
    for (const r of reflectors) r.start();
    await Promise.all(reflectors.map((r) => r.waitForSync()));
    if (this.#abort.signal.aborted) return;
    this.#synced = true;
    this.#log.info('Kubernetes API source synced', {
      services: this.#services.items().length,
      endpointSlices: this.#slices.items().length,
      serviceCIDRs: this.#cidrUnion ?? [],
      ms: Math.round((this.#opts.clock ?? realClock).now() - started),
    });
    if (this.#opts.recordEvents !== false) {
      this.#background.push(
        recordStartingEvent({
          client: this.#client,
          nodeName: this.nodeName,
          hostname: this.#opts.hostname ?? osHostname(),
          logger: this.#log,
          signal: this.#abort.signal,
          ...(this.#opts.clock !== undefined && { clock: this.#opts.clock }),
        }),
      );
    }
  }

  /** Stops every watch and request; idempotent. The handlers get nothing more. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#abort.abort(new Error('Kubernetes source closed'));
      const reflectors = [this.#nodeReflector, this.#services, this.#slices, this.#cidrs];
      await Promise.all(reflectors.map((r) => r?.close()));
      await Promise.allSettled(this.#background);
      this.#client.close();
    })();
    return this.#closing;
  }
}

/** Logs what the content type flag asks for and what is used (always JSON). */
export function describeContentType(contentType: string, log: Logger): void {
  const ct = contentType.trim();
  if (ct === '' || ct === JSON_CONTENT_TYPE) return;
  const msg =
    ct === PROTOBUF_CONTENT_TYPE
      ? 'Protobuf is not implemented, the Kubernetes API is read as JSON'
      : 'Unsupported Kubernetes API content type, using JSON';
  log.info(msg, { contentType: ct, using: JSON_CONTENT_TYPE });
}

/**
 * Connects to the API server and waits for this node as upstream's NodeManager does. Rejects on
 * an unusable client configuration (KubeProxyError KP_ERR_INVALID_CONFIG), when pod CIDRs are
 * needed but never come, or when `signal` aborts; the source is closed then.
 */
export async function createKubernetesSource(opts: KubernetesSourceOptions): Promise<KubernetesSource> {
  const log = opts.logger;
  const config = loadClientConfig({
    kubeconfig: opts.kubeconfig,
    master: opts.master,
    ...(opts.env && { env: opts.env }),
    ...(opts.serviceAccountDir !== undefined && { serviceAccountDir: opts.serviceAccountDir }),
  });
  log.info('Using the Kubernetes API', {
    server: config.server,
    from: config.source,
    ...(config.tokenFile !== undefined && { tokenFile: config.tokenFile }),
  });
  if (config.plainHttp)
    log.warn('The API server is reached over plain HTTP, without TLS', { server: config.server });
  describeContentType(opts.contentType, log);
  const client = new ApiClient({
    config,
    limiter: createLimiter(opts.qps, opts.burst, opts.clock),
    userAgent: opts.userAgent ?? `kube-proxy-ts (${process.platform}/${process.arch})`,
  });
  const source = new KubernetesSource(opts, config, client);
  try {
    await source.waitForNode(opts.signal);
  } catch (err) {
    await source.close();
    throw err;
  }
  return source;
}
