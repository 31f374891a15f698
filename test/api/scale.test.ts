// 5,000 Services against a REAL kube-apiserver: the first list comes from the watch cache in one
// answer (resourceVersion 0, as client-go), a consistent list is paginated (limit 500, continue),
// and both times are reported; the watch then carries changes at that size.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  apiServices,
  controlPlaneWithNode,
  mapDiff,
  sameMap,
  serviceBody,
  startSource,
  tail,
} from './helpers.ts';
import { waitFor } from './recorder.ts';

const COUNT = 5000;

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (i < items.length) await fn(items[i++] as T);
    }),
  );
}

test(`${COUNT} Services: cached and paginated lists, watch, initial sync time`, {
  timeout: 30 * 60_000,
}, async (t) => {
  // A /17 (32k addresses): the default /20 of the tests holds only 4,094 ClusterIPs.
  const plane = await controlPlaneWithNode(t, { serviceCIDR: '198.19.128.0/17' });
  if (!plane) return;
  const { cp, core } = plane;
  const names = Array.from({ length: COUNT }, (_, i) => `svc-${i}`);
  const t0 = performance.now();
  await pool(names, 64, (name) =>
    core.createNamespacedService({ namespace: 'default', body: serviceBody(name) }),
  );
  const createMs = performance.now() - t0;

  // Upstream's defaults: --kube-api-qps 5, --kube-api-burst 10.
  const t1 = performance.now();
  const s = await startSource(t, cp, { qps: 5, burst: 10 }, false);
  const t2 = performance.now();
  await s.source.start(s.recorder);
  const t3 = performance.now();
  const stats = s.source.stats();
  assert.equal(s.recorder.services.size, COUNT + 1, 'every Service plus "kubernetes"');
  assert.equal(stats.services?.pages, 1, 'the watch cache answers resourceVersion 0 whole');
  assert.ok(sameMap(s.recorder.versions('services'), await apiServices(core)));
  const report = (line: string) => {
    t.diagnostic(line);
    process.stdout.write(`# ${line}\n`);
  };
  report(
    `initial sync of ${COUNT + 1} Services: ${Math.round(t3 - t2)} ms in start() ` +
      `(first list from the watch cache, qps 5 / burst 10), ${Math.round(t3 - t1)} ms including the node wait; ` +
      `creating them took ${Math.round(createMs)} ms`,
  );
  // A consistent read is paginated: every page is a request through the rate limiter.
  for (const [what, limits] of [
    ['qps 5 / burst 10', { qps: 5, burst: 10 }],
    ['without the rate limiter', { qps: -1, burst: 0 }],
  ] as const) {
    const p = await startSource(t, cp, { ...limits, firstListFromCache: false }, false);
    const t5 = performance.now();
    await p.source.start(p.recorder);
    const ms = Math.round(performance.now() - t5);
    assert.equal(p.recorder.services.size, COUNT + 1);
    assert.equal(p.source.stats().services?.pages, Math.ceil((COUNT + 1) / 500), 'pages of 500');
    report(
      `initial sync of ${COUNT + 1} Services, paginated consistent list (pages of 500), ${what}: ${ms} ms`,
    );
    await p.source.close();
  }

  // The watch at this size: delete 200, create 200, update 200.
  const t4 = performance.now();
  await pool(names.slice(0, 200), 32, (name) => core.deleteNamespacedService({ namespace: 'default', name }));
  await pool(
    Array.from({ length: 200 }, (_, i) => `new-${i}`),
    32,
    (name) => core.createNamespacedService({ namespace: 'default', body: serviceBody(name) }),
  );
  await pool(names.slice(200, 400), 32, (name) =>
    core.replaceNamespacedService({
      namespace: 'default',
      name,
      body: {
        ...serviceBody(name, 81),
        metadata: {
          name,
          resourceVersion: s.recorder.services.get(`default/${name}`)?.metadata?.resourceVersion ?? '',
        },
        spec: {
          ...serviceBody(name, 81).spec,
          clusterIP: s.recorder.services.get(`default/${name}`)?.spec?.clusterIP ?? '',
        },
      },
    }),
  );
  const want = await apiServices(core);
  await waitFor(
    () => sameMap(want, s.recorder.versions('services')),
    60_000,
    () => `${mapDiff(want, s.recorder.versions('services'))}\n${tail(s.logs)}`,
  );
  t.diagnostic(
    `600 changes at ${COUNT} Services delivered ${Math.round(performance.now() - t4)} ms after the first was sent`,
  );
  assert.deepEqual(s.recorder.violations, []);
  assert.equal(stats.services?.lists, 1);
});
