// The randomised differential by hand (issue 19): upstream kube-proxy and kube-proxy-ts on random
// clusters, seed by seed, in each mode (test/reference/random/README.md).
//
//   npm run differential -- --seeds N [--start S] [--mode nftables|iptables-nft|iptables-legacy|ipvs|all]
//                           [--family ipv4|ipv6|dual|all] [--rounds R] [--json FILE] [--stop-on-difference]
//                           [--reduce DIR]
//
// --reduce DIR: each difference found is reduced (random/reduce.ts), the reduced plan run again, and
// if it still differs written to DIR/<mode>-<family>-<seed>-<probe>.json for regressions.ts.
// Without --family each seed takes the family seed % 3 picks (ipv4, ipv6, dual), so any run covers
// all three. `all` is the modes of this kernel; ipvs runs in a UML guest (test/uml/README.md).
// Needs root and the reference binaries (scripts/build-reference.sh). Exits 1 if a
// difference not listed in known-differences.ts was found.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureReferenceBinaries } from '../test/reference/binaries.ts';
import { startControlPlane } from '../test/reference/control-plane.ts';
import { FAMILY_CHOICES, type FamilyChoice, SERVICE_CIDRS } from '../test/reference/random/cluster.ts';
import { MODES, modeByName } from '../test/reference/random/modes.ts';
import { reducePlan } from '../test/reference/random/reduce.ts';
import {
  formatDifference,
  objectsOf,
  RandomDifferential,
  type SeedResult,
} from '../test/reference/random/runner.ts';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '10' },
    start: { type: 'string', default: '1' },
    mode: { type: 'string', default: 'all' },
    family: { type: 'string', default: 'all' },
    rounds: { type: 'string', default: '3' },
    json: { type: 'string' },
    'stop-on-difference': { type: 'boolean', default: false },
    reduce: { type: 'string' },
  },
});

function int(name: string, v: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} ${v}: want an integer >= ${min}`);
  return n;
}

const seeds = int('seeds', values.seeds, 1);
const start = int('start', values.start, 0);
const rounds = int('rounds', values.rounds, 1);
const modes = values.mode === 'all' ? MODES : values.mode.split(',').map(modeByName);
if (values.family !== 'all' && !FAMILY_CHOICES.includes(values.family as FamilyChoice))
  throw new Error(`--family ${values.family}: want one of ${FAMILY_CHOICES.join(', ')}, all`);
const familyOf = (seed: number): FamilyChoice =>
  values.family === 'all' ? FAMILY_CHOICES[seed % FAMILY_CHOICES.length]! : (values.family as FamilyChoice);

const bins = await ensureReferenceBinaries();
const cp = await startControlPlane({ binaries: bins, serviceCIDR: SERVICE_CIDRS });
const results: SeedResult[] = [];
/** The report so far (rewritten after every seed, so a crash or Ctrl-C keeps what ran). */
function writeJson(): void {
  if (!values.json) return;
  const out = results.map(({ plan, differences, ...r }) => ({
    ...r,
    differences: differences.map(({ rules, objects, ...d }) => ({
      ...d,
      objects: objectsOf({ flow: d.flow, objects }),
    })),
  }));
  writeFileSync(values.json, JSON.stringify(out, null, 1));
}
let failed = false;
try {
  const rd = await RandomDifferential.create(cp, modes);
  try {
    for (const mode of modes) {
      for (let seed = start; seed < start + seeds; seed++) {
        const r = await rd.runSeed(mode, seed, familyOf(seed), { rounds });
        results.push(r);
        writeJson();
        const svcs = r.plan.rounds[0]!.model.services.length;
        process.stdout.write(
          `${mode.name} seed ${seed} ${r.family}: ${svcs} services, ${r.flows} flows (${r.answered} answered), ` +
            `${r.differences.length} differences, ${r.known.length} known, ${(r.ms / 1000).toFixed(1)} s` +
            `${r.plan.masqueradeAll ? ' [masqueradeAll]' : ''}${r.plan.nodePortAddresses === 'default' ? ' [nodePortAddresses default]' : ''}\n`,
        );
        for (const d of r.differences) {
          failed = true;
          process.stdout.write(`${formatDifference(r, d)}\n`);
          if (d.changes.length)
            process.stdout.write(`    changes before round ${d.round}: ${d.changes.join('; ')}\n`);
          process.stdout.write(`    objects: ${JSON.stringify(objectsOf(d))}\n`);
          if (values.reduce) {
            const small = reducePlan(r.plan, d.flow.id);
            const again = await rd.runPlan(mode, small);
            const still = again.differences.length > 0;
            const file = join(values.reduce, `${mode.name}-${r.family}-${seed}-${d.flow.id}.json`);
            if (still) {
              mkdirSync(values.reduce, { recursive: true });
              writeFileSync(file, `${JSON.stringify(small, null, 1)}\n`);
            }
            process.stdout.write(
              `    reduced to ${small.rounds.at(-1)!.model.services.length} service(s), ${small.rounds.length} round(s): ${still ? `still differs, ${file}` : 'no longer differs (needs the rest of the seed)'}\n`,
            );
          }
        }
        for (const k of r.known)
          process.stdout.write(`  known (${k.known.id}): ${formatDifference(r, k).split('\n')[0]}\n`);
        if (r.differences.length && values['stop-on-difference']) break;
      }
    }
  } finally {
    await rd.close();
  }
} finally {
  await cp.stop();
}

const byMode = new Map<string, { seeds: number; flows: number; diffs: number; known: number; ms: number }>();
for (const r of results) {
  const m = byMode.get(r.mode) ?? { seeds: 0, flows: 0, diffs: 0, known: 0, ms: 0 };
  m.seeds++;
  m.flows += r.flows;
  m.diffs += r.differences.length;
  m.known += r.known.length;
  m.ms += r.ms;
  byMode.set(r.mode, m);
}
for (const [mode, m] of byMode)
  process.stdout.write(
    `== ${mode}: ${m.seeds} seeds, ${m.flows} flows, ${m.diffs} differences, ${m.known} known, ${(m.ms / 1000).toFixed(0)} s\n`,
  );
writeJson();
process.exit(failed ? 1 : 0);
