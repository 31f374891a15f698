// The randomised differential's pure parts (test/reference/random/): the seeded generator is
// deterministic and only builds what kube-apiserver's rules allow (the kernel-side test applies
// every object to a real kube-apiserver; here the invariants the generator relies on are checked
// over many seeds without one), and outcomes compare as documented.
import assert from 'node:assert/strict';
import { isIPv4, isIPv6 } from 'node:net';
import { describe, test } from 'node:test';
import type { FlowOutcome } from '../../reference/differential.ts';
import { BACKENDS, FAMILY_CHOICES, hasNodePorts, serviceIP } from '../../reference/random/cluster.ts';
import { compareFlow, shape, worthResampling } from '../../reference/random/compare.ts';
import { MAX_ENDPOINTS, planSeed } from '../../reference/random/generator.ts';
import { Prng } from '../../reference/random/prng.ts';
import type { ProbeFlow } from '../../reference/random/probes.ts';
import { reducePlan } from '../../reference/random/reduce.ts';

describe('Prng', () => {
  test('the same seed gives the same sequence; different seeds differ', () => {
    const seq = (s: number) =>
      Array.from(
        { length: 8 },
        (() => {
          const r = new Prng(s);
          return () => r.next();
        })(),
      );
    assert.deepEqual(seq(7), seq(7));
    assert.notDeepEqual(seq(7), seq(8));
  });

  test('int() stays in range and reaches both ends', () => {
    const r = new Prng(1);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) seen.add(r.int(3, 6));
    assert.deepEqual([...seen].sort(), [3, 4, 5, 6]);
  });

  test('a bad seed is refused with its value', () => {
    assert.throws(() => new Prng(-1), /seed -1/);
    assert.throws(() => new Prng(1.5), /seed 1.5/);
  });
});

describe('planSeed', () => {
  test('is deterministic', () => {
    assert.deepEqual(planSeed(42, 'dual'), planSeed(42, 'dual'));
    assert.notDeepEqual(planSeed(42, 'dual').rounds[0]!.objects, planSeed(43, 'dual').rounds[0]!.objects);
  });

  for (const family of FAMILY_CHOICES) {
    test(`keeps the invariants kube-apiserver and the sampling rely on (${family}, 300 seeds)`, () => {
      const kinds = new Set<string>();
      let flows = 0;
      for (let seed = 0; seed < 300; seed++) {
        const plan = planSeed(seed, family);
        assert.equal(plan.rounds.length, 3);
        assert.equal(plan.rounds[0]!.changes.length, 0);
        for (const [i, round] of plan.rounds.entries()) {
          if (i > 0) assert.ok(round.changes.length >= 1, `seed ${seed} round ${i}: no change`);
          const nodePorts = new Set<number>();
          const clusterIPs = new Set<string>();
          for (const s of round.model.services) {
            kinds.add(s.type);
            if (family === 'ipv4') assert.deepEqual(s.families, ['IPv4']);
            if (family === 'ipv6') assert.deepEqual(s.families, ['IPv6']);
            if (s.familyPolicy === 'SingleStack') assert.equal(s.families.length, 1);
            else assert.equal(s.families.length, 2);
            if (s.clusterIPs.length) {
              for (const f of s.families) {
                const ip = serviceIP(s.clusterIPs[0]!, f);
                assert.ok(f === 'IPv4' ? isIPv4(ip) : isIPv6(ip), ip);
                assert.ok(!clusterIPs.has(ip), `seed ${seed}: ClusterIP ${ip} twice`);
                clusterIPs.add(ip);
              }
            }
            const names = new Set(s.ports.map((p) => p.name));
            assert.equal(names.size, s.ports.length, `seed ${seed} ${s.name}: port names not unique`);
            if (s.ports.length > 1)
              assert.ok(!names.has(''), `seed ${seed} ${s.name}: unnamed port among several`);
            const pp = new Set(s.ports.map((p) => `${p.protocol}/${p.port}`));
            assert.equal(pp.size, s.ports.length, `seed ${seed} ${s.name}: port/protocol twice`);
            for (const p of s.ports) {
              assert.equal(p.targetPort === 8053, p.protocol === 'UDP', `${p.protocol} -> ${p.targetPort}`);
              if (hasNodePorts(s) && s.present) {
                assert.ok(!nodePorts.has(p.nodePort!), `seed ${seed}: NodePort ${p.nodePort} twice`);
                nodePorts.add(p.nodePort!);
              }
            }
            for (const f of s.families) {
              const eps = s.slices.filter((sl) => sl.family === f).flatMap((sl) => sl.endpoints);
              assert.ok(eps.length <= MAX_ENDPOINTS, `seed ${seed} ${s.name}: ${eps.length} endpoints`);
              assert.equal(new Set(eps.map((e) => e.backend)).size, eps.length, 'an endpoint twice');
            }
            for (const sl of s.slices) {
              assert.ok(s.families.includes(sl.family));
              for (const n of sl.ports) assert.ok(names.has(n), `slice port ${n} not on the Service`);
              for (const e of sl.endpoints) assert.ok(BACKENDS[e.backend]);
            }
          }
          for (const f of round.flows) {
            flows++;
            assert.ok(f.family === 'IPv4' ? isIPv4(f.dst) : isIPv6(f.dst), `${f.id} ${f.dst}`);
            if (f.affinity) assert.ok(Array.isArray(f.candidates));
          }
        }
      }
      for (const t of ['ClusterIP', 'NodePort', 'LoadBalancer', 'Headless', 'ExternalName'])
        assert.ok(kinds.has(t), t);
      assert.ok(flows > 300 * 3 * 10, `only ${flows} flows`);
    });
  }
});

function outcome(o: Partial<FlowOutcome> & { backends?: Record<string, number> }): FlowOutcome {
  const backends = o.backends ?? {};
  const answer = Object.values(backends).reduce((a, b) => a + b, 0);
  const counts = { answer, reject: 0, drop: 0, error: 0, ...o.counts };
  return {
    id: 'x',
    from: 'pod',
    proto: 'tcp',
    dst: '198.19.16.10',
    port: 80,
    output: Object.keys(backends).sort().join(', ') || 'DROP',
    masq: undefined,
    counts,
    backends,
    sourcesSeen: [],
    sourcesByBackend: Object.fromEntries(Object.keys(backends).map((b) => [b, ['198.18.0.2']])),
    errors: [],
    ...o,
  } as FlowOutcome;
}

const FLOW: ProbeFlow = {
  id: 'r0.0',
  from: 'pod',
  dst: '198.19.16.10',
  port: 80,
  family: 'IPv4',
  what: 'test',
};

describe('compareFlow', () => {
  const A = '198.18.182.1:8001';
  const B = '198.18.180.1:8001';

  test('the same backends and sources agree; a missing backend or another source does not', () => {
    assert.deepEqual(
      compareFlow(
        FLOW,
        outcome({ backends: { [A]: 10, [B]: 20 } }),
        outcome({ backends: { [A]: 5, [B]: 25 } }),
      ),
      [],
    );
    assert.equal(
      compareFlow(FLOW, outcome({ backends: { [A]: 10, [B]: 20 } }), outcome({ backends: { [A]: 30 } }))
        .length,
      1,
    );
    const masq = outcome({ backends: { [A]: 30 }, sourcesByBackend: { [A]: ['198.18.1.1'] } });
    assert.match(compareFlow(FLOW, outcome({ backends: { [A]: 30 } }), masq)[0]!, /masquerade/);
  });

  test('MIXED outcomes compare by kinds and backends, not proportions', () => {
    const u = outcome({ backends: { [A]: 17 }, counts: { answer: 17, reject: 0, drop: 13, error: 0 } });
    const o = outcome({ backends: { [A]: 12 }, counts: { answer: 12, reject: 0, drop: 18, error: 0 } });
    assert.equal(shape(u), shape(o));
    assert.deepEqual(compareFlow(FLOW, u, o), []);
    const allAnswered = outcome({ backends: { [A]: 30 } });
    assert.equal(compareFlow(FLOW, u, allAnswered).length, 1);
  });

  test('a flow rejected at all and never answered is a REJECT (lost ICMP errors); a DROP stays a DROP', () => {
    const rejected = outcome({ counts: { answer: 0, reject: 30, drop: 0, error: 0 }, output: 'REJECT' });
    const lossy = outcome({
      counts: { answer: 0, reject: 4, drop: 26, error: 0 },
      output: 'MIXED(reject=4 drop=26)',
    });
    const dropped = outcome({ counts: { answer: 0, reject: 0, drop: 30, error: 0 }, output: 'DROP' });
    assert.deepEqual(compareFlow(FLOW, rejected, lossy), []);
    assert.equal(compareFlow(FLOW, rejected, dropped).length, 1);
    assert.equal(worthResampling(FLOW, rejected, dropped), true);
    assert.equal(worthResampling(FLOW, dropped, rejected), false);
  });

  test('one silent sample among many answers is noise; a third of them is a MIXED outcome', () => {
    const answered = outcome({ backends: { [A]: 30 } });
    const stray = outcome({ backends: { [A]: 29 }, counts: { answer: 29, reject: 0, drop: 1, error: 0 } });
    const mixed = outcome({ backends: { [A]: 20 }, counts: { answer: 20, reject: 0, drop: 10, error: 0 } });
    assert.deepEqual(compareFlow(FLOW, answered, stray), []);
    const reset = outcome({ backends: { [A]: 29 }, counts: { answer: 29, reject: 1, drop: 0, error: 0 } });
    assert.deepEqual(compareFlow({ ...FLOW, affinity: true, candidates: [A] }, answered, reset), []);
    assert.equal(compareFlow(FLOW, answered, mixed).length, 1);
  });

  test('affinity: one sticky pick each, from the candidates; different picks are fine', () => {
    const f = { ...FLOW, affinity: true, candidates: [A, B] };
    assert.deepEqual(
      compareFlow(f, outcome({ backends: { [A]: 30 } }), outcome({ backends: { [B]: 30 } })),
      [],
    );
    assert.match(
      compareFlow(f, outcome({ backends: { [A]: 30 } }), outcome({ backends: { [A]: 15, [B]: 15 } }))[0]!,
      /sticky/,
    );
    const other = '198.18.182.2:8001';
    assert.match(
      compareFlow(f, outcome({ backends: { [A]: 30 } }), outcome({ backends: { [other]: 30 } }))[0]!,
      /not one of/,
    );
  });

  test('ours is sampled again only when it saw a subset of what upstream saw', () => {
    const both = outcome({ backends: { [A]: 15, [B]: 15 } });
    assert.equal(worthResampling(FLOW, both, outcome({ backends: { [A]: 30 } })), true);
    assert.equal(worthResampling(FLOW, outcome({ backends: { [A]: 30 } }), both), false);
    assert.equal(
      worthResampling(FLOW, both, outcome({ counts: { answer: 0, reject: 30, drop: 0, error: 0 } })),
      false,
    );
  });
});

describe('reducePlan', () => {
  test("keeps the differing probe's Service, the rounds up to it and that Service's probes", () => {
    const plan = planSeed(17, 'dual');
    const last = plan.rounds[2]!;
    const flow = last.flows.find((f) => f.service)!;
    const small = reducePlan(plan, flow.id);
    assert.equal(small.rounds.length, 3);
    assert.deepEqual(small.rounds[2]!.flows, [flow]);
    for (const r of small.rounds) {
      assert.ok(r.model.services.every((s) => `${s.ns}/${s.name}` === flow.service));
      assert.ok(r.flows.every((f) => f.service === flow.service));
      assert.ok(r.objects.length < plan.rounds[0]!.objects.length);
    }
    const early = plan.rounds[0]!.flows.find((f) => !f.service)!;
    const unowned = reducePlan(plan, early.id);
    assert.equal(unowned.rounds.length, 1);
    assert.deepEqual(unowned.rounds[0]!.flows, [early]);
    assert.throws(() => reducePlan(plan, 'r9.9'), /no probe r9.9/);
  });
});
