// The randomised differential in CI (issue 19): in every mode, one generated seed per family
// (IPv4, IPv6, dual-stack), each three probe rounds with random changes in between, and every
// regression plan kept from earlier findings (random/regressions.ts). Upstream kube-proxy and
// kube-proxy-ts run in turn in the same node namespace; any difference not listed in
// random/known-differences.ts fails. More seeds by hand: npm run differential -- --seeds N.
// IPVS mode runs in a UML guest (test/uml/suite.ts) with a smaller plan (its ModeDescription.ci).
//
// KPTS_DIFF_SEED picks the first seed (default 1; the families take consecutive seeds), so a CI
// job can rotate through seeds; a failure message names mode, family and seed to re-run it with.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { requireReference } from './binaries.ts';
import { type ControlPlane, startControlPlane } from './control-plane.ts';
import { FAMILY_CHOICES, SERVICE_CIDRS } from './random/cluster.ts';
import { MODES, modeByName } from './random/modes.ts';
import { REGRESSIONS } from './random/regressions.ts';
import { formatDifference, objectsOf, RandomDifferential, type SeedResult } from './random/runner.ts';

const FIRST_SEED = Number(process.env.KPTS_DIFF_SEED ?? 1);
if (!Number.isSafeInteger(FIRST_SEED) || FIRST_SEED < 0)
  throw new Error(`KPTS_DIFF_SEED=${process.env.KPTS_DIFF_SEED}: want a non-negative integer`);

// KPTS_TEST_RANDOM_MODES: the modes to run (default: all this kernel has); the UML guest runs this
// file with `ipvs` (test/uml/suite.ts).
const RUN_MODES = process.env.KPTS_TEST_RANDOM_MODES?.split(',').map(modeByName) ?? MODES;

let cp: ControlPlane | undefined;
let rd: RandomDifferential | undefined;
after(async () => {
  await rd?.close();
  await cp?.stop();
});

function report(r: SeedResult): string {
  return r.differences
    .map(
      (d) =>
        `${formatDifference(r, d)}\n    changes: ${d.changes.join('; ') || '-'}\n    objects: ${JSON.stringify(objectsOf(d))}`,
    )
    .join('\n');
}

for (const mode of RUN_MODES) {
  test(`randomised differential: upstream kube-proxy and kube-proxy-ts agree (${mode.name})`, {
    timeout: 20 * 60_000,
  }, async (t) => {
    const bins = await requireReference(t);
    if (!bins) return;
    cp ??= await startControlPlane({ binaries: bins, serviceCIDR: SERVICE_CIDRS });
    rd ??= await RandomDifferential.create(cp, RUN_MODES);
    const results: SeedResult[] = [];
    const ci = mode.ci ?? { families: FAMILY_CHOICES, rounds: 3, regressions: true };
    // Progress on stderr as each seed ends (a UML guest streams it; TAP holds diagnostics to the end).
    const done = (r: SeedResult) => {
      results.push(r);
      process.stderr.write(
        `random differential: ${mode.name} ${r.family} seed ${r.seed}: ${r.flows} flows, ${(r.ms / 1000).toFixed(1)} s\n`,
      );
    };
    for (const [i, family] of ci.families.entries())
      done(await rd.runSeed(mode, FIRST_SEED + i, family, { rounds: ci.rounds }));
    if (ci.regressions) for (const reg of REGRESSIONS) done(await rd.runPlan(mode, reg.plan));
    const flows = results.reduce((n, r) => n + r.flows, 0);
    const answered = results.reduce((n, r) => n + r.answered, 0);
    for (const r of results) {
      t.diagnostic(
        `${mode.name} ${r.family} seed ${r.seed}: ${r.flows} flows, ${r.answered} answered, ${r.known.length} known differences, ${(r.ms / 1000).toFixed(1)} s`,
      );
      for (const k of r.known)
        t.diagnostic(`  known (${k.known.id}): ${formatDifference(r, k).split('\n')[0]}`);
    }
    assert.deepEqual(
      results.flatMap((r) => r.differences.map((d) => `${r.family} seed ${r.seed} ${d.flow.id}`)),
      [],
      results.map(report).filter(Boolean).join('\n'),
    );
    // Two empty runs would agree too: traffic really flowed.
    assert.ok(answered > flows / 5, `only ${answered} of ${flows} flows were answered`);
  });
}
