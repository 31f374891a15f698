// The one place that wires kube-proxy-ts together: flags, logger, kernel runner, proxiers, source.
// Importing it has no side effects; the entry point is kube-proxy.ts.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { IptablesBackend } from '../backends/iptables/backend.ts';
import { IptablesProxier } from '../backends/iptables/proxier.ts';
import { IpvsBackend } from '../backends/ipvs/backend.ts';
import { IPVS_DEPRECATION, type IpvsKernel, openIpvsKernel, requireIpvs } from '../backends/ipvs/kernel.ts';
import { IpvsProxier } from '../backends/ipvs/proxier.ts';
import { NftablesProxier } from '../backends/nftables/proxier.ts';
import type { WinkernelProxier } from '../backends/winkernel/proxier.ts';
import { encodeConfigYAML } from '../config/encode.ts';
import { errorMessage, KubeProxyError } from '../errors.ts';
import { ProxyHealthTracker } from '../healthcheck/proxy-health.ts';
import { ServiceHealthServer } from '../healthcheck/service-health.ts';
import { ConntrackCli } from '../kernel/conntrack.ts';
import { ProcessExecer } from '../kernel/exec.ts';
import { FakeIpSets } from '../kernel/ipset/ipset.ts';
import { detectIptablesVariant } from '../kernel/iptables/detect.ts';
import { FakeIptables } from '../kernel/iptables/fake.ts';
import { type Iptables, IptablesCli } from '../kernel/iptables/iptables.ts';
import { FakeIpvs } from '../kernel/ipvs/fake.ts';
import { FakeLinks } from '../kernel/links.ts';
import { FakeNftables } from '../kernel/nft/fake.ts';
import { NftNetlink } from '../kernel/nft/netlink/writer.ts';
import { type Nftables, NftCli } from '../kernel/nft/nftables.ts';
import type { Transaction } from '../kernel/nft/transaction.ts';
import { createLogger, type Logger } from '../log/logger.ts';
import { ChangeCounter } from '../metrics/change-counter.ts';
import { ProxyMetrics } from '../metrics/metrics.ts';
import { newSyncObserver } from '../metrics/sync-observer.ts';
import {
  detectLocalByBridgeInterface,
  detectLocalByCIDR,
  detectLocalByInterfaceNamePrefix,
  type LocalDetector,
  NO_LOCAL_DETECTOR,
} from '../proxy/local-detector.ts';
import { MetaProxier } from '../proxy/meta-proxier.ts';
import { NodeEligibility } from '../server/node-eligibility.ts';
import type { Source } from '../sources/handlers.ts';
import { createKubernetesSource } from '../sources/kubernetes/kubernetes-source.ts';
import { ManifestSource } from '../sources/manifests/manifest-source.ts';
import { setupConntrack } from '../sysctl/conntrack.ts';
import { RootedFs } from '../sysctl/fs.ts';
import { applyOOMScoreAdj } from '../sysctl/oom.ts';
import { cidrContains, type IPFamily, parseCIDR, parseIP } from '../util/ip.ts';
import { platformCleanup } from './cleanup/platform-cleanup.ts';
import { explainMain, explainPacket, parsePacketArgs } from './explain.ts';
import { formatUsage } from './flag-parser.ts';
import { tapHandlers } from './handler-taps.ts';
import {
  type Kernelspace,
  kernelspaceDryRun,
  kernelspaceOneShots,
  prepareKernelspace,
} from './kernelspace.ts';
import { FLAGS, type ProxyOptions, requireImplemented, resolveOptions } from './options.ts';
import { startServers } from './servers.ts';

const VERSION = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'))
  .version as string;

function localDetectorFor(
  opts: ProxyOptions,
  family: IPFamily,
  log: Logger,
  podCIDRs: readonly string[],
): LocalDetector {
  switch (opts.detectLocalMode) {
    case 'NodeCIDR': {
      const cidr = podCIDRs.find((c) => parseCIDR(c)?.family === family);
      if (cidr === undefined) {
        log.info('Detect-local-mode set to NodeCIDR, but no pod CIDR for family', { ipFamily: family });
        return NO_LOCAL_DETECTOR;
      }
      return detectLocalByCIDR(cidr);
    }
    case 'ClusterCIDR': {
      const cidr = opts.config.detectLocal.clusterCIDRs.find((c) => parseCIDR(c)?.family === family);
      if (cidr === undefined) {
        log.info('Detect-local-mode set to ClusterCIDR, but no cluster CIDR for family', {
          ipFamily: family,
        });
        return NO_LOCAL_DETECTOR;
      }
      return detectLocalByCIDR(cidr);
    }
    case 'BridgeInterface':
      return detectLocalByBridgeInterface(opts.config.detectLocal.bridgeInterface);
    case 'InterfaceNamePrefix':
      return detectLocalByInterfaceNamePrefix(opts.config.detectLocal.interfaceNamePrefix);
    default:
      return NO_LOCAL_DETECTOR;
  }
}

/**
 * Localhost NodePorts (iptables mode, IPv4) need the kernel to route 127/8 destinations after
 * DNAT: upstream sets route_localnet when they are on and nodePortAddresses can include loopback.
 */
function enableRouteLocalnet(opts: ProxyOptions, fs: RootedFs, log: Logger): void {
  if (!opts.localhostNodePorts) return;
  const loopback = parseIP('127.0.0.1')!;
  const cidrs = opts.config.nodePortAddresses.map((c) => parseCIDR(c)).filter((c) => c?.family === 'IPv4');
  const all = opts.config.nodePortAddresses.length === 0 || cidrs.length === 0;
  if (!all && !cidrs.some((c) => cidrContains(c!, loopback))) return;
  const path = '/proc/sys/net/ipv4/conf/all/route_localnet';
  if (fs.read(path) === '1') return;
  try {
    fs.write(path, '1');
    log.info('Set sysctl', { entry: 'net/ipv4/conf/all/route_localnet', value: 1 });
  } catch (err) {
    log.error('Failed to set sysctl; localhost NodePorts will not work', {
      entry: 'net/ipv4/conf/all/route_localnet',
      err,
    });
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
  /** iptables and ipvs modes: the runner of each family. */
  readonly iptables?: (family: IPFamily) => Iptables;
  /** ipvs mode: the kernel interfaces besides iptables. */
  readonly ipvs?: IpvsKernel;
  readonly log: Logger;
  readonly nodeName: string;
  /** Absent in dry runs: no servers are opened. */
  readonly health?: ProxyHealthTracker;
  readonly metrics?: ProxyMetrics;
  readonly changes?: ChangeCounter;
  /** This node's pod CIDRs (detect-local mode NodeCIDR), from the Node object. */
  readonly podCIDRs?: readonly string[];
  /** kernelspace mode: the prepared HNS client and networks. */
  readonly kernelspace?: Kernelspace;
}

function buildProxiers(opts: ProxyOptions, deps: ProxierDeps, fams: readonly IPFamily[] = families()) {
  const { nft, log, nodeName, health, metrics, changes, podCIDRs = [] } = deps;
  return fams.map((family) => {
    let proxier: NftablesProxier | IptablesProxier | IpvsProxier | WinkernelProxier | undefined;
    const serviceHealth = health
      ? new ServiceHealthServer({
          logger: log,
          addresses: () => proxier?.healthCheckAddresses() ?? [],
          proxyHealthy: () => health.isHealthy(),
        })
      : undefined;
    const core = {
      family,
      hostname: nodeName,
      logger: log,
      minSyncPeriodMs: opts.config.minSyncPeriodMs,
      syncPeriodMs: opts.config.syncPeriodMs,
      nodePortAddresses: opts.config.nodePortAddresses,
      localAddresses,
      ...(serviceHealth && { serviceHealth, conntrack: new ConntrackCli(new ProcessExecer()) }),
      ...(health && {
        observer: newSyncObserver({
          health,
          ...(metrics && { metrics }),
          logger: log,
          ...(changes && { syncAttempted: (f: IPFamily) => changes.syncAttempted(f) }),
        }),
      }),
    };
    const rules = {
      masqueradeAll: opts.config.linux.masqueradeAll,
      masqueradeBit: opts.masqueradeBit,
      localDetector: localDetectorFor(opts, family, log, podCIDRs),
    };
    if (opts.config.mode === 'kernelspace' && deps.kernelspace) {
      proxier = deps.kernelspace.proxier(core);
      return proxier;
    }
    if (opts.config.mode === 'ipvs' && deps.ipvs && deps.iptables) {
      proxier = new IpvsProxier({
        ...core,
        ...rules,
        ipvs: deps.ipvs.ipvs(family),
        ipsets: deps.ipvs.ipsets,
        links: deps.ipvs.links,
        iptables: deps.iptables(family),
        scheduler: opts.config.ipvs.scheduler,
        excludeCIDRs: opts.config.ipvs.excludeCIDRs,
      });
      return proxier;
    }
    proxier =
      opts.config.mode === 'iptables' && deps.iptables
        ? new IptablesProxier({
            ...core,
            ...rules,
            iptables: deps.iptables(family),
            localhostNodePorts: opts.localhostNodePorts,
            conntrackTCPLiberal: opts.config.linux.conntrack.tcpBeLiberal,
            // A dry run has no kernel to watch, and prints what it would have restored.
            monitorCanaries: health !== undefined,
            keepLastInput: health === undefined,
          })
        : new NftablesProxier({ ...core, ...rules, nft });
    return proxier;
  });
}

/** Applies the first sync to an in-memory nftables and prints the scripts instead of touching the kernel. */
async function dryRun(opts: ProxyOptions, log: Logger, nodeName: string): Promise<number> {
  if (opts.config.mode === 'kernelspace')
    return kernelspaceDryRun(opts, log, nodeName, (ks) =>
      buildProxiers(opts, { nft: new FakeNftables(), kernelspace: ks, log, nodeName }, ks.families),
    );
  if (opts.manifests === undefined)
    throw new KubeProxyError('KP_ERR_INVALID_FLAG', '--dry-run needs --manifests');
  const fake = new FakeNftables();
  const fakeIptables = new Map<IPFamily, FakeIptables>();
  const iptables = (family: IPFamily) => {
    const f = fakeIptables.get(family) ?? new FakeIptables({ family });
    fakeIptables.set(family, f);
    return f;
  };
  const fakeIpvs = new Map<IPFamily, FakeIpvs>();
  const ipvsFakes: IpvsKernel = {
    ipvs: (family) => {
      const f = new FakeIpvs();
      fakeIpvs.set(family, f);
      return f;
    },
    ipsets: new FakeIpSets(),
    links: new FakeLinks(),
  };
  const proxiers = buildProxiers(opts, { nft: fake, iptables, ipvs: ipvsFakes, log, nodeName });
  const source = new ManifestSource({ dir: opts.manifests, logger: log });
  await source.start(new MetaProxier(proxiers));
  await source.close();
  let code = 0;
  for (const p of proxiers) {
    fake.lastTransaction = undefined;
    await p.syncProxyRules();
    const script =
      p.backend instanceof IptablesBackend || p.backend instanceof IpvsBackend
        ? p.backend.lastRestoreInput
        : (fake.lastTransaction as Transaction | undefined)?.render();
    await p.close();
    if (script === undefined) {
      code = 1;
      continue;
    }
    if (p.backend instanceof IptablesBackend || p.backend instanceof IpvsBackend)
      process.stdout.write(`# ${p.family === 'IPv6' ? 'ip6tables' : 'iptables'}-restore --noflush\n`);
    process.stdout.write(script);
    const ipvs = fakeIpvs.get(p.family);
    if (ipvs) process.stdout.write(`# IPVS virtual servers (ipvsadm -Ln)\n${ipvs.listing()}`);
  }
  return code;
}

/**
 * The nftables writer --nftables-writer asks for. Should the netlink socket not open (no FFI
 * library for this platform, a seccomp profile that forbids AF_NETLINK), the nft binary still works:
 * the proxy says so and goes on with it rather than not starting.
 */
function openNftables(opts: ProxyOptions, log: Logger): Nftables {
  if (opts.nftablesWriter === 'cli' || opts.config.mode !== 'nftables')
    return new NftCli(new ProcessExecer());
  try {
    return new NftNetlink();
  } catch (err) {
    log.error('Cannot open a netlink socket for nftables; using the nft binary instead', {
      err: errorMessage(err),
    });
    return new NftCli(new ProcessExecer());
  }
}

function writeUsage(): void {
  process.stdout.write(
    `kube-proxy-ts ${VERSION}: a Kubernetes network proxy in TypeScript.\n\nThe Kubernetes network proxy runs on each node. It reflects Services as defined in the Kubernetes API\non each node and programs the kernel to balance their traffic across their backends.\n\nUsage:\n  kube-proxy-ts [flags]\n\n${formatUsage(FLAGS)}`,
  );
}

/** What upstream does before and instead of running: --write-config-to, cleanup, --init-only. */
async function runOneShots(opts: ProxyOptions, log: Logger): Promise<number | undefined> {
  if (opts.writeConfigTo !== undefined) {
    writeFileSync(opts.writeConfigTo, encodeConfigYAML(opts.config));
    log.info('Wrote configuration', { file: opts.writeConfigTo });
    return 0;
  }
  // Refused before any cleanup: a mode we cannot run must not first remove the rules of the one
  // the node runs now.
  if (!opts.cleanup) requireImplemented(opts);
  if (opts.config.mode === 'kernelspace') return kernelspaceOneShots(opts, log);
  const exec = new ProcessExecer();
  if (!opts.cleanup && opts.config.mode === 'ipvs') await requireIpvs(exec);
  const nft = new NftCli(exec);
  const failed = await platformCleanup({ exec, nft, log }, opts.config.mode, opts.cleanup);
  if (opts.cleanup) return failed ? 1 : 0;
  // At a normal start the leftovers of other modes are removed best-effort; errors were logged.
  setupConntrack(opts.config.linux.conntrack, { fs: new RootedFs(), logger: log });
  if (opts.initOnly) {
    log.info('System initialized and --init-only specified');
    return 0;
  }
  return undefined;
}

export async function main(argv: readonly string[]): Promise<number> {
  // `kube-proxy-ts explain …` is a subcommand of its own, not a proxy flag set.
  if (argv[0] === 'explain') return explainMain(argv.slice(1));
  let opts: ProxyOptions;
  try {
    opts = resolveOptions(argv);
  } catch (err) {
    process.stderr.write(`Error: ${errorMessage(err)}\n`);
    if (err instanceof KubeProxyError && err.code === 'KP_ERR_INVALID_FLAG')
      process.stderr.write(`\n${formatUsage(FLAGS)}`);
    return 1;
  }
  if (opts.help) {
    writeUsage();
    return 0;
  }
  if (opts.version !== false) {
    const raw = {
      gitVersion: `v${VERSION}`,
      platform: `${process.platform}/${process.arch}`,
      node: process.version,
    };
    process.stdout.write(opts.version === 'raw' ? `${JSON.stringify(raw)}\n` : `kube-proxy-ts v${VERSION}\n`);
    return 0;
  }
  const log = createLogger({ verbosity: opts.config.logging.verbosity, format: opts.loggingFormat });
  for (const w of opts.warnings) log.warn(w);
  for (const n of opts.notes) log.info(n);
  log.v(2, 'DetectLocalMode', { localMode: opts.detectLocalMode });
  const nodeName = opts.hostnameOverride || hostname().toLowerCase();
  if (opts.dryRun) return dryRun(opts, log, nodeName);
  const oneShot = await runOneShots(opts, log);
  if (oneShot !== undefined) return oneShot;
  if (opts.config.mode !== 'kernelspace')
    applyOOMScoreAdj(opts.config.linux.oomScoreAdj, new RootedFs(), log);

  const kernelspace =
    opts.config.mode === 'kernelspace' ? await prepareKernelspace(opts, log, nodeName) : undefined;
  const fams = kernelspace?.families ?? families();
  let iptablesOf: ((family: IPFamily) => Iptables) | undefined;
  let ipvsKernel: IpvsKernel | undefined;
  if (opts.config.mode === 'ipvs') {
    const exec = new ProcessExecer();
    const detected = await detectIptablesVariant(exec);
    log.info('Using ipvs Proxier', { nodeName, version: VERSION, variant: detected.variant });
    log.error(IPVS_DEPRECATION);
    const runners = new Map(fams.map((f) => [f, new IptablesCli(exec, f, detected.variant)] as const));
    iptablesOf = (f) => runners.get(f)!;
    ipvsKernel = await openIpvsKernel(opts, exec, fams, log);
  } else if (opts.config.mode === 'iptables') {
    const exec = new ProcessExecer();
    const detected = await detectIptablesVariant(exec);
    log.info('Using iptables Proxier', { nodeName, version: VERSION, variant: detected.variant });
    log.v(2, 'iptables variant', { reason: detected.reason });
    const runners = new Map(fams.map((f) => [f, new IptablesCli(exec, f, detected.variant)] as const));
    iptablesOf = (f) => runners.get(f)!;
    if (opts.config.nodePortAddresses.length === 0)
      log.info(
        'nodePortAddresses is unset; NodePort connections will be accepted on all local IPs. Consider using `--nodeport-addresses primary`',
      );
    enableRouteLocalnet(opts, new RootedFs(), log);
  } else if (kernelspace) {
    log.info('Using kernelspace Proxier', { nodeName, version: VERSION, hns: opts.kernelspaceHns });
  } else {
    log.info('Using nftables Proxier', { nodeName, version: VERSION });
  }
  const health = new ProxyHealthTracker(2 * opts.config.syncPeriodMs);
  const metrics = new ProxyMetrics({ mode: opts.config.mode, processMetrics: true, version: VERSION });
  const changes = new ChangeCounter(metrics, fams);
  const eligibility = new NodeEligibility(nodeName);
  let fatal: ((err: Error) => void) | undefined;
  // The explain endpoint answers from the proxiers once they exist (404 until then).
  let meta: MetaProxier | undefined;
  const servers = startServers(opts, {
    explain: {
      service: (ns, name) => meta?.describeService(ns, name),
      packet: (p) =>
        explainPacket(
          parsePacketArgs([
            `--from=${p.from}`,
            `--to=${p.to}`,
            ...(p.proto !== undefined ? [`--proto=${p.proto}`] : []),
            ...(p.iif !== undefined ? [`--iif=${p.iif}`] : []),
            `--proxy-mode=${opts.config.mode}`,
          ]),
        ),
    },
    tracker: health,
    eligibility,
    metrics,
    log,
    onFatal: (err) => fatal?.(err),
  });
  const nft = openNftables(opts, log);
  let source: Source;
  let podCIDRs: readonly string[] = [];
  let exitFatal: ((reason: string) => void) | undefined;
  if (opts.manifests !== undefined) {
    source = new ManifestSource({ dir: opts.manifests, logger: log });
  } else {
    // Waiting for this node's Node object can take a while; a signal must still stop us.
    const startup = new AbortController();
    const abortStartup = () => startup.abort(new Error('interrupted'));
    process.once('SIGTERM', abortStartup);
    process.once('SIGINT', abortStartup);
    try {
      const k8s = await createKubernetesSource({
        ...(opts.config.clientConnection.kubeconfig && {
          kubeconfig: opts.config.clientConnection.kubeconfig,
        }),
        ...(opts.master && { master: opts.master }),
        qps: opts.config.clientConnection.qps,
        burst: opts.config.clientConnection.burst,
        contentType: opts.config.clientConnection.contentType,
        configSyncPeriodMs: opts.config.configSyncPeriodMs,
        nodeName,
        watchPodCIDRs: opts.detectLocalMode === 'NodeCIDR',
        logger: log,
        onFatal: (reason) => exitFatal?.(reason),
        signal: startup.signal,
        userAgent: `kube-proxy-ts/v${VERSION} (${process.platform}/${process.arch})`,
      });
      podCIDRs = k8s.podCIDRs;
      source = k8s;
    } finally {
      process.off('SIGTERM', abortStartup);
      process.off('SIGINT', abortStartup);
    }
  }
  const proxiers = buildProxiers(
    opts,
    {
      nft,
      ...(iptablesOf && { iptables: iptablesOf }),
      ...(ipvsKernel && { ipvs: ipvsKernel }),
      ...(kernelspace && { kernelspace }),
      log,
      nodeName,
      health,
      metrics,
      changes,
      podCIDRs,
    },
    fams,
  );
  meta = new MetaProxier(proxiers);
  await source.start(
    tapHandlers(meta, {
      service: (s) => changes.service(s),
      endpointSlice: (e) => {
        kernelspace?.observeSlice(e);
        changes.endpointSlice(e);
      },
      node: (n) => eligibility.onNode(n),
      nodeDeleted: (n) => eligibility.onNodeDelete(n),
    }),
  );

  return new Promise<number>((resolve) => {
    const shutdown = (code: number) =>
      void Promise.allSettled([servers.close(), source.close(), meta.close()]).then(() => {
        nft.close?.();
        kernelspace?.close();
        resolve(code);
      });
    fatal = (err) => {
      log.error('Error running ProxyServer', { err });
      shutdown(1);
    };
    // Node IPs or pod CIDRs changed, or the node was deleted: upstream exits so that it restarts
    // with the new facts; the programmed rules stay in place meanwhile.
    exitFatal = (reason) => {
      log.error('Exiting', { reason });
      shutdown(1);
    };
    const stop = (signal: string) => {
      log.info('Received signal, shutting down; the programmed rules stay in place', { signal });
      shutdown(0);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

/**
 * Runs main() as the process: a dropped promise is logged rather than fatal, and the process exits
 * with main's code. The entry point (kube-proxy.ts) calls only this; importing this module has no
 * side effects.
 */
export function runProcess(argv: readonly string[]): void {
  process.on('unhandledRejection', (reason) => {
    // A dropped promise must not take the node's service routing down with it: log and go on.
    process.stderr.write(
      `E unhandled rejection: ${reason instanceof Error ? reason.stack : String(reason)}\n`,
    );
  });
  main(argv).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`Error: ${errorMessage(err)}\n`);
      process.exit(1);
    },
  );
}
