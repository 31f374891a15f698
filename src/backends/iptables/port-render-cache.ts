// Every iptables sync writes the fixed chains whole, so every service port contributes its
// KUBE-SERVICES (and other) rules each time, and its own chains are rendered to be counted. At
// 10,000 services that was ~300 ms of a one-endpoint change. A port's lines depend only on its
// ServicePort, its endpoints, their categorisation and the sync options; the change trackers keep
// those objects while they do not change, so the lines of an unchanged port are replayed.
import type { Endpoint } from '../../model/endpoint.ts';
import type { ServicePort } from '../../model/service-port.ts';
import type { CategorizedEndpoints } from '../../topology/categorize-endpoints.ts';
import { LineBuffer } from './rule-text.ts';
import { type ServiceRulesContext, type ServiceRulesResult, writeServicePortRules } from './service-rules.ts';

const FILTER = 0;
const NAT_FIXED = 1;
const NAT_CHAIN = 2;
const NAT_SERVICE = 3;
type Tag = typeof FILTER | typeof NAT_FIXED | typeof NAT_CHAIN | typeof NAT_SERVICE;

interface PortRender {
  readonly sp: ServicePort;
  readonly endpoints: readonly Endpoint[];
  readonly options: string;
  readonly lines: readonly string[];
  readonly tags: readonly Tag[];
  /** The lines for the fixed chains only (what an unchanged port contributes to a partial sync). */
  readonly fixedLines: readonly string[];
  readonly fixedTags: readonly Tag[];
  readonly chainCount: number;
  readonly serviceRuleCount: number;
  readonly active: readonly string[];
  readonly result: ServiceRulesResult;
}

class TaggedBuffer extends LineBuffer {
  readonly #tag: Tag;
  readonly #into: { lines: string[]; tags: Tag[] };
  constructor(tag: Tag, into: { lines: string[]; tags: Tag[] }) {
    super(false);
    this.#tag = tag;
    this.#into = into;
  }
  override write(line: string): void {
    this.count++;
    this.#into.lines.push(line);
    this.#into.tags.push(this.#tag);
  }
}

/** The buffers one sync writes into; `skipped*` are the counting-only ones for unchanged ports. */
export interface SyncBuffers {
  readonly filterRules: LineBuffer;
  readonly natRules: LineBuffer;
  readonly natChains: LineBuffer;
  readonly skippedNatChains: LineBuffer;
  readonly skippedNatRules: LineBuffer;
  /** Each written port's per-service chains (a list of lists: a Set of 100,000 names per sync costs). */
  readonly activeNatChains: (readonly string[])[];
}

export type PortContext = Omit<
  ServiceRulesContext,
  'filterRules' | 'natRules' | 'natChains' | 'serviceNatRules' | 'activeNatChains'
>;

export class PortRenderCache {
  #byKey = new Map<string, PortRender>();
  #seen = new Set<string>();
  /** Chains that ports re-rendered or deleted since the last takeStale() no longer have. */
  #stale = new Set<string>();
  hits = 0;
  misses = 0;

  /** Writes one port's lines into the sync's buffers, from the cache when nothing changed. */
  write(
    out: SyncBuffers,
    ctx: PortContext,
    options: string,
    sp: ServicePort,
    endpoints: readonly Endpoint[],
    cat: () => CategorizedEndpoints,
    changed: boolean,
  ): ServiceRulesResult {
    this.#seen.add(sp.key);
    let r = this.#byKey.get(sp.key);
    const before = r;
    if (r && r.sp === sp && r.endpoints === endpoints && r.options === options) this.hits++;
    else {
      this.misses++;
      const into = { lines: [] as string[], tags: [] as Tag[] };
      const active = new Set<string>();
      const result = writeServicePortRules(
        {
          ...ctx,
          filterRules: new TaggedBuffer(FILTER, into),
          natRules: new TaggedBuffer(NAT_FIXED, into),
          natChains: new TaggedBuffer(NAT_CHAIN, into),
          serviceNatRules: new TaggedBuffer(NAT_SERVICE, into),
          activeNatChains: active,
        },
        sp,
        cat(),
      );
      const fixed = into.lines
        .map((_, i) => i)
        .filter((i) => into.tags[i] === FILTER || into.tags[i] === NAT_FIXED);
      r = {
        sp,
        endpoints,
        options,
        lines: into.lines,
        tags: into.tags,
        fixedLines: fixed.map((i) => into.lines[i]!),
        fixedTags: fixed.map((i) => into.tags[i]!),
        chainCount: into.tags.filter((t) => t === NAT_CHAIN).length,
        serviceRuleCount: into.tags.filter((t) => t === NAT_SERVICE).length,
        active: [...active],
        result,
      };
      this.#byKey.set(sp.key, r);
      if (before) {
        const now = new Set(r.active);
        for (const c of before.active) if (!now.has(c)) this.#stale.add(c);
      }
    }
    out.activeNatChains.push(r.active);
    if (!changed) {
      // Its own chains stay as they are in the kernel: only counted, as upstream counts them.
      out.skippedNatChains.count += r.chainCount;
      out.skippedNatRules.count += r.serviceRuleCount;
      for (let i = 0; i < r.fixedLines.length; i++)
        (r.fixedTags[i] === FILTER ? out.filterRules : out.natRules).write(r.fixedLines[i]!);
      return r.result;
    }
    const { lines, tags } = r;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      switch (tags[i]) {
        case FILTER:
          out.filterRules.write(line);
          break;
        case NAT_FIXED:
          out.natRules.write(line);
          break;
        case NAT_CHAIN:
          out.natChains.write(line);
          break;
        default:
          out.natRules.write(line);
      }
    }
    return r.result;
  }

  /** Forgets ports that were not written since the last call (deleted services); their chains are stale. */
  sweep(): void {
    for (const [k, r] of this.#byKey) {
      if (this.#seen.has(k)) continue;
      for (const c of r.active) this.#stale.add(c);
      this.#byKey.delete(k);
    }
    this.#seen = new Set();
  }

  /**
   * The per-service chains that went out of use since the last call. Exact while every sync since
   * the cache was made succeeded (the caller drops the cache after a failure).
   */
  takeStale(): string[] {
    const out = [...this.#stale];
    this.#stale = new Set();
    return out;
  }
}
