// What upstream's newProxierInternal checks and finds before a winkernel proxier can run: HNS API
// v2, the network (--network-name or KUBE_NETWORK), DSR support when --enable-dsr, and on overlay
// networks the remote-subnet feature, --source-vip and this node's MAC address.
import { networkInterfaces } from 'node:os';
import { KubeProxyError } from '../../errors.ts';
import type { HcnClient } from '../../kernel/hns/client.ts';
import type { Logger } from '../../log/logger.ts';
import { type Clock, sleep } from '../../util/clock.ts';
import { type IPFamily, parseIP } from '../../util/ip.ts';
import type { WinkernelBackendOptions } from './backend.ts';
import { HostNetworkService, isOverlay, type NetworkInfo } from './hns.ts';

/** KubeProxyConfiguration.winkernel. */
export interface WinkernelConfig {
  readonly networkName: string;
  readonly sourceVip: string;
  readonly enableDSR: boolean;
  readonly rootHnsEndpointName: string;
  readonly forwardHealthCheckVip: boolean;
}

export type HostMacProvider = (nodeIP: string) => string;

/** The MAC address of the interface holding nodeIP ("" if none), as upstream's localHostMacProvider. */
export const localHostMac: HostMacProvider = (nodeIP) => {
  for (const addrs of Object.values(networkInterfaces()))
    for (const a of addrs ?? []) if (a.address === nodeIP && a.mac !== '00:00:00:00:00:00') return a.mac;
  return '';
};

export interface SetupOptions {
  readonly hcn: HcnClient;
  readonly config: WinkernelConfig;
  readonly family: IPFamily;
  readonly nodeIP: string;
  /** Port of --healthz-bind-address (0 when it is empty). */
  readonly healthzPort: number;
  readonly logger: Logger;
  readonly hostMac?: HostMacProvider;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** A CNI may add remote subnet routes after creating an overlay network: upstream waits 10 s. */
  readonly overlaySettleMs?: number;
  /** For the retries (every second, as upstream) and the overlay settle time; tests pass a manual clock. */
  readonly clock?: Clock;
  /** How many times to look for the network before giving up (upstream: forever). */
  readonly networkAttempts?: number;
  readonly signal?: AbortSignal;
}

function invalid(name: string, message: string): KubeProxyError {
  return new KubeProxyError('KP_ERR_INVALID_CONFIG', `${name}: ${message}`);
}

/** --network-name, else $KUBE_NETWORK. */
export function networkName(
  config: WinkernelConfig,
  env: Readonly<Record<string, string | undefined>>,
): string {
  const name = config.networkName !== '' ? config.networkName : (env.KUBE_NETWORK ?? '');
  if (name === '')
    throw invalid(
      'winkernel.networkName',
      'Environment variable KUBE_NETWORK and network-flag not initialized',
    );
  // It travels inside a JSON query filter only, but a name with control characters is surely a mistake.
  if ([...name].some((ch) => ch.charCodeAt(0) < 0x20))
    throw invalid('winkernel.networkName', `invalid name ${JSON.stringify(name)}`);
  return name;
}

async function findNetwork(hns: HostNetworkService, name: string, o: SetupOptions): Promise<NetworkInfo> {
  const attempts = o.networkAttempts ?? Number.POSITIVE_INFINITY;
  for (let i = 1; ; i++) {
    try {
      return await hns.getNetworkByName(name);
    } catch (err) {
      if (i >= attempts)
        throw new KubeProxyError('KP_ERR_HNS', `could not find HNS network ${name}`, { cause: err });
      o.logger.error('Unable to find HNS Network specified, please check network name and CNI deployment', {
        hnsNetworkName: name,
        err,
      });
      await sleep(1000, o.signal, o.clock); // rejects at once when the signal has aborted
    }
  }
}

export type PreparedBackend = Omit<WinkernelBackendOptions, 'family' | 'hcn' | 'logger' | 'ownership'>;

export async function prepareWinkernel(o: SetupOptions): Promise<PreparedBackend> {
  const features = await o.hcn.supportedFeatures();
  if (!features.apiV2)
    throw new KubeProxyError(
      'KP_ERR_HNS',
      'Windows HNS Api V2 required. This version of windows does not support API V2',
    );
  const name = networkName(o.config, o.env ?? process.env);
  const hns = new HostNetworkService(o.hcn, o.logger);
  let network = await findNetwork(hns, name, o);
  if (isOverlay(network)) {
    await sleep(o.overlaySettleMs ?? 10_000, o.signal, o.clock);
    network = await hns.getNetworkByName(name);
  }
  o.logger.v(1, 'Hns Network loaded', { name: network.name, id: network.id, type: network.networkType });
  // WinDSR and WinOverlay are GA and locked on in 1.37: only what HNS supports is checked.
  if (o.config.enableDSR && !features.dsr) throw new KubeProxyError('KP_ERR_HNS', 'DSR Not Supported');
  let sourceVip = '';
  let hostMac = '';
  if (isOverlay(network)) {
    if (!features.remoteSubnet) throw new KubeProxyError('KP_ERR_HNS', 'remote Subnet Not Supported');
    sourceVip = o.config.sourceVip;
    if (sourceVip === '') throw invalid('winkernel.sourceVip', 'source-vip flag not set');
    const ip = parseIP(sourceVip);
    if (!ip) throw invalid('winkernel.sourceVip', `${JSON.stringify(sourceVip)} is not an IP address`);
    // Upstream hands the one --source-vip to both families' proxiers; only say so.
    if (ip.family !== o.family)
      o.logger.warn("The source VIP is not of this proxier's IP family", { sourceVip, ipFamily: o.family });
    sourceVip = ip.text;
    hostMac = (o.hostMac ?? localHostMac)(o.nodeIP);
    if (hostMac === '')
      throw new KubeProxyError('KP_ERR_HNS', `could not find host mac address for ${o.nodeIP}`);
  }
  return {
    network,
    sourceVip,
    hostMac,
    nodeIP: o.nodeIP,
    isDSR: o.config.enableDSR,
    features,
    healthzPort: o.healthzPort,
    forwardHealthCheckVip: o.config.forwardHealthCheckVip,
    rootHnsEndpointName: o.config.rootHnsEndpointName === '' ? 'cbr0' : o.config.rootHnsEndpointName,
  };
}
