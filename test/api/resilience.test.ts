// Outages against a REAL kube-apiserver + etcd: the source must end up with exactly the API's
// state (no stale object, no missing one, deletions made while it was cut off delivered) after
// (1) kube-apiserver is stopped and restarted under churn, and (2) etcd compaction makes its
// watch resourceVersion expire (410 Gone).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CoreV1Api, DiscoveryV1Api } from '@kubernetes/client-node';
import {
  apiServices,
  apiSlices,
  controlPlaneWithNode,
  mapDiff,
  PATCH,
  type SourceUnderTest,
  sameMap,
  serviceBody,
  sliceBody,
  startSource,
  tail,
  throughTcpProxy,
} from './helpers.ts';

async function quietly<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch {
    return undefined;
  }
}

/** Random creates, updates and deletes of Services and their EndpointSlices until stopped. */
class Churn {
  readonly #core: CoreV1Api;
  readonly #discovery: DiscoveryV1Api;
  #stop = false;
  #next = 0;
  #running: Promise<void> | undefined;
  readonly names: string[] = [];
  ops = 0;
  failures = 0;

  constructor(core: CoreV1Api, discovery: DiscoveryV1Api, existing: string[]) {
    this.#core = core;
    this.#discovery = discovery;
    this.names.push(...existing);
  }

  start(): void {
    this.#running = Promise.all([this.#loop(), this.#loop(), this.#loop()]).then(() => {});
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await this.#running;
  }

  async #loop(): Promise<void> {
    while (!this.#stop) {
      const r = Math.random();
      let ok: unknown;
      if (r < 0.35 || this.names.length < 5) {
        const name = `churn-${this.#next++}`;
        ok = await quietly(
          this.#core.createNamespacedService({ namespace: 'default', body: serviceBody(name) }),
        );
        if (ok) {
          this.names.push(name);
          await quietly(
            this.#discovery.createNamespacedEndpointSlice({
              namespace: 'default',
              body: sliceBody(name, `${name}-1`, [`198.18.181.${this.#next % 250}`]),
            }),
          );
        }
      } else if (r < 0.7) {
        const name = this.names[Math.floor(Math.random() * this.names.length)]!;
        const port = 1000 + Math.floor(Math.random() * 1000);
        ok = await quietly(
          this.#core.patchNamespacedService(
            {
              namespace: 'default',
              name,
              body: { spec: { ports: [{ name: 'http', port, protocol: 'TCP' }] } },
            },
            PATCH,
          ),
        );
        await quietly(
          this.#discovery.patchNamespacedEndpointSlice(
            {
              namespace: 'default',
              name: `${name}-1`,
              body: { endpoints: [{ addresses: [`198.18.182.${port % 250}`] }] },
            },
            PATCH,
          ),
        );
      } else {
        const i = Math.floor(Math.random() * this.names.length);
        const name = this.names[i]!;
        ok = await quietly(this.#core.deleteNamespacedService({ namespace: 'default', name }));
        if (ok) {
          this.names.splice(i, 1);
          await quietly(
            this.#discovery.deleteNamespacedEndpointSlice({ namespace: 'default', name: `${name}-1` }),
          );
        }
      }
      this.ops++;
      if (!ok) {
        this.failures++;
        await sleep(100);
      } else await sleep(10);
    }
  }
}

async function seed(
  core: CoreV1Api,
  discovery: DiscoveryV1Api,
  n: number,
  prefix: string,
): Promise<string[]> {
  const names = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  await Promise.all(
    names.map(async (name, i) => {
      await core.createNamespacedService({ namespace: 'default', body: serviceBody(name) });
      await discovery.createNamespacedEndpointSlice({
        namespace: 'default',
        body: sliceBody(name, `${name}-1`, [`198.18.180.${i % 250}`]),
      });
    }),
  );
  return names;
}

/** Waits until the recorder holds exactly what the API holds (keys and resourceVersions). */
async function converge(
  s: SourceUnderTest,
  core: CoreV1Api,
  discovery: DiscoveryV1Api,
  timeoutMs: number,
): Promise<number> {
  const t0 = performance.now();
  let last = '';
  for (;;) {
    const [svcs, slices] = [await apiServices(core), await apiSlices(discovery)];
    const gotSvcs = s.recorder.versions('services');
    const gotSlices = s.recorder.versions('slices');
    if (sameMap(svcs, gotSvcs) && sameMap(slices, gotSlices)) return performance.now() - t0;
    last = `services: ${mapDiff(svcs, gotSvcs)}; slices: ${mapDiff(slices, gotSlices)}`;
    if (performance.now() - t0 > timeoutMs) {
      throw new Error(`not converged after ${timeoutMs} ms: ${last}\n${tail(s.logs, 60)}`);
    }
    await sleep(200);
  }
}

test('kube-apiserver stopped and restarted under churn: the source converges', {
  timeout: 20 * 60_000,
}, async (t) => {
  const plane = await controlPlaneWithNode(t);
  if (!plane) return;
  const { cp, core, discovery } = plane;
  const names = await seed(core, discovery, 40, 'base');
  // The source reaches the apiserver through a TCP forwarder, so it can also be kept away from
  // a restarted apiserver while objects change (and are deleted) behind its back.
  const { tcp, kubeconfig } = await throughTcpProxy(t, cp);
  const s = await startSource(t, cp, { kubeconfig });
  assert.equal(s.recorder.services.size, 41);

  const churn = new Churn(core, discovery, names);
  churn.start();
  await sleep(3000);

  await cp.stopApiserver();
  const eventsAtStop = s.recorder.events.length;
  const servicesAtStop = s.recorder.services.size;
  await sleep(3000);
  const duringOutage = s.recorder.events.slice(eventsAtStop);
  assert.deepEqual(duringOutage, [], 'nothing is delivered (nor deleted) while the apiserver is down');
  assert.equal(s.recorder.services.size, servicesAtStop, 'the proxy keeps its state during the outage');

  tcp.refuse();
  await cp.startApiserver();
  // Changes the source cannot see yet, including deletions of objects it knows.
  const victims = churn.names.splice(0, 8);
  for (const name of victims) {
    // quietly: a churn operation picked before the splice may delete it first
    await quietly(core.deleteNamespacedService({ namespace: 'default', name }));
    await quietly(discovery.deleteNamespacedEndpointSlice({ namespace: 'default', name: `${name}-1` }));
  }
  await sleep(2000);
  tcp.resume();
  await sleep(3000);
  await churn.stop();

  const ms = await converge(s, core, discovery, 90_000);
  for (const name of victims) assert.equal(s.recorder.services.has(`default/${name}`), false, name);
  assert.deepEqual(s.recorder.violations, []);
  assert.equal(s.recorder.noopUpdates, 0, 'no update without a change');
  assert.deepEqual(s.fatal, []);
  const stats = s.source.stats();
  t.diagnostic(
    `churn: ${churn.ops} operations (${churn.failures} failed during the outage); converged ${Math.round(ms)} ms after churn stopped; ` +
      `services reflector: ${JSON.stringify(stats.services)}`,
  );
  // After the restart the source either resumed its watch (the new apiserver could serve its
  // resourceVersion) or relisted (410 Gone); both are correct, but it must have reconnected.
  const svc = stats.services;
  assert.ok(
    (svc?.lists ?? 0) >= 2 || (svc?.watches ?? 0) >= 2,
    `the source reconnected after the restart: ${JSON.stringify(svc)}`,
  );
});

test('etcd compaction expires the watch (410 Gone): the relist is correct', {
  timeout: 20 * 60_000,
}, async (t) => {
  // Without the watch cache, watches are served by etcd itself, whose compaction then answers a
  // watch from an old resourceVersion with 410 (in the stream).
  const plane = await controlPlaneWithNode(t, { apiserverArgs: ['--watch-cache=false'] });
  if (!plane) return;
  const { cp, core, discovery } = plane;
  const names = await seed(core, discovery, 20, 'c');
  const { tcp, kubeconfig } = await throughTcpProxy(t, cp);
  const s = await startSource(t, cp, { kubeconfig });
  await converge(s, core, discovery, 10_000);

  tcp.refuse();
  for (const name of names.slice(0, 5)) {
    await core.deleteNamespacedService({ namespace: 'default', name });
    await discovery.deleteNamespacedEndpointSlice({ namespace: 'default', name: `${name}-1` });
  }
  for (const name of names.slice(5, 10)) {
    await core.patchNamespacedService(
      {
        namespace: 'default',
        name,
        body: { spec: { ports: [{ name: 'http', port: 9090, protocol: 'TCP' }] } },
      },
      PATCH,
    );
    await discovery.patchNamespacedEndpointSlice(
      { namespace: 'default', name: `${name}-1`, body: { endpoints: [{ addresses: ['198.18.182.9'] }] } },
      PATCH,
    );
  }
  await seed(core, discovery, 5, 'after');
  const revision = await cp.compactEtcd();
  tcp.resume();

  await converge(s, core, discovery, 60_000);
  const stats = s.source.stats();
  t.diagnostic(`compacted etcd at revision ${revision}; services: ${JSON.stringify(stats.services)}`);
  assert.ok((stats.services?.expired ?? 0) >= 1, `services saw 410: ${JSON.stringify(stats.services)}`);
  assert.ok(
    (stats.endpointslices?.expired ?? 0) >= 1,
    `slices saw 410: ${JSON.stringify(stats.endpointslices)}`,
  );
  for (const name of names.slice(0, 5)) {
    assert.ok(s.recorder.events.includes(`delete Service default/${name}`), name);
    assert.ok(s.recorder.events.includes(`delete EndpointSlice default/${name}-1`), name);
  }
  for (const name of names.slice(5, 10)) {
    assert.equal(s.recorder.services.get(`default/${name}`)?.spec?.ports?.[0]?.port, 9090);
  }
  assert.deepEqual(s.recorder.violations, []);
  assert.equal(s.recorder.noopUpdates, 0);
});
