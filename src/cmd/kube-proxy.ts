// The one place that wires kube-proxy-ts together: flags, logger, kernel runner, proxiers, source.
import { existsSync, readFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import {
  detectLocalByBridgeInterface,
  detectLocalByCIDR,
  detectLocalByInterfaceNamePrefix,
  type LocalDetector,
  NO_LOCAL_DETECTOR,
} from '../backends/nftables/local-detector.ts';
import { TABLE } from '../backends/nftables/names.ts';
import { NftablesProxier } from '../backends/nftables/proxier.ts';
import { KubeProxyError } from '../errors.ts';
import { ProxyHealthTracker } from '../healthcheck/proxy-health.ts';
import { ServiceHealthServer } from '../healthcheck/service-health.ts';
import { ConntrackCli } from '../kernel/conntrack.ts';
import { ProcessExecer } from '../kernel/exec.ts';
import { FakeNftables } from '../kernel/nft/fake.ts';
import { type Nftables, NftCli } from '../kernel/nft/nftables.ts';
import { Transaction } from '../kernel/nft/transaction.ts';
import { createLogger, type Logger } from '../log/logger.ts';
import { MetaProxier } from '../proxy/meta-proxier.ts';
import { ManifestSource } from '../sources/manifests/manifest-source.ts';
import { type IPFamily, parseCIDR } from '../util/ip.ts';
import { formatUsage } from './flag-parser.ts';
import { FLAGS, type ProxyOptions, resolveOptions } from './options.ts';

const VERSION = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'))
  .version as string;

function localDetectorFor(opts: ProxyOptions, family: IPFamily, log: Logger): LocalDetector {
  switch (opts.detectLocalMode) {
    case 'ClusterCIDR': {
      const cidr = opts.clusterCIDRs.find((c) => parseCIDR(c)?.family === family);
      if (cidr === undefined) {
        log.info('Detect-local-mode set to ClusterCIDR, but no cluster CIDR for family', {
          ipFamily: family,
        });
        return NO_LOCAL_DETECTOR;
      }
      return detectLocalByCIDR(cidr);
    }
    case 'BridgeInterface':
      return detectLocalByBridgeInterface(opts.bridgeInterface);
    case 'InterfaceNamePrefix':
      return detectLocalByInterfaceNamePrefix(opts.interfaceNamePrefix);
    default:
      return NO_LOCAL_DETECTOR;
  }
}

function localAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined)
    .map((a) => a.address);
}

/** Dual-stack whenever the kernel has IPv6, as upstream does for nftables. */
function families(): IPFamily[] {
  return existsSync('/proc/net/if_inet6') ? ['IPv4', 'IPv6'] : ['IPv4'];
}

interface ProxierDeps {
  readonly nft: Nftables;
  readonly log: Logger;
  readonly nodeName: string;
  /** Absent in dry runs: no servers are opened. */
  readonly health?: ProxyHealthTracker;
}

function buildProxiers(opts: ProxyOptions, deps: ProxierDeps): NftablesProxier[] {
  const { nft, log, nodeName, health } = deps;
  return families().map((family) => {
    let proxier: NftablesProxier | undefined;
    const serviceHealth = health
      ? new ServiceHealthServer({
          logger: log,
          addresses: () => proxier?.healthCheckAddresses() ?? [],
          proxyHealthy: () => health.isHealthy(),
        })
      : undefined;
    proxier = new NftablesProxier({
      family,
      hostname: nodeName,
      nft,
      logger: log,
      minSyncPeriodMs: opts.minSyncPeriodMs,
      syncPeriodMs: opts.syncPeriodMs,
      masqueradeAll: opts.masqueradeAll,
      masqueradeBit: opts.masqueradeBit,
      localDetector: localDetectorFor(opts, family, log),
      nodePortAddresses: opts.nodePortAddresses,
      localAddresses,
      ...(serviceHealth && { serviceHealth, conntrack: new ConntrackCli(new ProcessExecer()) }),
      ...(health && {
        observer: {
          queued: (f: IPFamily) => health.queuedUpdate(f),
          synced: (f: IPFamily) => health.updated(f),
        },
      }),
    });
    return proxier;
  });
}

async function cleanup(nft: Nftables, log: Logger): Promise<number> {
  let failed = false;
  for (const family of ['ip', 'ip6'] as const) {
    try {
      if (await nft.hasTable(family, TABLE))
        await nft.run(new Transaction(family, TABLE).delete({ kind: 'table' }));
    } catch (err) {
      failed = true;
      log.error('Error cleaning up nftables rules', { family, err });
    }
  }
  return failed ? 1 : 0;
}

/** Applies the first sync to an in-memory nftables and prints the scripts instead of touching the kernel. */
async function dryRun(opts: ProxyOptions, log: Logger, nodeName: string): Promise<number> {
  if (opts.manifests === undefined)
    throw new KubeProxyError('KP_ERR_INVALID_FLAG', '--dry-run needs --manifests');
  const fake = new FakeNftables();
  const proxiers = buildProxiers(opts, { nft: fake, log, nodeName });
  const source = new ManifestSource({ dir: opts.manifests, logger: log });
  await source.start(new MetaProxier(proxiers));
  await source.close();
  let code = 0;
  for (const p of proxiers) {
    fake.lastTransaction = undefined;
    await p.syncProxyRules();
    const tx = fake.lastTransaction as Transaction | undefined;
    if (!tx) {
      code = 1;
      continue;
    }
    process.stdout.write(tx.render());
    await p.close();
  }
  return code;
}

export async function main(argv: readonly string[]): Promise<number> {
  let opts: ProxyOptions;
  try {
    opts = resolveOptions(argv);
  } catch (err) {
    process.stderr.write(`Error: ${(err as Error).message}\n`);
    if (err instanceof KubeProxyError && err.code === 'KP_ERR_INVALID_FLAG')
      process.stderr.write(`\n${formatUsage(FLAGS)}`);
    return 1;
  }
  if (opts.help) {
    process.stdout.write(
      `kube-proxy-ts ${VERSION}: a Kubernetes network proxy in TypeScript.\n\nUsage:\n  kube-proxy-ts [flags]\n\n${formatUsage(FLAGS)}`,
    );
    return 0;
  }
  if (opts.version) {
    process.stdout.write(`kube-proxy-ts v${VERSION}\n`);
    return 0;
  }
  const log = createLogger({ verbosity: opts.verbosity, format: opts.loggingFormat });
  const nodeName = opts.hostnameOverride || hostname().toLowerCase();
  const nft = new NftCli(new ProcessExecer());
  if (opts.cleanup) return cleanup(nft, log);
  if (opts.dryRun) return dryRun(opts, log, nodeName);
  if (opts.manifests === undefined) {
    throw new KubeProxyError(
      'KP_ERR_NOT_IMPLEMENTED',
      'the Kubernetes API source is not implemented yet: use --manifests DIR',
    );
  }

  log.info('Using nftables Proxier', { nodeName, version: VERSION });
  const health = new ProxyHealthTracker(2 * opts.syncPeriodMs);
  const proxiers = buildProxiers(opts, { nft, log, nodeName, health });
  const meta = new MetaProxier(proxiers);
  const source = new ManifestSource({ dir: opts.manifests, logger: log });
  await source.start(meta);

  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      log.info('Received signal, shutting down; the programmed rules stay in place', { signal });
      void Promise.allSettled([source.close(), meta.close()]).then(() => resolve(0));
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

process.on('unhandledRejection', (reason) => {
  // A dropped promise must not take the node's service routing down with it: log and go on.
  process.stderr.write(`E unhandled rejection: ${reason instanceof Error ? reason.stack : String(reason)}\n`);
});

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`Error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
