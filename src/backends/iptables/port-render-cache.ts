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

interface PortRender {
  readonly sp: ServicePort;
  readonly endpoints: readonly Endpoint[];
  readonly options: string;
  /** The port's lines in the fixed chains (KUBE-SERVICES, …): what it adds to a partial sync. */
  readonly fixedLines: readonly string[];
  readonly fixedIsFilter: readonly boolean[];
  readonly chainCount: number;
  readonly serviceRuleCount: number;
  readonly active: readonly string[];
  readonly result: ServiceRulesResult;
}

/** Passes lines on to the sync's buffer and keeps the fixed-chain ones for later syncs. */
class RecordingBuffer extends LineBuffer {
  readonly #to: LineBuffer;
  readonly #record: ((line: string) => void) | undefined;
  constructor(to: LineBuffer, record?: (line: string) => void) {
    super(false);
    this.#to = to;
    this.#record = record;
  }
  override write(line: string): void {
    this.count++;
    this.#to.write(line);
    this.#record?.(line);
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

  /**
   * Writes one port's lines into the sync's buffers. A changed port is rendered (its own chains
   * into the real buffers); an unchanged one replays its fixed-chain lines and only counts its
   * chains, unless its inputs changed under it, when it is rendered into the counting buffers.
   */
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
    const before = this.#byKey.get(sp.key);
    const valid = before?.sp === sp && before.endpoints === endpoints && before.options === options;
    if (valid && !changed) {
      out.activeNatChains.push(before.active);
      out.skippedNatChains.count += before.chainCount;
      out.skippedNatRules.count += before.serviceRuleCount;
      for (let i = 0; i < before.fixedLines.length; i++)
        (before.fixedIsFilter[i] ? out.filterRules : out.natRules).write(before.fixedLines[i]!);
      return before.result;
    }
    const fixedLines: string[] = [];
    const fixedIsFilter: boolean[] = [];
    const active = new Set<string>();
    const chainBuf = new RecordingBuffer(changed ? out.natChains : out.skippedNatChains);
    const serviceBuf = new RecordingBuffer(changed ? out.natRules : out.skippedNatRules);
    const result = writeServicePortRules(
      {
        ...ctx,
        filterRules: new RecordingBuffer(out.filterRules, (l) => {
          fixedLines.push(l);
          fixedIsFilter.push(true);
        }),
        natRules: new RecordingBuffer(out.natRules, (l) => {
          fixedLines.push(l);
          fixedIsFilter.push(false);
        }),
        natChains: chainBuf,
        serviceNatRules: serviceBuf,
        activeNatChains: active,
      },
      sp,
      cat(),
    );
    const r: PortRender = {
      sp,
      endpoints,
      options,
      fixedLines,
      fixedIsFilter,
      chainCount: chainBuf.count,
      serviceRuleCount: serviceBuf.count,
      active: [...active],
      result,
    };
    this.#byKey.set(sp.key, r);
    if (before) for (const c of before.active) if (!active.has(c)) this.#stale.add(c);
    out.activeNatChains.push(r.active);
    return result;
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
