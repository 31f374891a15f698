// The nftables backend: one sync is one atomic transaction on table kube-proxy. A full sync
// rewrites the table; a partial sync recomputes only the services whose ports or endpoints
// changed, so its cost follows the size of the change, not of the cluster.

import type { KernelElement, Nftables } from '../../kernel/nft/nftables.ts';
import { Transaction } from '../../kernel/nft/transaction.ts';
import type { Logger } from '../../log/logger.ts';
import { type ServicePort, serviceKeyOf } from '../../model/service-port.ts';
import type { NftLocalMatch } from '../../proxy/local-detector.ts';
import type { ProxyBackend, SyncRequest, SyncResult } from '../../proxy/types.ts';
import { categorizeEndpoints } from '../../topology/categorize-endpoints.ts';
import { type IPFamily, parseIP } from '../../util/ip.ts';
import { affinityMapOwner, isAffinityName, isServiceChainName, TABLE } from './names.ts';
import {
  type AffinityMap,
  ipX,
  RulesetElements,
  type RulesetOptions,
  writeBaseRuleset,
  writeServicePort,
} from './ruleset.ts';
import { WrittenTable } from './written-table.ts';

export interface NftablesBackendOptions {
  readonly family: IPFamily;
  readonly nft: Nftables;
  readonly logger: Logger;
  readonly masqueradeAll: boolean;
  readonly masqueradeBit: number;
  readonly localDetector: NftLocalMatch;
}

/** What one service port contributed to the kernel in the last successful sync. */
interface PortState {
  readonly svcKey: string;
  readonly chains: readonly string[];
  readonly affinityMaps: readonly AffinityMap[];
  readonly endpoints: number;
  readonly noLocalInternal: boolean;
  readonly noLocalExternal: boolean;
}

/** Stale chains are deleted this long after they were flushed: older kernels notice unreferenced chains late. */
const STALE_CHAIN_GRACE_MS = 1000;

export class NftablesBackend implements ProxyBackend {
  readonly mode = 'nftables';
  /** Upstream's nftables mode never accepts NodePorts on loopback addresses. */
  readonly localhostNodePorts = false;
  readonly family: IPFamily;
  readonly #opts: NftablesBackendOptions;
  readonly #log: Logger;
  readonly #elements = new RulesetElements();
  #baseChainsRecreated = false;
  /** Service and endpoint chains the kernel holds after the last successful sync. */
  #chains = new Set<string>();
  /** Session-affinity maps the kernel holds after the last successful sync. */
  #affinityMaps = new Set<string>();
  #staleChains = new Map<string, number>();
  /** What each service port wrote in the last successful sync, by ServicePort key. */
  #ports = new Map<string, PortState>();
  #portsByService = new Map<string, Set<string>>();
  #endpointTotal = 0;
  #noLocalInternal = 0;
  #noLocalExternal = 0;
  /** What the committed transactions wrote, for the drift check. */
  readonly #written: WrittenTable;
  /** The nf_tables generation at which the kernel last matched #written. */
  #verifiedGeneration: number | undefined;

  constructor(opts: NftablesBackendOptions) {
    this.family = opts.family;
    this.#opts = opts;
    this.#log = opts.logger;
    const storages = new Map(this.#elements.all().map((s) => [s.name, s]));
    this.#written = new WrittenTable({
      counted: new Set(storages.keys()),
      elementCount: (set) => storages.get(set)?.size ?? 0,
      dynamic: isAffinityName,
    });
  }

  reset(): void {
    for (const s of this.#elements.all()) s.clear();
    this.#staleChains.clear();
    this.#written.reset();
    this.#verifiedGeneration = undefined;
  }

  /**
   * Compares the kernel's table with what this backend last wrote: the rule count of each chain it
   * wrote and the element count of each set (a deleted table, a flushed or deleted chain, a removed
   * element). With the netlink writer a tick where nothing in the namespace committed since the
   * last match costs one small dump. Returns the differences; the core then forces a full sync.
   */
  async checkDrift(): Promise<string[]> {
    if (!this.#written.written) return [];
    const counts = await this.#opts.nft.tableCounts(ipX(this.family), TABLE, this.#verifiedGeneration);
    if (counts?.unchanged) return [];
    const diffs = this.#written.diff(counts);
    this.#verifiedGeneration = diffs.length === 0 ? counts?.generation : undefined;
    return diffs;
  }

  async sync(req: SyncRequest): Promise<SyncResult> {
    const { full, startedAt: start } = req;
    await this.#deleteStaleChains(start, req);
    const tx = new Transaction(ipX(this.family), TABLE);
    const opts: RulesetOptions = {
      family: this.family,
      masqueradeAll: this.#opts.masqueradeAll,
      masqueradeMark: `0x${((1 << this.#opts.masqueradeBit) >>> 0).toString(16)}`,
      localDetector: this.#opts.localDetector,
      nodePortIPs: req.node.nodePortIPs === 'all' ? 'all' : [...req.node.nodePortIPs],
      nodeIP: req.node.ips[0],
      serviceCIDRs: [...req.serviceCIDRs],
    };
    let kernelChains = this.#chains;
    let kernelAffinity = this.#affinityMaps;
    // Which service ports to (re)write, and the previous state of those that go away.
    let visit: Iterable<ServicePort>;
    const previous = new Map<string, PortState>();
    if (full) {
      // After a restart or a failure we do not know what the kernel holds: ask it.
      kernelChains = new Set(
        (await this.#opts.nft.list(tx.family, TABLE, 'chains')).filter(isServiceChainName),
      );
      kernelAffinity = new Set(
        [
          ...(await this.#opts.nft.list(tx.family, TABLE, 'maps')),
          // per-endpoint affinity sets of earlier versions, removed below
          ...(await this.#opts.nft.list(tx.family, TABLE, 'sets')),
        ].filter(isAffinityName),
      );
      writeBaseRuleset(tx, opts, this.#elements, !this.#baseChainsRecreated);
      visit = req.servicePorts.values(); // everything in the kernel that is not rewritten is stale (below)
    } else {
      const ports: ServicePort[] = [];
      for (const svcKey of req.changedServices) {
        ports.push(...req.servicePorts.portsOf(svcKey));
        for (const spKey of this.#portsByService.get(svcKey) ?? [])
          previous.set(spKey, this.#ports.get(spKey)!);
      }
      visit = ports;
    }
    // New state of the visited ports; undefined for ports that went away.
    const updates = new Map<string, PortState | undefined>();
    for (const spKey of previous.keys()) updates.set(spKey, undefined);
    const chainExists = (c: string) => kernelChains.has(c) || this.#staleChains.has(c);
    const writtenChains = new Set<string>();
    const writtenAffinity = new Set<string>();
    // The affinity map each policy chain and port had, to carry its still-valid entries into a new map.
    const oldAffinity = new Map<string, string>();
    const previousAffinity = full
      ? kernelAffinity
      : [...previous.values()].flatMap((st) => st.affinityMaps.map((m) => m.map));
    for (const name of previousAffinity) {
      const owner = affinityMapOwner(name);
      if (owner !== undefined) oldAffinity.set(`${owner.chain} ${owner.port}`, name);
    }
    for (const sp of visit) {
      const endpoints = req.endpoints.get(sp.key);
      const cat = categorizeEndpoints(endpoints, sp, req.node.name, req.node.zone);
      const r = writeServicePort(tx, sp, cat, opts, this.#elements, chainExists);
      for (const storage of this.#elements.all()) storage.set(tx, sp.key, r.elements.get(storage) ?? []);
      for (const c of r.chains) writtenChains.add(c);
      for (const m of r.affinityMaps) {
        writtenAffinity.add(m.map);
        const old = oldAffinity.get(`${m.chain} ${m.port}`);
        if (!kernelAffinity.has(m.map) && old !== undefined && old !== m.map)
          await this.#carryAffinity(tx, old, m, sp.stickyMaxAgeSeconds);
      }
      updates.set(sp.key, {
        svcKey: serviceKeyOf(sp.name.namespace, sp.name.name),
        chains: r.chains,
        affinityMaps: r.affinityMaps,
        endpoints: endpoints.length,
        noLocalInternal: r.noLocalEndpointsInternal,
        noLocalExternal: r.noLocalEndpointsExternal,
      });
    }
    // Ports that went away give up their elements.
    for (const [spKey, st] of updates) {
      if (st === undefined) for (const storage of this.#elements.all()) storage.set(tx, spKey, []);
    }
    // Stale chains are flushed now and deleted a moment later (see #deleteStaleChains). Chain
    // names belong to one service port, so only the rewritten ports' old chains can go stale.
    const candidates = full ? kernelChains : [...previous.values()].flatMap((st) => st.chains);
    for (const chain of candidates) {
      if (writtenChains.has(chain) || this.#staleChains.has(chain)) continue;
      tx.flush({ kind: 'chain', name: chain });
      this.#staleChains.set(chain, start);
    }
    for (const c of writtenChains) this.#staleChains.delete(c);
    // After the flushes above, no rule refers to a stale map any more ("delete set" deletes maps too).
    for (const name of previousAffinity) {
      if (!writtenAffinity.has(name)) tx.delete({ kind: 'set', name, type: 'ipv4_addr' });
    }

    this.#log.v(2, 'Applying nftables transaction', {
      ipFamily: this.family,
      full,
      operations: tx.numOperations,
    });
    await this.#opts.nft.run(tx);
    this.#written.applied(tx, full);

    if (full) {
      this.#ports.clear();
      this.#portsByService.clear();
      this.#chains = new Set();
      this.#affinityMaps = new Set();
      this.#endpointTotal = 0;
      this.#noLocalInternal = 0;
      this.#noLocalExternal = 0;
    }
    for (const [spKey, st] of updates) this.#setPortState(spKey, st);
    this.#baseChainsRecreated = true;
    return {
      operations: tx.numOperations,
      endpoints: this.#endpointTotal,
      noLocalEndpoints: { internal: this.#noLocalInternal, external: this.#noLocalExternal },
    };
  }

  /** Records what a port now holds in the kernel (undefined: nothing any more). */
  #setPortState(spKey: string, st: PortState | undefined): void {
    const old = this.#ports.get(spKey);
    if (old) {
      this.#endpointTotal -= old.endpoints;
      this.#noLocalInternal -= Number(old.noLocalInternal);
      this.#noLocalExternal -= Number(old.noLocalExternal);
      for (const c of old.chains) this.#chains.delete(c);
      for (const m of old.affinityMaps) this.#affinityMaps.delete(m.map);
      const ports = this.#portsByService.get(old.svcKey);
      ports?.delete(spKey);
      if (ports?.size === 0) this.#portsByService.delete(old.svcKey);
      this.#ports.delete(spKey);
    }
    if (!st) return;
    this.#ports.set(spKey, st);
    this.#endpointTotal += st.endpoints;
    this.#noLocalInternal += Number(st.noLocalInternal);
    this.#noLocalExternal += Number(st.noLocalExternal);
    for (const c of st.chains) this.#chains.add(c);
    for (const m of st.affinityMaps) this.#affinityMaps.add(m.map);
    const ports = this.#portsByService.get(st.svcKey) ?? new Set<string>();
    ports.add(spKey);
    this.#portsByService.set(st.svcKey, ports);
  }

  /**
   * Copies the entries of a policy chain's old affinity map that still name one of its endpoints
   * into the chain's new map, with their remaining lifetime: clients of endpoints that stay keep
   * their endpoint, as with upstream's per-endpoint sets. Entries the data path adds between this
   * read and the commit are lost (those clients pick again); none can point at a removed endpoint.
   */
  async #carryAffinity(
    tx: Transaction,
    oldMap: string,
    m: AffinityMap,
    timeoutSeconds: number,
  ): Promise<void> {
    let entries: KernelElement[];
    try {
      entries = await this.#opts.nft.listElements(tx.family, TABLE, oldMap);
    } catch (err) {
      this.#log.v(2, 'Could not read an affinity map; its clients will pick again', { map: oldMap, err });
      return;
    }
    const valid = new Set(m.addresses.map((a) => parseIP(a)?.text));
    for (const e of entries) {
      const client = e.key.length === 1 ? parseIP(e.key[0]!) : undefined;
      const endpoint = e.value.length === 1 ? parseIP(e.value[0]!) : undefined;
      if (client?.family !== this.family || !endpoint || !valid.has(endpoint.text) || !e.expiresSeconds)
        continue;
      tx.add({
        kind: 'element',
        set: m.map,
        key: [client.text],
        value: endpoint.text,
        expiresSeconds: Math.min(e.expiresSeconds, timeoutSeconds),
      });
    }
  }

  async #deleteStaleChains(now: number, req: SyncRequest): Promise<void> {
    const due = [...this.#staleChains].filter(([, t]) => now - t >= STALE_CHAIN_GRACE_MS).map(([c]) => c);
    if (due.length === 0) return;
    const tx = new Transaction(ipX(this.family), TABLE);
    for (const chain of due) {
      tx.delete({ kind: 'chain', name: chain });
      this.#staleChains.delete(chain);
    }
    this.#log.v(2, 'Deleting stale nftables chains', { ipFamily: this.family, numChains: due.length });
    try {
      await this.#opts.nft.run(tx);
      this.#written.applied(tx, false);
    } catch (err) {
      // Chains that still exist are found again by the next full sync.
      req.requestFullSync();
      this.#log.error('Unable to delete stale chains; will retry later', { ipFamily: this.family, err });
    }
  }
}
