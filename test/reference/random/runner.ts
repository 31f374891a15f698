// The randomised differential's runner: one topology and control plane for many seeds. Per seed,
// upstream kube-proxy and then kube-proxy-ts run in the same node namespace through the same plan
// (the initial cluster, then each round's changes as API updates, so later rounds are partial
// syncs); every probe of every round is sampled under both and compared (compare.ts). Only the
// differences in known-differences.ts are expected.
import type { FlowResult } from '../../../src/sandbox/flows.ts';
import type { ReferenceBinaries } from '../binaries.ts';
import type { ControlPlane } from '../control-plane.ts';
import {
  DifferentialEnv,
  type FlowOutcome,
  formatOutcome,
  type KubeObject,
  type ProxyContext,
  type ProxyLauncher,
  summarizeFlow,
} from '../differential.ts';
import type { RefTopologySpec } from '../topology.ts';
import {
  BACKEND_PORTS,
  BACKENDS,
  baseObjects,
  CLUSTER_CIDRS,
  type FamilyChoice,
  NODE_IPS,
} from './cluster.ts';
import { compareFlow, worthResampling } from './compare.ts';
import { type PlanOptions, planSeed, type SeedPlan } from './generator.ts';
import { type FlowDifference, type KnownDifference, knownDifference } from './known-differences.ts';
import type { ModeDescription } from './modes.ts';
import { HOST_PORT, type ProbeFlow } from './probes.ts';

export const RANDOM_TOPOLOGY: RefTopologySpec = {
  localBackends: BACKENDS.filter((b) => b.where === 'local').map((b) => b.ip4),
  remoteBackends: BACKENDS.filter((b) => b.where === 'remote').map((b) => b.ip4),
  ports: BACKEND_PORTS.map((p) => ({ ...p })),
  echo: 'per-pod',
  probeConcurrency: 500,
  probeConcurrencyV6: 100,
  hostPorts: [{ ...HOST_PORT }],
  prefix: 'krnd',
};

/**
 * Samples per flow, all sent at once (so a silent flow costs one drop timeout, not thirty): with at
 * most three endpoints, 30 picks miss one with probability 3 * (2/3)^30 = 1.6e-5. A flow whose first
 * FIRST_SAMPLES were all rejected stops there: REJECTs cost ICMP errors, which bursts lose.
 */
export const SAMPLES = 30;
export const FIRST_SAMPLES = 5;
/** More samples of ours when it saw less than upstream, before calling it a difference. */
export const RESAMPLES = 60;

export interface SeedResult {
  mode: string;
  seed: number;
  family: FamilyChoice;
  flows: number;
  /** Flows at least one backend answered (under upstream). */
  answered: number;
  differences: (FlowDifference & {
    round: number;
    changes: string[];
    objects: KubeObject[];
    rules?: string;
  })[];
  known: (FlowDifference & { known: KnownDifference })[];
  ms: number;
  plan: SeedPlan;
}

function apiError(err: unknown): string {
  const e = err as { body?: unknown; message?: string };
  const body = typeof e.body === 'string' ? e.body : e.body ? JSON.stringify(e.body) : '';
  return `${e.message ?? String(err)}${body ? ` ${body}` : ''}`;
}

export class RandomDifferential {
  readonly env: DifferentialEnv;
  readonly bins: ReferenceBinaries;

  private constructor(env: DifferentialEnv, bins: ReferenceBinaries) {
    this.env = env;
    this.bins = bins;
  }

  /**
   * The control plane must serve both families (SERVICE_CIDRS in cluster.ts). The modes to run set
   * the pause after each sync's marker and the drop timeout (the largest any of them needs).
   */
  static async create(cp: ControlPlane, modes: readonly ModeDescription[]): Promise<RandomDifferential> {
    const settleMs = Math.max(0, ...modes.map((m) => m.settleMs ?? 0));
    const dropTimeoutMs = Math.max(0, ...modes.map((m) => m.dropTimeoutMs ?? 0));
    const env = await DifferentialEnv.create({
      controlPlane: cp,
      ...(settleMs > 0 && { settleMs }),
      ...(dropTimeoutMs > 0 && { dropTimeoutMs }),
      topology: RANDOM_TOPOLOGY,
      base: baseObjects(),
      clusterCIDR: CLUSTER_CIDRS,
      dualStackMarker: true,
    });
    return new RandomDifferential(env, cp.binaries);
  }

  close(): Promise<void> {
    return this.env.close();
  }

  /** Applies a round's objects; a refusal by kube-apiserver is a bug of the generator. */
  private async apply(plan: SeedPlan, round: number, update: boolean): Promise<void> {
    try {
      await this.env.apply(plan.rounds[round]!.objects, { update });
    } catch (err) {
      throw new Error(
        `generator bug: kube-apiserver refused seed ${plan.seed} (${plan.family}) round ${round}: ${apiError(err)}`,
        { cause: err },
      );
    }
  }

  private async measure(flows: readonly ProbeFlow[]): Promise<FlowResult[][]> {
    const first = await this.env.sample(flows.map((c) => ({ c, samples: FIRST_SAMPLES })));
    const rest = await this.env.sample(
      flows.map((c, i) => ({
        c,
        samples: first[i]!.every((r) => r.outcome === 'reject') ? 0 : SAMPLES - FIRST_SAMPLES,
      })),
    );
    return first.map((r, i) => [...r, ...rest[i]!]);
  }

  private summarize(flows: readonly ProbeFlow[], raw: readonly FlowResult[][]): FlowOutcome[] {
    return flows.map((f, i) => summarizeFlow(f, this.env.topology.resolve(f.from).src, raw[i]!));
  }

  private async runProxy(
    mode: ModeDescription,
    launcher: ProxyLauncher,
    plan: SeedPlan,
    onRound: (round: number) => Promise<void>,
  ): Promise<void> {
    const ctx: Partial<ProxyContext> = {
      masqueradeAll: plan.masqueradeAll,
      nodePortAddresses:
        plan.nodePortAddresses === 'node-ips' ? [`${NODE_IPS.IPv4}/32`, `${NODE_IPS.IPv6}/128`] : [],
    };
    await this.apply(plan, 0, false);
    await mode.prepareNode?.(this.env.topology.nodeNs);
    await this.env.startProxy(launcher, ctx);
    try {
      for (let i = 0; i < plan.rounds.length; i++) {
        if (i > 0) await this.apply(plan, i, true);
        await this.env.sync(`seed ${plan.seed} round ${i}`);
        await onRound(i);
      }
    } finally {
      await this.env.stopProxy();
    }
  }

  async runSeed(
    mode: ModeDescription,
    seed: number,
    family: FamilyChoice,
    o: PlanOptions = {},
  ): Promise<SeedResult> {
    return this.runPlan(mode, planSeed(seed, family, o));
  }

  async runPlan(mode: ModeDescription, plan: SeedPlan): Promise<SeedResult> {
    const started = performance.now();
    const upstream: FlowOutcome[][] = [];
    await this.runProxy(mode, mode.upstream(this.bins), plan, async (i) => {
      upstream[i] = this.summarize(plan.rounds[i]!.flows, await this.measure(plan.rounds[i]!.flows));
    });
    const result: SeedResult = {
      mode: mode.name,
      seed: plan.seed,
      family: plan.family,
      flows: 0,
      answered: 0,
      differences: [],
      known: [],
      ms: 0,
      plan,
    };
    await this.runProxy(mode, mode.ours(), plan, async (i) => {
      const { flows, changes, objects } = plan.rounds[i]!;
      const raw = await this.measure(flows);
      let ours = this.summarize(flows, raw);
      const up = upstream[i]!;
      const again = flows.map((f, j) => (worthResampling(f, up[j]!, ours[j]!) ? RESAMPLES : 0));
      if (again.some((n) => n > 0)) {
        const extra = await this.env.sample(flows.map((c, j) => ({ c, samples: again[j]! })));
        ours = this.summarize(
          flows,
          raw.map((r, j) => [...r, ...extra[j]!]),
        );
      }
      let rules: string | undefined;
      for (const [j, flow] of flows.entries()) {
        result.flows++;
        if (up[j]!.counts.answer > 0) result.answered++;
        const problems = compareFlow(flow, up[j]!, ours[j]!);
        if (!problems.length) continue;
        const d: FlowDifference = { mode: mode.name, flow, upstream: up[j]!, ours: ours[j]!, problems };
        const known = knownDifference(d);
        if (known) {
          result.known.push({ ...d, known });
          continue;
        }
        rules ??= await mode.rules(this.env.topology.nodeNs);
        result.differences.push({ ...d, round: i, changes, objects, rules });
      }
    });
    result.ms = Math.round(performance.now() - started);
    return result;
  }
}

/** One line per difference: seed, round, flow, the two outcomes and what differs. */
export function formatDifference(r: SeedResult, d: FlowDifference & { round?: number }): string {
  const f = d.flow;
  return [
    `${r.mode} ${r.family} seed ${r.seed} ${f.id} ${f.name} (${f.proto} ${f.dst}:${f.port}): ${d.problems.join('; ')}`,
    `    upstream: ${formatOutcome(d.upstream)} ${JSON.stringify(d.upstream.sourcesByBackend)}`,
    `    ours:     ${formatOutcome(d.ours)} ${JSON.stringify(d.ours.sourcesByBackend)}`,
  ].join('\n');
}

/** The Service (and its slices) a difference is about, for the report. */
export function objectsOf(d: { flow: ProbeFlow; objects: KubeObject[] }): KubeObject[] {
  if (!d.flow.service) return [];
  const [ns, name] = d.flow.service.split('/');
  return d.objects.filter(
    (o) =>
      o.metadata.namespace === ns &&
      (o.metadata.name === name ||
        (o.metadata as { labels?: Record<string, string> }).labels?.['kubernetes.io/service-name'] === name),
  );
}
