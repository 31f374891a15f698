// Differences the randomised differential found, reduced by hand to the smallest plan that still
// shows them, kept as regression plans: CI runs each in every mode next to its random seeds. A
// plan here is a SeedPlan like a generated one (rounds of objects and probes), so the runner and
// the comparison are the same.
import { type ClusterModel, type Family, renderCluster, type ServiceModel, serviceIP } from './cluster.ts';
import type { SeedPlan } from './generator.ts';
import { type ProbeFlow, probeFlow } from './probes.ts';

export interface Regression {
  name: string;
  /** What was found, and where it was fixed or listed. */
  why: string;
  plan: SeedPlan;
}

function plan(
  seed: number,
  base: Omit<ClusterModel, 'services'>,
  rounds: { changes: string[]; services: ServiceModel[]; flows: (m: ClusterModel) => ProbeFlow[] }[],
): SeedPlan {
  return {
    seed,
    family: base.family,
    masqueradeAll: base.masqueradeAll,
    nodePortAddresses: base.nodePortAddresses,
    rounds: rounds.map((r) => {
      const model = { ...base, services: structuredClone(r.services) };
      return { changes: r.changes, objects: renderCluster(model), model, flows: r.flows(model) };
    }),
  };
}

/** BACKENDS indices (cluster.ts). */
const LOCAL_1 = 0;
const REMOTE_1 = 3;

function hairpinService(backends: number[]): ServiceModel {
  const ready = { ready: true, serving: true, terminating: false };
  return {
    ns: 'ns1',
    name: 'hairpin',
    type: 'ClusterIP',
    families: ['IPv4', 'IPv6'],
    familyPolicy: 'RequireDualStack',
    clusterIPs: ['198.19.20.10'],
    ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8001 }],
    externalIPs: [],
    lbIPs: [],
    sourceRanges: [],
    eTP: 'Cluster',
    iTP: 'Cluster',
    healthCheckNodePort: 30999,
    allocateLoadBalancerNodePorts: false,
    present: true,
    slices: (['IPv4', 'IPv6'] as const).map((family) => ({
      name: `hairpin-${family === 'IPv4' ? '4' : '6'}`,
      family,
      ports: ['http'],
      endpoints: backends.map((backend) => ({ backend, conditions: ready })),
    })),
  };
}

function hairpinFlows(round: number) {
  return (m: ClusterModel): ProbeFlow[] => {
    const s = m.services[0]!;
    const p = s.ports[0]!;
    return (['IPv4', 'IPv6'] as Family[]).flatMap((family) =>
      [{ backend: REMOTE_1 }, { backend: LOCAL_1 }, 'pod' as const].map((sender, i) =>
        probeFlow(
          `r${round}.${family}.${i}`,
          family,
          sender,
          'tcp',
          serviceIP(s.clusterIPs[0]!, family),
          80,
          'hairpin/http cluster IP',
          {
            s,
            p,
          },
        ),
      ),
    );
  };
}

export const REGRESSIONS: readonly Regression[] = [
  {
    name: 'hairpin of a remote endpoint',
    why:
      'seeds 2 and 5 (nftables, dual): a pod on another node reaching itself through this node was ' +
      'masqueraded by kube-proxy-ts (every endpoint was in its hairpin set); upstream 1.37 puts only ' +
      'local endpoints in hairpin-connections, so the reply goes pod-to-pod and the flow is lost. Fixed ' +
      'in src/backends/nftables/ruleset.ts. iptables mode masquerades every endpoint reaching itself (-s ep).',
    plan: plan(9001, { family: 'dual', masqueradeAll: false, nodePortAddresses: 'node-ips' }, [
      { changes: [], services: [hairpinService([REMOTE_1, LOCAL_1])], flows: hairpinFlows(0) },
      {
        changes: ['ns1/hairpin: the local endpoint removed (a partial sync)'],
        services: [hairpinService([REMOTE_1])],
        flows: hairpinFlows(1),
      },
    ]),
  },
];
