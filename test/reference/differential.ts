// The differential harness: scenarios (Services, EndpointSlices, Nodes, ServiceCIDRs created through
// the real API server with @kubernetes/client-node) and flows (source, protocol, destination, port)
// run against a proxy in a namespace topology (topology.ts); per flow it records which backends
// answered, REJECT, DROP, and whether the backend saw a masqueraded source.
//
// The proxy is pluggable (ProxyLauncher): upstream kube-proxy today (upstream-kube-proxy.ts),
// kube-proxy-ts once it has an API source. runDifferential() runs the same scenarios against several
// launchers in the same topology and compareRuns() lists where they disagree.
//
// Knowing when the proxy has caught up: after applying a scenario the harness creates a fresh
// "marker" Service + EndpointSlice (last) and waits until its ClusterIP answers. Watch events of one
// resource type arrive in order, and a proxy applies all pending changes in a sync, so once the
// marker works every earlier change of the scenario has been seen and programmed.
import { isDeepStrictEqual } from 'node:util';
import {
  CoreV1Api,
  type KubernetesObject,
  KubernetesObjectApi,
  type V1Service,
} from '@kubernetes/client-node';
import { inFamily, v6Of } from '../../src/sandbox/addresses.ts';
import { run } from '../../src/sandbox/exec.ts';
import type { FlowResult } from '../../src/sandbox/flows.ts';
import type { ExitStatus } from '../../src/sandbox/process.ts';
import { TIME_SCALE } from '../harness/wait.ts';
import { type ApiTunnel, openApiTunnel } from './api-tunnel.ts';
import { type ControlPlane, createOnceAllocatorKnowsCIDR, httpCode } from './control-plane.ts';
import {
  CLUSTER_CIDR,
  MARKER_POD_IP,
  MARKER_PORT,
  NODE_IP,
  RefTopology,
  type RefTopologySpec,
  type Source,
  type SourcedFlow,
} from './topology.ts';

export const NODE_NAME = 'test-node';

/** Any API object; `status` of a Service is written through its status subresource. */
export type KubeObject = KubernetesObject & { metadata: { name: string; namespace?: string } } & Record<
    string,
    unknown
  >;

export interface Expectation {
  /** Upstream notation: "ip:port, ip:port" (sorted), "REJECT", "DROP". */
  output: string;
  /** Only checked when the flow was answered. */
  masq?: boolean;
}

export interface FlowCase {
  /** Upstream's case id, e.g. "C6". */
  id: string;
  name?: string;
  from: Source;
  proto?: 'tcp' | 'udp';
  dst: string;
  port: number;
  expect?: Expectation;
}

export interface Scenario {
  name: string;
  /** The complete desired state; objects of the previous scenario not listed here are deleted. */
  objects: KubeObject[];
  flows: FlowCase[];
}

export interface ProxyContext {
  nodeNs: string;
  nodeName: string;
  /** A kubeconfig (kube-proxy identity) that works inside nodeNs. */
  kubeconfig: string;
  clusterCIDR: string;
  nodePortAddresses: string[];
  /** masqueradeAll (both proxies' flag/config); default false. */
  masqueradeAll?: boolean;
}

export interface RunningProxy {
  readonly name: string;
  readonly exited: Promise<ExitStatus>;
  tail(n?: number): string;
  /** Stops the proxy and removes what it programmed in the namespace. */
  stop(): Promise<void>;
}

export interface ProxyLauncher {
  readonly name: string;
  readonly mode: 'nftables' | 'iptables' | 'ipvs';
  start(ctx: ProxyContext): Promise<RunningProxy>;
}

export interface FlowOutcome {
  id: string;
  name?: string;
  from: string;
  proto: 'tcp' | 'udp';
  dst: string;
  port: number;
  /** "ip:port, ..." of every backend that answered (sorted), "REJECT", "DROP", or "MIXED(...)". */
  output: string;
  /** Whether the backends saw a source other than the sender's; "mixed" if both happened. */
  masq: boolean | 'mixed' | undefined;
  counts: { answer: number; reject: number; drop: number; error: number };
  backends: Record<string, number>;
  sourcesSeen: string[];
  /** The sources each backend saw (sorted): masquerade per backend, hairpin included. */
  sourcesByBackend: Record<string, string[]>;
  errors: string[];
}

export interface ScenarioResult {
  scenario: string;
  flows: FlowOutcome[];
}

export interface RunResult {
  proxy: string;
  scenarios: ScenarioResult[];
}

export interface DifferentialOptions {
  controlPlane: ControlPlane;
  topology: RefTopologySpec;
  /** Samples per flow (each a new connection), so that every backend of a service shows up. */
  samples?: number;
  /** Pause after the marker answers, for proxies whose sync goes on after it (IPVS mode). */
  settleMs?: number;
  /** Silence longer than this counts as DROP. */
  dropTimeoutMs?: number;
  nodePortAddresses?: string[];
  /** Objects created once before any scenario (the Node, say); defaults to baseObjects(). */
  base?: KubeObject[];
  /** The proxies' cluster CIDR(s), comma-separated; default CLUSTER_CIDR. */
  clusterCIDR?: string;
  /**
   * A dual-stack marker (the control plane must serve both families): a proxy runs one proxier per
   * family, each syncing on its own, so an IPv4 marker says nothing about the IPv6 rules.
   */
  dualStackMarker?: boolean;
}

const MARKER_NS = 'default';
const MARKER_BASE = '198.19.31.';
/**
 * Source ports for UDP samples, handed out in turn: below the kernel's ephemeral range (32768 up),
 * so no kernel-chosen port of a TCP sample meets them, and clear of the echo servers' 8053.
 */
const UDP_SOURCE_PORTS = { first: 20_000, count: 10_000 };

function key(o: KubeObject): string {
  return `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

/** The Node object of the proxy's node, as upstream's fixture has it (more IPs: dual-stack). */
export function testNode(name = NODE_NAME, ip = NODE_IP, ...more: string[]): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name } },
    status: { addresses: [ip, ...more].map((address) => ({ type: 'InternalIP', address })) },
  };
}

export function baseObjects(): KubeObject[] {
  return [testNode()];
}

/** Creates, replaces and deletes API objects; one per control plane. */
export class ObjectStore {
  private readonly objects: KubernetesObjectApi;
  private readonly core: CoreV1Api;
  private readonly current = new Map<string, KubeObject>();
  private readonly namespaces = new Set<string>(['default']);

  constructor(cp: ControlPlane) {
    const kc = cp.adminConfig();
    this.objects = KubernetesObjectApi.makeApiClient(kc);
    this.core = kc.makeApiClient(CoreV1Api);
  }

  private async ensureNamespace(ns: string | undefined): Promise<void> {
    if (!ns || this.namespaces.has(ns)) return;
    try {
      await this.core.createNamespace({ body: { metadata: { name: ns } } });
    } catch (err) {
      if (httpCode(err) !== 409) throw err;
    }
    this.namespaces.add(ns);
  }

  async create(o: KubeObject): Promise<void> {
    await this.ensureNamespace(o.metadata.namespace);
    const { status, ...spec } = o;
    const body = o.kind === 'Service' ? spec : o;
    const create = () => createOnceAllocatorKnowsCIDR(() => this.objects.create(body));
    try {
      await create();
    } catch (err) {
      // Left over from an earlier harness on the same control plane: start from our version.
      if (httpCode(err) !== 409) throw err;
      await this.objects.delete(body);
      await create();
    }
    if (o.kind === 'Service' && status) {
      const ns = o.metadata.namespace ?? 'default';
      const live = await this.core.readNamespacedService({ name: o.metadata.name, namespace: ns });
      live.status = status as V1Service['status'];
      await this.core.replaceNamespacedServiceStatus({ name: o.metadata.name, namespace: ns, body: live });
    }
    this.current.set(key(o), o);
  }

  /**
   * Replaces a live object with `o` (an update, as a controller would make it: the proxy sees a
   * change, not a delete and an add); a Service's status through its subresource.
   */
  async update(o: KubeObject): Promise<void> {
    const { status, ...spec } = o;
    const body = o.kind === 'Service' ? spec : o;
    const live = (await this.objects.read(body as never)) as KubeObject;
    const metadata = {
      ...o.metadata,
      resourceVersion: (live.metadata as { resourceVersion?: string }).resourceVersion,
    };
    await this.objects.replace({ ...body, metadata });
    if (o.kind === 'Service') {
      const ns = o.metadata.namespace ?? 'default';
      const now = await this.core.readNamespacedService({ name: o.metadata.name, namespace: ns });
      const want = (status ?? {}) as V1Service['status'];
      if (!isDeepStrictEqual(now.status ?? {}, want)) {
        now.status = want;
        await this.core.replaceNamespacedServiceStatus({ name: o.metadata.name, namespace: ns, body: now });
      }
    }
    this.current.set(key(o), o);
  }

  async delete(o: KubeObject): Promise<void> {
    try {
      await this.objects.delete(o);
    } catch (err) {
      if (httpCode(err) !== 404) throw err;
    }
    this.current.delete(key(o));
  }

  /**
   * Makes the objects the complete desired state: deletes what is gone or changed, creates what is
   * new or changed (delete + create keeps it simple; ClusterIPs and NodePorts are released at once).
   */
  async reconcile(
    desired: readonly KubeObject[],
    keep: (o: KubeObject) => boolean = () => false,
    opts: { update?: boolean } = {},
  ) {
    const want = new Map(desired.map((o) => [key(o), o]));
    const order = (o: KubeObject): number =>
      ['Namespace', 'ServiceCIDR', 'Node', 'Service', 'EndpointSlice'].indexOf(o.kind ?? '');
    const changed: KubeObject[] = [];
    const stale = [...this.current.values()].filter((o) => {
      if (keep(o)) return false;
      const w = want.get(key(o));
      if (w && !isDeepStrictEqual(w, o) && opts.update) changed.push(w);
      return !w || (!isDeepStrictEqual(w, o) && !opts.update);
    });
    for (const o of stale.sort((a, b) => order(b) - order(a))) await this.delete(o);
    for (const o of changed.sort((a, b) => order(a) - order(b))) await this.update(o);
    const fresh = desired.filter((o) => !this.current.has(key(o)));
    for (const o of fresh.sort((a, b) => order(a) - order(b))) await this.create(o);
  }

  /** Deletes everything this store created (best effort). */
  async clear(): Promise<void> {
    await this.reconcile([]).catch(() => {});
  }

  has(o: KubeObject): boolean {
    return this.current.has(key(o));
  }
}

function markerObjects(n: number, dual = false): KubeObject[] {
  const name = `kpts-marker-${n}`;
  const ip = `${MARKER_BASE}${(n % 250) + 1}`;
  const slice = (family: 'IPv4' | 'IPv6'): KubeObject => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `${name}-${family === 'IPv4' ? 'x' : 'y'}`,
      namespace: MARKER_NS,
      labels: { 'kubernetes.io/service-name': name },
    },
    addressType: family,
    endpoints: [
      { addresses: [inFamily(MARKER_POD_IP, family)], conditions: { ready: true }, nodeName: NODE_NAME },
    ],
    ports: [{ name: 'http', protocol: 'TCP', port: MARKER_PORT }],
  });
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: MARKER_NS },
      spec: {
        type: 'ClusterIP',
        clusterIP: ip,
        ...(dual
          ? { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'], clusterIPs: [ip, v6Of(ip)] }
          : {}),
        ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: MARKER_PORT }],
      },
    },
    slice('IPv4'),
    ...(dual ? [slice('IPv6')] : []),
  ];
}

function sourceLabel(s: Source): string {
  return typeof s === 'string' ? s : `${s.where}${s.src ? `@${s.src}` : ''}`;
}

export function summarizeFlow(
  c: FlowCase,
  sender: string | undefined,
  results: readonly FlowResult[],
): FlowOutcome {
  const counts = { answer: 0, reject: 0, drop: 0, error: 0 };
  const backends: Record<string, number> = {};
  const byBackend = new Map<string, Set<string>>();
  const sources = new Set<string>();
  const errors = new Set<string>();
  let masqYes = 0;
  let masqNo = 0;
  for (const r of results) {
    counts[r.outcome]++;
    if (r.outcome === 'answer') {
      backends[r.pod ?? '?'] = (backends[r.pod ?? '?'] ?? 0) + 1;
      if (r.sawSource) sources.add(r.sawSource);
      const seen = byBackend.get(r.pod ?? '?') ?? new Set<string>();
      seen.add(r.sawSource ?? '?');
      byBackend.set(r.pod ?? '?', seen);
      if (sender !== undefined) {
        if (r.sawSource === sender) masqNo++;
        else masqYes++;
      }
    } else if (r.code) errors.add(`${r.outcome}:${r.code}`);
  }
  const answered = Object.keys(backends).sort();
  const kinds = Object.entries(counts).filter(([, v]) => v > 0);
  let output: string;
  if (kinds.length === 1 && counts.answer > 0) output = answered.join(', ');
  else if (kinds.length === 1 && counts.reject > 0) output = 'REJECT';
  else if (kinds.length === 1 && counts.drop > 0) output = 'DROP';
  else
    output = `MIXED(${kinds.map(([k, v]) => `${k}=${v}`).join(' ')}${answered.length ? ` ${answered.join(',')}` : ''})`;
  const masq =
    counts.answer === 0 || sender === undefined ? undefined : masqYes && masqNo ? 'mixed' : masqYes > 0;
  return {
    id: c.id,
    ...(c.name ? { name: c.name } : {}),
    from: sourceLabel(c.from),
    proto: c.proto ?? 'tcp',
    dst: c.dst,
    port: c.port,
    output,
    masq,
    counts,
    backends,
    sourcesSeen: [...sources].sort(),
    sourcesByBackend: Object.fromEntries(
      [...byBackend.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([b, v]) => [b, [...v].sort()]),
    ),
    errors: [...errors].sort(),
  };
}

/** "C6 blk tcp 198.19.200.4:80 -> DROP" lines: compact, diffable, good in assertion messages. */
export function formatOutcome(o: FlowOutcome): string {
  const masq = o.masq === undefined ? '' : ` masq=${o.masq}`;
  return `${o.id} ${o.from} ${o.proto} ${o.dst}:${o.port} -> ${o.output}${masq}`;
}

/** Differences between an outcome and upstream's documented expectation ("" when it matches). */
export function checkExpectation(c: FlowCase, o: FlowOutcome): string {
  if (!c.expect) return '';
  const problems: string[] = [];
  if (o.output !== c.expect.output) problems.push(`output ${o.output} (want ${c.expect.output})`);
  if (o.counts.answer > 0 && o.masq !== (c.expect.masq ?? false)) {
    problems.push(`masq ${o.masq} (want ${c.expect.masq ?? false}; backends saw ${o.sourcesSeen.join(',')})`);
  }
  return problems.length ? `${c.id}${c.name ? ` (${c.name})` : ''}: ${problems.join('; ')}` : '';
}

/**
 * One topology + one proxy at a time against a control plane. Scenarios are applied in order;
 * start() may be called again after stopProxy() to run another proxy in the same namespaces.
 */
export class DifferentialEnv {
  readonly cp: ControlPlane;
  readonly topology: RefTopology;
  readonly store: ObjectStore;
  private readonly tunnel: ApiTunnel;
  private readonly kubeconfig: string;
  private readonly opts: DifferentialOptions;
  private proxy: RunningProxy | undefined;
  private markers = 0;
  private marker: KubeObject[] = [];
  private udpSamples = 0;

  private constructor(
    opts: DifferentialOptions,
    topology: RefTopology,
    tunnel: ApiTunnel,
    store: ObjectStore,
  ) {
    this.opts = opts;
    this.cp = opts.controlPlane;
    this.topology = topology;
    this.tunnel = tunnel;
    this.store = store;
    this.kubeconfig = this.cp.writeKubeconfig(
      `kube-proxy-in-${topology.nodeNs}`,
      this.cp.kubeProxyToken,
      tunnel.server,
    );
  }

  static async create(opts: DifferentialOptions): Promise<DifferentialEnv> {
    const topology = await RefTopology.create(opts.topology);
    let tunnel: ApiTunnel | undefined;
    try {
      tunnel = await openApiTunnel(topology.nodeNs, opts.controlPlane.port);
      const store = new ObjectStore(opts.controlPlane);
      for (const o of opts.base ?? baseObjects()) if (!store.has(o)) await store.create(o);
      return new DifferentialEnv(opts, topology, tunnel, store);
    } catch (err) {
      await tunnel?.close();
      await topology.close();
      throw err;
    }
  }

  get proxyName(): string | undefined {
    return this.proxy?.name;
  }

  async startProxy(launcher: ProxyLauncher, overrides: Partial<ProxyContext> = {}): Promise<RunningProxy> {
    if (this.proxy) throw new Error(`${this.proxy.name} is still running`);
    this.proxy = await launcher.start({
      nodeNs: this.topology.nodeNs,
      nodeName: NODE_NAME,
      kubeconfig: this.kubeconfig,
      clusterCIDR: this.opts.clusterCIDR ?? CLUSTER_CIDR,
      nodePortAddresses: this.opts.nodePortAddresses ?? [`${NODE_IP}/32`],
      ...overrides,
    });
    return this.proxy;
  }

  async stopProxy(): Promise<void> {
    const p = this.proxy;
    this.proxy = undefined;
    await p?.stop();
    // The next proxy starts without the previous one's connections.
    await this.topology.sandbox.flushConntrack();
  }

  /**
   * Makes the API hold the base objects and `objects`, nothing else but the marker; `update`
   * replaces changed objects in place instead of deleting and re-creating them.
   */
  async apply(objects: readonly KubeObject[], opts: { update?: boolean } = {}): Promise<void> {
    const isMarker = (o: KubeObject): boolean => this.marker.some((m) => key(m) === key(o));
    await this.store.reconcile([...(this.opts.base ?? baseObjects()), ...objects], isMarker, opts);
  }

  /** Applies the scenario's objects, waits for the proxy to catch up, sends the flows. */
  async runScenario(s: Scenario): Promise<ScenarioResult> {
    await this.apply(s.objects);
    await this.sync(`scenario ${s.name}`);
    return { scenario: s.name, flows: await this.sendFlows(s.flows) };
  }

  /** Creates a new marker Service (after everything else) and waits until it answers. */
  async sync(what: string, timeoutMs = 60_000 * TIME_SCALE): Promise<void> {
    const proxy = this.proxy;
    if (!proxy) throw new Error('no proxy running');
    const old = this.marker;
    this.marker = markerObjects(this.markers++, this.opts.dualStackMarker);
    for (const o of old) await this.store.delete(o);
    for (const o of this.marker) await this.store.create(o);
    const spec = this.marker[0]!.spec as { clusterIP: string; clusterIPs?: string[] };
    const svc = { clusterIP: (spec.clusterIPs ?? [spec.clusterIP]).join(' and ') };
    const deadline = performance.now() + timeoutMs;
    let last = '';
    while (performance.now() < deadline) {
      const exit = await Promise.race([proxy.exited, Promise.resolve(undefined)]);
      if (exit) throw new Error(`${proxy.name} exited (${JSON.stringify(exit)}):\n${proxy.tail(40)}`);
      const rs = await this.topology.probe(
        { where: 'node' },
        (spec.clusterIPs ?? [spec.clusterIP]).map((dst) => ({
          proto: 'tcp' as const,
          dst,
          port: 80,
          timeoutMs: 300,
        })),
      );
      if (rs.every((r) => r.outcome === 'answer')) {
        // IPVS mode: a new virtual server answers before the same sync has rewritten the ipsets and
        // iptables rules (upstream changes IPVS first): let the sync finish before probing.
        if (this.opts.settleMs) await new Promise((resolve) => setTimeout(resolve, this.opts.settleMs));
        return;
      }
      last = JSON.stringify(rs);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(
      `${proxy.name} did not program the marker ${svc.clusterIP} for ${what} within ${timeoutMs} ms (last: ${last}):\n${proxy.tail(40)}`,
    );
  }

  /** Sends every flow `samples` times; flows from one source share one probe process. */
  async sendFlows(flows: readonly FlowCase[], samples = this.opts.samples ?? 30): Promise<FlowOutcome[]> {
    const raw = await this.sample(flows.map((c) => ({ c, samples })));
    return flows.map((c, i) => summarizeFlow(c, this.topology.resolve(c.from).src, raw[i]!));
  }

  /**
   * Sends each flow its own number of times (0 is allowed) and returns the raw results per flow;
   * the probes of one source share one probe process, all sources at once.
   */
  async sample(work: readonly { c: FlowCase; samples: number }[]): Promise<FlowResult[][]> {
    // Past the kernel's 1 s SYN retransmission: on a loaded machine a first SYN is sometimes lost
    // (seen once in 30 samples in CI), and the retransmission, answered, must not count as a DROP.
    const timeoutMs = this.opts.dropTimeoutMs ?? 1500;
    const bySource = new Map<string, { source: Source; items: number[] }>();
    work.forEach(({ c }, i) => {
      const k = sourceLabel(c.from);
      const entry = bySource.get(k) ?? { source: c.from, items: [] };
      entry.items.push(i);
      bySource.set(k, entry);
    });
    const out: FlowResult[][] = work.map(() => []);
    await Promise.all(
      [...bySource.values()].map(async ({ source, items }) => {
        const batch: SourcedFlow[] = items.flatMap((i) => {
          const { c, samples } = work[i]!;
          const proto = c.proto ?? 'tcp';
          // A UDP sample from a kernel-chosen port may repeat the port of an earlier round's sample
          // to the same address: the packet then follows that sample's conntrack entry (kept 30 s;
          // to an endpoint since terminating, say) and not the rules under test. Ports handed out in
          // turn repeat only after UDP_SOURCE_PORTS.count samples, long after the entry is gone.
          return Array.from({ length: samples }, () => ({
            proto,
            dst: c.dst,
            port: c.port,
            timeoutMs,
            ...(proto === 'udp' && {
              sport: UDP_SOURCE_PORTS.first + (this.udpSamples++ % UDP_SOURCE_PORTS.count),
            }),
          }));
        });
        const results = await this.topology.probe(source, batch);
        let at = 0;
        for (const i of items) {
          const n = work[i]!.samples;
          out[i] = results.slice(at, at + n);
          at += n;
        }
      }),
    );
    return out;
  }

  /** The node's ruleset and the proxy's output, for failure messages. */
  async context(): Promise<string> {
    const rules = await run('ip', ['netns', 'exec', this.topology.nodeNs, 'nft', 'list', 'ruleset'], {
      allowFail: true,
    });
    return `\n--- ${this.proxy?.name ?? 'proxy'} ---\n${this.proxy?.tail(30) ?? ''}\n--- node ruleset ---\n${rules.stdout}`;
  }

  async close(): Promise<void> {
    try {
      await this.stopProxy();
      await this.store.clear();
    } finally {
      try {
        await this.tunnel.close();
      } finally {
        await this.topology.close();
      }
    }
  }
}

/** Runs the scenarios in order with one proxy; the environment stays up for the next launcher. */
export async function runWithLauncher(
  env: DifferentialEnv,
  launcher: ProxyLauncher,
  scenarios: readonly Scenario[],
): Promise<RunResult> {
  await env.startProxy(launcher);
  try {
    const results: ScenarioResult[] = [];
    for (const s of scenarios) results.push(await env.runScenario(s));
    return { proxy: launcher.name, scenarios: results };
  } finally {
    await env.stopProxy();
  }
}

/** Runs the same scenarios against every launcher, one after the other, in one topology. */
export async function runDifferential(
  opts: DifferentialOptions,
  launchers: readonly ProxyLauncher[],
  scenarios: readonly Scenario[],
): Promise<RunResult[]> {
  const env = await DifferentialEnv.create(opts);
  try {
    const runs: RunResult[] = [];
    for (const l of launchers) {
      // Every launcher starts from the same API state: nothing but the base objects.
      await env.store.reconcile(opts.base ?? baseObjects());
      runs.push(await runWithLauncher(env, l, scenarios));
    }
    return runs;
  } finally {
    await env.close();
  }
}

/** Flow-by-flow differences between two runs of the same scenarios (output and masquerade). */
export function compareRuns(a: RunResult, b: RunResult): string[] {
  const diffs: string[] = [];
  a.scenarios.forEach((sa, i) => {
    const sb = b.scenarios[i];
    sa.flows.forEach((fa, j) => {
      const fb = sb?.flows[j];
      if (!fb || fa.output !== fb.output || fa.masq !== fb.masq) {
        diffs.push(
          `${sa.scenario}: ${a.proxy}: ${formatOutcome(fa)} | ${b.proxy}: ${fb ? formatOutcome(fb) : 'missing'}`,
        );
      }
    });
  });
  return diffs;
}
