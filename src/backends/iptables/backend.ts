// The iptables backend (upstream pkg/proxy/iptables): each sync is one `iptables-restore --noflush
// --counters` of the filter and nat tables. It rewrites kube-proxy's fixed chains every time but
// the per-service chains only of services that changed (all of them in a full sync), so a partial
// sync's cost follows the change. Full syncs first (re-)ensure the jump rules from the built-in
// chains, which cannot be part of the restore without owning those chains whole.

import type { Iptables } from '../../kernel/iptables/iptables.ts';
import type { Logger } from '../../log/logger.ts';
import { serviceKeyOf } from '../../model/service-port.ts';
import type { IptablesLocalMatch } from '../../proxy/local-detector.ts';
import type { ProxyBackend, SyncRequest, SyncResult } from '../../proxy/types.ts';
import { categorizeEndpoints } from '../../topology/categorize-endpoints.ts';
import type { IPFamily } from '../../util/ip.ts';
import { isServiceChainName } from './names.ts';
import { PortRenderCache } from './port-render-cache.ts';
import { declaredChain, joinLines, serviceChainsOnly } from './restore-chunks.ts';
import { jumpRuleArgs, jumpRules, renderIptablesSync, type ServicePortInput } from './ruleset.ts';
import { type ChainTexts, skipUnchangedChains } from './unchanged-chains.ts';

export interface IptablesBackendOptions {
  readonly family: IPFamily;
  readonly iptables: Iptables;
  readonly logger: Logger;
  readonly masqueradeAll: boolean;
  readonly masqueradeBit: number;
  readonly localDetector: IptablesLocalMatch;
  /** --iptables-localhost-nodeports (IPv4 only). */
  readonly localhostNodePorts: boolean;
  /** nf_conntrack_tcp_be_liberal is set: no need to drop INVALID packets in KUBE-FORWARD. */
  readonly conntrackTCPLiberal: boolean;
  /** Per-service rules per iptables-nft-restore call (default NFT_RESTORE_CHUNK_LINES; tests use small ones). */
  readonly restoreChunkLines?: number;
  /** Keep the last restore input (--dry-run prints it); at 10,000 services it is 35 MB. */
  readonly keepLastInput?: boolean;
  /** How often stale chains are looked for in large clusters (upstream: syncPeriod). */
  readonly syncPeriodMs: number;
}

/** Per-service rules per iptables-nft-restore call (measured best between 2,500 and 5,000). */
export const NFT_RESTORE_CHUNK_LINES = 5000;

/** Above this many endpoints upstream drops rule comments and looks for stale chains less often. */
export const LARGE_CLUSTER_ENDPOINTS = 1000;

/**
 * The changed services (all, when `changed` is undefined) in groups of about `maxRules` rules of
 * their own chains, estimated as two per endpoint plus a few per port. One group: no passes needed.
 */
export function serviceGroups(
  ports: readonly ServicePortInput[],
  changed: ReadonlySet<string> | undefined,
  maxRules: number,
): { services: Set<string>; ports: ServicePortInput[] }[] {
  const bySvc = new Map<string, ServicePortInput[]>();
  for (const p of ports) {
    const svc = serviceKeyOf(p.sp.name.namespace, p.sp.name.name);
    if (changed && !changed.has(svc)) continue;
    const list = bySvc.get(svc) ?? [];
    list.push(p);
    bySvc.set(svc, list);
  }
  const groups: { services: Set<string>; ports: ServicePortInput[] }[] = [];
  let current = { services: new Set<string>(), ports: [] as ServicePortInput[] };
  let rules = 0;
  for (const [svc, list] of bySvc) {
    current.services.add(svc);
    for (const p of list) {
      current.ports.push(p);
      rules += 2 * p.endpoints.length + 6;
    }
    if (rules >= maxRules) {
      groups.push(current);
      current = { services: new Set(), ports: [] };
      rules = 0;
    }
  }
  if (current.services.size > 0) groups.push(current);
  return groups;
}

/** The chain names an iptables-save dump declares (`:NAME POLICY [p:b]`). */
export function chainsInSave(save: string): Set<string> {
  const out = new Set<string>();
  for (const line of save.split('\n')) if (line.startsWith(':')) out.add(declaredChain(line));
  return out;
}

export class IptablesBackend implements ProxyBackend {
  readonly mode = 'iptables';
  readonly localhostNodePorts: boolean;
  readonly family: IPFamily;
  readonly #opts: IptablesBackendOptions;
  readonly #log: Logger;
  #lastCleanup = Number.NEGATIVE_INFINITY;
  #synced = false;
  #largeClusterMode = false;
  readonly #chunkLines: number;
  #renderCache = new PortRenderCache();
  /** The fixed chains' rules as the last successful restore left them; undefined: unknown. */
  #chainTexts: ChainTexts | undefined;
  /** The last restore input, for --dry-run and debugging. */
  lastRestoreInput: string | undefined;

  constructor(opts: IptablesBackendOptions) {
    this.family = opts.family;
    this.#opts = opts;
    this.#log = opts.logger;
    // Loopback NodePorts need route_localnet, which only exists for IPv4.
    this.localhostNodePorts = opts.localhostNodePorts && opts.family === 'IPv4';
    this.#chunkLines = opts.restoreChunkLines ?? NFT_RESTORE_CHUNK_LINES;
  }

  reset(): void {
    this.#synced = false;
    this.#chainTexts = undefined;
    // Its idea of which chains are in the kernel may be wrong now: the next (full) sync re-renders.
    this.#renderCache = new PortRenderCache();
  }

  /**
   * Upstream skips the hourly full sync above LARGE_CLUSTER_ENDPOINTS: rewriting every chain of a
   * large cluster costs seconds of restores and the canaries already catch flushes.
   */
  wantsPeriodicFullSync(): boolean {
    return !this.#largeClusterMode;
  }

  /** Whether a sync succeeded since start-up or the last failure: our jump rules should be there. */
  get synced(): boolean {
    return this.#synced;
  }

  async sync(req: SyncRequest): Promise<SyncResult> {
    const ipt = this.#opts.iptables;
    if (req.full) {
      for (const j of jumpRules()) {
        await ipt.ensureChain(j.table, j.target);
        await ipt.ensureRule(j.table, j.chain, jumpRuleArgs(j), j.prepend ? 'prepend' : 'append');
      }
    }
    const ports: ServicePortInput[] = [];
    let totalEndpoints = 0;
    for (const sp of req.servicePorts.values()) {
      const endpoints = req.endpoints.get(sp.key);
      totalEndpoints += endpoints.length;
      ports.push({
        sp,
        endpoints,
        cat: () => categorizeEndpoints(endpoints, sp, req.node.name, req.node.zone),
      });
    }
    const largeClusterMode = totalEndpoints > LARGE_CLUSTER_ENDPOINTS;
    this.#largeClusterMode = largeClusterMode;
    // Stale chains: partial syncs delete those the render cache saw go out of use; a full sync asks
    // the kernel (iptables-save), which also finds chains a crash or another kube-proxy left behind
    // — in large clusters at most once a sync period, as upstream, since at 10,000 services that
    // iptables-save took seconds here. Upstream reads iptables-save on every sync.
    let existingNatChains: ReadonlySet<string> | undefined;
    let cleanup = false;
    if (req.full && (!largeClusterMode || req.startedAt - this.#lastCleanup > this.#opts.syncPeriodMs)) {
      existingNatChains = new Set();
      try {
        existingNatChains = new Set([...chainsInSave(await ipt.save('nat'))].filter(isServiceChainName));
        cleanup = true;
      } catch (err) {
        this.#log.error('Failed to execute iptables-save: stale chains will not be deleted', {
          ipFamily: this.family,
          err,
        });
      }
    }
    const options = {
      family: this.family,
      masqueradeAll: this.#opts.masqueradeAll,
      masqueradeBit: this.#opts.masqueradeBit,
      localDetector: this.#opts.localDetector,
      nodePortAddresses: req.node.nodePortIPs,
      localhostNodePorts: this.localhostNodePorts,
      largeClusterMode,
      conntrackTCPLiberal: this.#opts.conntrackTCPLiberal,
      ...(req.node.ips[0] && { nodeIP: req.node.ips[0].text }),
    };
    const common = { cache: this.#renderCache, topologyKey: `${req.node.name}\n${req.node.zone}`, options };
    // iptables-nft: many changed services (a cold start, a full resync) are rendered and restored a
    // group at a time, their own chains only; the fixed chains that point to them follow in the last
    // restore (see restore-chunks.ts). Memory then holds one group's rules instead of the whole
    // ruleset. iptables-legacy-restore re-sends a whole table per call: one input, as upstream.
    const passes: string[] = [];
    let changedServices = req.changedServices;
    let full = req.full;
    if (ipt.variant === 'nft') {
      const groups = serviceGroups(ports, full ? undefined : changedServices, this.#chunkLines);
      if (groups.length > 1) {
        for (const group of groups) {
          const pass = renderIptablesSync({
            ...common,
            full: false,
            changedServices: group.services,
            ports: group.ports,
            existingNatChains: new Set(),
            sweepCache: false,
          });
          const part = serviceChainsOnly(pass.restoreLines);
          if (part === undefined) continue;
          await ipt.restore(part, { counters: true });
          if (this.#opts.keepLastInput) passes.push(part);
        }
        // Every service's chains are in the kernel now: the last restore writes the fixed chains.
        changedServices = new Set();
        full = false;
      }
    }
    const out = renderIptablesSync({ ...common, full, changedServices, ports, existingNatChains });
    const { lines, texts } = skipUnchangedChains(out.restoreLines, req.full ? undefined : this.#chainTexts);
    const input = joinLines(lines);
    if (this.#opts.keepLastInput) this.lastRestoreInput = passes.join('') + input;
    await ipt.restore(input, { counters: true });
    this.#chainTexts = texts;
    if (cleanup) this.#lastCleanup = req.startedAt;
    this.#synced = true;
    return {
      operations: lines.reduce((n, l) => n + (l.startsWith('-') ? 1 : 0), 0),
      endpoints: totalEndpoints,
      noLocalEndpoints: out.noLocalEndpoints,
      counts: { iptables: out.counts },
    };
  }
}
