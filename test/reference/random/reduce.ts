// Reduction of a failing seed to a small plan: only the Service the differing probe is about (every
// Service if it is about none), only the rounds up to the failing one, only that Service's probes
// before it and the differing probe itself. The CLI re-runs the reduced plan to check that it still
// differs and writes it out, ready to be kept in regressions.ts.
import { type ClusterModel, renderCluster } from './cluster.ts';
import type { SeedPlan } from './generator.ts';

export function reducePlan(plan: SeedPlan, flowId: string): SeedPlan {
  const round = plan.rounds.findIndex((r) => r.flows.some((f) => f.id === flowId));
  if (round < 0) throw new Error(`seed ${plan.seed}: no probe ${flowId}`);
  const flow = plan.rounds[round]!.flows.find((f) => f.id === flowId)!;
  const svc = flow.service;
  const keep = (m: ClusterModel): ClusterModel =>
    svc ? { ...m, services: m.services.filter((s) => `${s.ns}/${s.name}` === svc) } : m;
  return {
    ...plan,
    rounds: plan.rounds.slice(0, round + 1).map((r, i) => {
      const model = keep(r.model);
      return {
        changes: svc ? r.changes.filter((c) => c.startsWith(`${svc}:`)) : r.changes,
        model,
        objects: renderCluster(model),
        flows: i === round ? [flow] : svc ? r.flows.filter((f) => f.service === svc) : [],
      };
    }),
  };
}
