// Wiring of kernelspace (Windows) mode: which HNS to program (computenetwork.dll, or the in-memory
// model with --kernelspace-hns=model), what upstream does once at start (delete every HNS load
// balancer, find the network), --cleanup, and --dry-run against the model.
import { networkInterfaces } from 'node:os';
import { LoadBalancerOwnership } from '../backends/winkernel/ownership.ts';
import { WinkernelProxier } from '../backends/winkernel/proxier.ts';
import { networkName, type PreparedBackend, prepareWinkernel } from '../backends/winkernel/setup.ts';
import { KubeProxyError } from '../errors.ts';
import { deleteAllLoadBalancers, type HcnClient } from '../kernel/hns/client.ts';
import { encodeEndpoint, encodeLoadBalancer } from '../kernel/hns/documents.ts';
import { openWindowsHcn } from '../kernel/hns/ffi-client.ts';
import { HnsModel } from '../kernel/hns/model.ts';
import { ENDPOINT_FLAGS_REMOTE, NETWORK_TYPE_L2BRIDGE } from '../kernel/hns/schema.ts';
import type { Logger } from '../log/logger.ts';
import type { EndpointSlice } from '../model/k8s.ts';
import { type FamilyProxier, MetaProxier } from '../proxy/meta-proxier.ts';
import type { CoreOptions } from '../proxy/proxier.ts';
import { ManifestSource } from '../sources/manifests/manifest-source.ts';
import { type IPFamily, parseIP } from '../util/ip.ts';
import { tapHandlers } from './handler-taps.ts';
import type { ProxyOptions } from './options.ts';

/** The ID of the one network the model starts with. */
export const MODEL_NETWORK_ID = '5A1E0000-0000-4000-8000-00000000C0DE';

export interface Kernelspace {
  readonly hcn: HcnClient;
  readonly families: IPFamily[];
  proxier(core: CoreOptions): WinkernelProxier;
  /** With the model, stands in for the CNI: pods of this node get their local HNS endpoint. */
  observeSlice(slice: EndpointSlice): void;
  close(): void;
}

/** What a CNI does on a Windows node, for the model: one local endpoint per pod address of this node. */
function modelCni(model: HnsModel, nodeName: string): (slice: EndpointSlice) => void {
  return (slice) => {
    const known = new Set(
      model.endpoints().flatMap((e) => (e.IpConfigurations ?? []).map((c) => c.IpAddress)),
    );
    for (const ep of slice.endpoints ?? []) {
      if (ep.nodeName !== nodeName) continue;
      for (const address of ep.addresses ?? []) {
        const ip = parseIP(address);
        if (!ip || known.has(ip.text)) continue;
        known.add(ip.text);
        model.populateEndpoint({ id: `CNI-${ip.text}`, network: MODEL_NETWORK_ID, ip: ip.text });
      }
    }
  };
}

async function openHcn(opts: ProxyOptions): Promise<HcnClient> {
  if (opts.kernelspaceHns === 'windows') return openWindowsHcn();
  const name = networkName(opts.config.winkernel, process.env);
  return new HnsModel({ networks: [{ ID: MODEL_NETWORK_ID, Name: name, Type: NETWORK_TYPE_L2BRIDGE }] });
}

/** This node's address of a family: --bind-address when it is one, else the first non-internal one. */
function nodeIPOf(opts: ProxyOptions, family: IPFamily): string | undefined {
  const bind = parseIP(opts.config.bindAddress);
  if (bind && bind.family === family && bind.text !== '0.0.0.0' && bind.text !== '::') return bind.text;
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) {
      const ip = parseIP(a.address);
      if (!a.internal && ip?.family === family && !ip.text.startsWith('fe80:')) return ip.text;
    }
  }
  return undefined;
}

function healthzPort(opts: ProxyOptions): number {
  const m = /:(\d+)$/.exec(opts.config.healthzBindAddress);
  return m ? Number(m[1]) : 0;
}

/** Opens HNS, deletes the load balancers a previous run left (as upstream does) and prepares each family. */
export async function prepareKernelspace(
  opts: ProxyOptions,
  log: Logger,
  nodeName: string,
): Promise<Kernelspace> {
  const hcn = await openHcn(opts);
  const features = await hcn.supportedFeatures();
  log.v(3, 'Cleaning up old HNS policy lists');
  await deleteAllLoadBalancers(hcn, (err, lb) =>
    log.v(2, 'Error deleting existing loadbalancer', { lb: lb.ID, err }),
  );
  const families: IPFamily[] = [];
  const prepared = new Map<IPFamily, PreparedBackend>();
  for (const family of ['IPv4', 'IPv6'] as const) {
    const nodeIP = nodeIPOf(opts, family);
    if (nodeIP === undefined) continue;
    if (family === 'IPv6' && families.length > 0 && !features.ipv6DualStack) {
      log.info('HNS does not support IPv6 dual-stack; running single-stack', { ipFamily: 'IPv4' });
      continue;
    }
    prepared.set(
      family,
      await prepareWinkernel({
        hcn,
        config: opts.config.winkernel,
        family,
        nodeIP,
        healthzPort: healthzPort(opts),
        logger: log,
        ...(opts.kernelspaceHns === 'model' && { overlaySettleMs: 0 }),
      }),
    );
    families.push(family);
  }
  if (families.length === 0) throw new KubeProxyError('KP_ERR_HNS', 'this node has no IPv4 or IPv6 address');
  const ownership = new LoadBalancerOwnership();
  return {
    hcn,
    families,
    proxier: (core) => {
      // Windows has no conntrack: the stale UDP flow cleanup of the Linux modes does not apply.
      const { conntrack: _, ...rest } = core;
      return new WinkernelProxier({ ...rest, backend: { ...prepared.get(core.family)!, hcn, ownership } });
    },
    observeSlice: hcn instanceof HnsModel ? modelCni(hcn, nodeName) : () => {},
    close: () => hcn.close?.(),
  };
}

/**
 * --cleanup in kernelspace mode: every HNS load balancer (upstream CleanupLeftovers), and the
 * remote endpoints of the cluster network, which only kube-proxy creates. Local endpoints belong
 * to the CNI and stay. Returns whether something failed.
 */
export async function cleanupKernelspace(opts: ProxyOptions, log: Logger): Promise<boolean> {
  let failed = false;
  const hcn = await openHcn(opts);
  try {
    await deleteAllLoadBalancers(hcn, (err, lb) => {
      failed = true;
      log.error('Error deleting existing loadbalancer', { lb: lb.ID, err });
    });
    const name = opts.config.winkernel.networkName || process.env.KUBE_NETWORK || '';
    if (name === '') return failed;
    const network = await hcn.getNetworkByName(name);
    for (const ep of await hcn.listEndpointsOfNetwork(network.ID)) {
      if (((ep.Flags ?? 0) & ENDPOINT_FLAGS_REMOTE) === 0) continue;
      try {
        await hcn.deleteEndpoint(ep);
      } catch (err) {
        failed = true;
        log.error('Error deleting remote endpoint', { hnsID: ep.ID, err });
      }
    }
  } catch (err) {
    log.error('Kernelspace cleanup failed', { err });
    failed = true;
  } finally {
    hcn.close?.();
  }
  return failed;
}

/** What upstream's Windows server does instead of the Linux one-shots. */
export async function kernelspaceOneShots(opts: ProxyOptions, log: Logger): Promise<number | undefined> {
  if (opts.cleanup) return (await cleanupKernelspace(opts, log)) ? 1 : 0;
  if (opts.initOnly)
    throw new KubeProxyError('KP_ERR_NOT_IMPLEMENTED', '--init-only is not implemented on Windows');
  return undefined;
}

/** --dry-run: the first sync against the model, then the load balancers and endpoints it holds, as HCN JSON. */
export async function kernelspaceDryRun(
  opts: ProxyOptions,
  log: Logger,
  nodeName: string,
  build: (ks: Kernelspace) => readonly (FamilyProxier & { syncProxyRules(): Promise<void> })[],
): Promise<number> {
  if (opts.manifests === undefined)
    throw new KubeProxyError('KP_ERR_INVALID_FLAG', '--dry-run needs --manifests');
  if (opts.kernelspaceHns !== 'model')
    throw new KubeProxyError(
      'KP_ERR_INVALID_FLAG',
      '--dry-run in kernelspace mode needs --kernelspace-hns=model',
    );
  const ks = await prepareKernelspace(opts, log, nodeName);
  const proxiers = build(ks);
  const source = new ManifestSource({ dir: opts.manifests, logger: log });
  await source.start(tapHandlers(new MetaProxier(proxiers), { endpointSlice: (e) => ks.observeSlice(e) }));
  await source.close();
  for (const p of proxiers) await p.syncProxyRules();
  for (const p of proxiers) await p.close();
  const model = ks.hcn as HnsModel;
  // As HNS would be sent them (hcsshim's omitempty encoding).
  const doc = {
    loadBalancers: model.loadBalancers().map((lb) => JSON.parse(encodeLoadBalancer(lb))),
    endpoints: model.endpoints().map((ep) => JSON.parse(encodeEndpoint(ep))),
  };
  process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  return 0;
}
