// Shared pieces of the API source tests: objects, the API's own view (for convergence checks),
// and a source wired to a Recorder with its log kept for failure messages.
import type { TestContext } from 'node:test';
import {
  CoreV1Api,
  DiscoveryV1Api,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { createLogger } from '../../src/log/logger.ts';
import {
  createKubernetesSource,
  type KubernetesSource,
  type KubernetesSourceOptions,
} from '../../src/sources/kubernetes/kubernetes-source.ts';
import { PROXY_LABEL_SELECTOR, SERVICE_FIELD_SELECTOR } from '../../src/sources/kubernetes/resources.ts';
import {
  type ControlPlane,
  type ControlPlaneOptions,
  startControlPlane,
} from '../reference/control-plane.ts';
import { requireApiServer } from './gate.ts';
import { Recorder } from './recorder.ts';
import { TcpProxy } from './tcp-proxy.ts';

/** Options for a JSON merge patch with the official client. */
export const PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export const NODE = 'node-a';
export const NODE_IP = '198.19.0.2';

export function clients(kc: KubeConfig): { core: CoreV1Api; discovery: DiscoveryV1Api } {
  return { core: kc.makeApiClient(CoreV1Api), discovery: kc.makeApiClient(DiscoveryV1Api) };
}

export function serviceBody(name: string, port = 80, extra: { labels?: Record<string, string> } = {}) {
  return {
    metadata: { name, ...(extra.labels && { labels: extra.labels }) },
    spec: { ports: [{ name: 'http', port, protocol: 'TCP' }] },
  };
}

export function sliceBody(
  service: string,
  name: string,
  ips: string[],
  port = 8080,
  annotations?: Record<string, string>,
) {
  const labels: Record<string, string> = { 'kubernetes.io/service-name': service };
  return {
    metadata: {
      name,
      labels,
      ...(annotations && { annotations }),
    },
    addressType: 'IPv4',
    endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
    ports: [{ name: 'http', port, protocol: 'TCP' }],
  };
}

export async function createNode(
  core: CoreV1Api,
  name: string,
  ip: string | undefined,
  extra: { labels?: Record<string, string>; podCIDRs?: string[] } = {},
): Promise<void> {
  await core.createNode({
    body: {
      metadata: { name, ...(extra.labels && { labels: extra.labels }) },
      ...(extra.podCIDRs && { spec: { podCIDR: extra.podCIDRs[0], podCIDRs: extra.podCIDRs } }),
      status: { addresses: ip ? [{ type: 'InternalIP', address: ip }] : [] },
    },
  });
}

/** What the API says, with the selectors kube-proxy uses: key -> resourceVersion. */
export async function apiServices(core: CoreV1Api): Promise<Map<string, string>> {
  const list = await core.listServiceForAllNamespaces({
    labelSelector: PROXY_LABEL_SELECTOR,
    fieldSelector: SERVICE_FIELD_SELECTOR,
  });
  return new Map(
    list.items.map((s) => [
      `${s.metadata?.namespace}/${s.metadata?.name}`,
      s.metadata?.resourceVersion ?? '',
    ]),
  );
}

export async function apiSlices(discovery: DiscoveryV1Api): Promise<Map<string, string>> {
  const list = await discovery.listEndpointSliceForAllNamespaces({ labelSelector: PROXY_LABEL_SELECTOR });
  return new Map(
    list.items.map((s) => [
      `${s.metadata?.namespace}/${s.metadata?.name}`,
      s.metadata?.resourceVersion ?? '',
    ]),
  );
}

export function sameMap(a: Map<string, string>, b: Map<string, string>): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
}

export function mapDiff(want: Map<string, string>, got: Map<string, string>): string {
  const missing = [...want].filter(([k]) => !got.has(k)).map(([k]) => k);
  const stale = [...got].filter(([k]) => !want.has(k)).map(([k]) => k);
  const old = [...want].filter(([k, v]) => got.has(k) && got.get(k) !== v).map(([k]) => k);
  return `missing ${JSON.stringify(missing.slice(0, 10))} (${missing.length}), stale ${JSON.stringify(stale.slice(0, 10))} (${stale.length}), outdated ${JSON.stringify(old.slice(0, 10))} (${old.length})`;
}

export interface SourceUnderTest {
  source: KubernetesSource;
  recorder: Recorder;
  logs: string[];
  fatal: string[];
}

/** Creates and starts a source for NODE with the kube-proxy identity; closed after the test. */
export async function startSource(
  t: TestContext,
  cp: ControlPlane,
  opts: Partial<KubernetesSourceOptions> = {},
  start = true,
): Promise<SourceUnderTest> {
  const logs: string[] = [];
  const fatal: string[] = [];
  const recorder = new Recorder();
  const source = await createKubernetesSource({
    kubeconfig: cp.kubeProxyKubeconfig,
    qps: 50,
    burst: 100,
    contentType: 'application/json',
    configSyncPeriodMs: 15 * 60_000,
    nodeName: NODE,
    watchPodCIDRs: false,
    logger: createLogger({ verbosity: 4, sink: (l) => logs.push(l) }),
    onFatal: (r) => fatal.push(r),
    nodeIPsTimeoutMs: 2000,
    hostname: 'test-host',
    ...opts,
  });
  t.after(() => source.close());
  if (start) await source.start(recorder);
  return { source, recorder, logs, fatal };
}

export function tail(lines: string[], n = 40): string {
  return lines.slice(-n).join('\n');
}

/**
 * The reference control plane for one test (stopped after it), its admin clients, and NODE
 * registered with NODE_IP; undefined when the reference binaries are absent (the test is skipped).
 */
export async function controlPlaneWithNode(
  t: TestContext,
  opts: Omit<ControlPlaneOptions, 'binaries'> = {},
  node: Parameters<typeof createNode>[3] = {},
): Promise<{ cp: ControlPlane; core: CoreV1Api; discovery: DiscoveryV1Api } | undefined> {
  const bins = await requireApiServer(t);
  if (!bins) return undefined;
  const cp = await startControlPlane({ binaries: bins, ...opts });
  t.after(() => cp.stop());
  const { core, discovery } = clients(cp.adminConfig());
  await createNode(core, NODE, NODE_IP, node);
  return { cp, core, discovery };
}

/** A TCP forwarder in front of the apiserver (closed after the test) and a kube-proxy kubeconfig through it. */
export async function throughTcpProxy(
  t: TestContext,
  cp: ControlPlane,
  name = 'via-tcp',
): Promise<{ tcp: TcpProxy; kubeconfig: string }> {
  const tcp = await TcpProxy.start(cp.port);
  t.after(() => tcp.close());
  const kubeconfig = cp.writeUserKubeconfig(
    name,
    { token: cp.kubeProxyToken },
    `https://127.0.0.1:${tcp.port}`,
  );
  return { tcp, kubeconfig };
}
