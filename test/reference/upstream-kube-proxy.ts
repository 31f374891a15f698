// Upstream kube-proxy (built by scripts/build-reference.sh) inside a node network namespace, against
// the reference API server, from a KubeProxyConfiguration file (kubeproxy.config.k8s.io/v1alpha1).
//
// Host safety: kube-proxy writes conntrack sysctls at start. nf_conntrack_max and the module's
// hashsize are global, the timeouts are per namespace; the configuration below sets maxPerCore/min
// to 0 and the TCP timeouts to 0s so that none of them is written (conntrack/sysctls.go skips 0).
// Everything else it programs (nftables/iptables, route_localnet) belongs to the namespace.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { register } from '../../src/sandbox/cleanup.ts';
import { run } from '../../src/sandbox/exec.ts';
import type { ExitStatus, LineProcess } from '../../src/sandbox/process.ts';
import { TIME_SCALE } from '../harness/wait.ts';
import type { ReferenceBinaries } from './binaries.ts';
import type { ProxyContext, ProxyLauncher, RunningProxy } from './differential.ts';
import { spawnWithDeathsig, tempDir } from './procs.ts';

export type ProxyMode = 'nftables' | 'iptables' | 'ipvs';

export interface UpstreamKubeProxyOptions {
  binaries: ReferenceBinaries;
  netns: string;
  /** A kubeconfig valid inside the namespace (see api-tunnel.ts). */
  kubeconfig: string;
  mode: ProxyMode;
  nodeName: string;
  clusterCIDR: string;
  /** Upstream's nftables fixture uses the primary node IP only. */
  nodePortAddresses?: string[];
  /** Merged over the generated configuration (top-level keys). */
  config?: Record<string, unknown>;
  verbosity?: number;
  masqueradeAll?: boolean;
  /** Environment for kube-proxy and its --cleanup (a PATH whose iptables is iptables-legacy, say). */
  env?: Readonly<Record<string, string>>;
}

export function kubeProxyConfiguration(o: UpstreamKubeProxyOptions): Record<string, unknown> {
  const sync = {
    syncPeriod: '30s',
    minSyncPeriod: '0s',
    masqueradeBit: 14,
    masqueradeAll: o.masqueradeAll ?? false,
  };
  return {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig: o.kubeconfig, qps: 50, burst: 100 },
    hostnameOverride: o.nodeName,
    mode: o.mode,
    clusterCIDR: o.clusterCIDR,
    detectLocalMode: 'ClusterCIDR',
    nodePortAddresses: o.nodePortAddresses ?? [],
    // Inside the namespace these ports are free by construction; nothing listens on the host.
    bindAddress: '0.0.0.0',
    healthzBindAddress: '127.0.0.1:10256',
    metricsBindAddress: '127.0.0.1:10249',
    oomScoreAdj: 0,
    iptables: { ...sync, localhostNodePorts: true },
    nftables: sync,
    ipvs: { syncPeriod: '30s', minSyncPeriod: '0s' },
    conntrack: {
      maxPerCore: 0,
      min: 0,
      tcpEstablishedTimeout: '0s',
      tcpCloseWaitTimeout: '0s',
      tcpBeLiberal: false,
      udpTimeout: '0s',
      udpStreamTimeout: '0s',
    },
    configSyncPeriod: '15m',
    logging: { verbosity: o.verbosity ?? 2 },
    ...o.config,
  };
}

export interface UpstreamKubeProxy extends RunningProxy {
  readonly process: LineProcess;
  readonly configFile: string;
}

/** Starts kube-proxy; it keeps retrying until the Node object and the API are there. */
export async function startUpstreamKubeProxy(o: UpstreamKubeProxyOptions): Promise<UpstreamKubeProxy> {
  const dir = tempDir('kp');
  const configFile = join(dir, 'kube-proxy.config.json');
  writeFileSync(configFile, `${JSON.stringify(kubeProxyConfiguration(o), null, 2)}\n`);
  const env = o.env ? ['env', ...Object.entries(o.env).map(([k, v]) => `${k}=${v}`)] : [];
  const proc = spawnWithDeathsig(`kube-proxy (${o.mode}) in ${o.netns}`, 'ip', [
    'netns',
    'exec',
    o.netns,
    ...env,
    o.binaries.kubeProxy,
    `--config=${configFile}`,
  ]);
  const unregister = register({
    teardownSync: () => {
      proc.killSync();
      rmSync(dir, { recursive: true, force: true });
    },
  });
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      try {
        await proc.stop(5000);
        // Removes what it programmed (all modes), so another proxy can take over the namespace.
        await run('ip', ['netns', 'exec', o.netns, ...env, o.binaries.kubeProxy, '--cleanup', '-v=0'], {
          allowFail: true,
          timeoutMs: 30_000 * TIME_SCALE,
        });
      } finally {
        unregister();
        rmSync(dir, { recursive: true, force: true });
      }
    })();
    return stopping;
  };
  return {
    name: `upstream kube-proxy ${o.binaries.k8sVersion} (${o.mode})`,
    process: proc,
    configFile,
    exited: proc.exited as Promise<ExitStatus>,
    tail: (n) => proc.tail(n),
    stop,
  };
}

/** The differential harness's launcher for upstream kube-proxy. */
export function upstreamLauncher(
  binaries: ReferenceBinaries,
  mode: ProxyMode = 'nftables',
  o: { env?: Readonly<Record<string, string>>; name?: string } = {},
): ProxyLauncher {
  return {
    name: o.name ?? `upstream kube-proxy ${binaries.k8sVersion} (${mode})`,
    mode,
    start: (ctx: ProxyContext) =>
      startUpstreamKubeProxy({
        binaries,
        netns: ctx.nodeNs,
        kubeconfig: ctx.kubeconfig,
        mode,
        nodeName: ctx.nodeName,
        clusterCIDR: ctx.clusterCIDR,
        nodePortAddresses: ctx.nodePortAddresses,
        ...(ctx.masqueradeAll ? { masqueradeAll: true } : {}),
        ...(o.env ? { env: o.env } : {}),
      }),
  };
}
