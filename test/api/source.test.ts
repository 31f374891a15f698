// The Kubernetes API source against a REAL kube-apiserver + etcd (the reference binaries): objects
// created, updated and deleted with the official client reach the handlers; upstream's selectors;
// node semantics (NodeManager); auth variants (kubeconfig tokenFile, in-cluster, http:// master);
// the Starting event; the watchdog on a silent connection.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { EventsV1Api, NetworkingV1Api } from '@kubernetes/client-node';
import { createLogger, type Logger } from '../../src/log/logger.ts';
import { spawnWithDeathsig } from '../reference/procs.ts';
import { ManualClock } from '../support/manual-clock.ts';
import { settled } from '../support/settled.ts';
import {
  apiServices,
  apiSlices,
  controlPlaneWithNode,
  createNode,
  mapDiff,
  NODE,
  NODE_IP,
  PATCH,
  sameMap,
  serviceBody,
  sliceBody,
  startSource,
  tail,
  throughTcpProxy,
} from './helpers.ts';
import { advanceUntil, waitFor } from './recorder.ts';

const ZONE = 'topology.kubernetes.io/zone';

/** A manual clock and a logger whose lines can be waited for (the source's waits on that clock). */
function logged(): { clock: ManualClock; logger: Logger; saw: (text: string) => boolean } {
  const lines: string[] = [];
  return {
    clock: new ManualClock(),
    logger: createLogger({ verbosity: 4, sink: (l) => lines.push(l) }),
    saw: (text) => lines.some((l) => l.includes(text)),
  };
}

test('Kubernetes API source against a real kube-apiserver', { timeout: 30 * 60_000 }, async (t) => {
  const plane = await controlPlaneWithNode(t, {}, { labels: { [ZONE]: 'zone-a' } });
  if (!plane) return;
  const { cp, core, discovery } = plane;
  await core.createNamespacedService({ namespace: 'default', body: serviceBody('pre') });
  await discovery.createNamespacedEndpointSlice({
    namespace: 'default',
    body: sliceBody('pre', 'pre-1', ['198.18.180.1']),
  });

  await t.test('initial sync: node first, then services, slices and the service CIDRs', async (t) => {
    const s = await startSource(t, cp);
    const ev = s.recorder.events;
    assert.deepEqual(ev.slice(0, 2), [`add Node ${NODE}`, 'nodeSynced']);
    assert.deepEqual(s.source.nodeIPs, [NODE_IP]);
    assert.equal(s.source.hasSynced(), true);
    assert.equal(s.recorder.servicesSynced, 1);
    assert.equal(s.recorder.slicesSynced, 1);
    assert.deepEqual(s.recorder.cidrs, ['198.19.16.0/20'], 'the default ServiceCIDR');
    assert.ok(s.recorder.services.has('default/pre') && s.recorder.services.has('default/kubernetes'));
    assert.ok(s.recorder.slices.has('default/pre-1'));
    assert.ok(ev.indexOf('add Service default/pre') < ev.indexOf('servicesSynced'));
    assert.ok(ev.indexOf('add EndpointSlice default/pre-1') < ev.indexOf('endpointSlicesSynced'));
    assert.deepEqual(s.recorder.violations, []);
    assert.deepEqual(s.fatal, []);
  });

  await t.test('create, update and delete of Services and EndpointSlices reach the handlers', async (t) => {
    const s = await startSource(t, cp);
    const r = s.recorder;
    await core.createNamespacedService({ namespace: 'default', body: serviceBody('web') });
    const trigger = '2026-11-26T09:00:00Z';
    await discovery.createNamespacedEndpointSlice({
      namespace: 'default',
      body: sliceBody('web', 'web-1', ['198.18.180.2'], 8080, {
        'endpoints.kubernetes.io/last-change-trigger-time': trigger,
      }),
    });
    await waitFor(() => r.services.has('default/web') && r.slices.has('default/web-1'), 10_000, 'adds');
    assert.equal(
      r.slices.get('default/web-1')?.metadata?.annotations?.[
        'endpoints.kubernetes.io/last-change-trigger-time'
      ],
      trigger,
      'the trigger-time annotation is carried untouched',
    );
    assert.equal(r.services.get('default/web')?.spec?.ports?.[0]?.port, 80);

    await core.patchNamespacedService(
      {
        namespace: 'default',
        name: 'web',
        body: { spec: { ports: [{ name: 'http', port: 81, protocol: 'TCP' }] } },
      },
      PATCH,
    );
    await discovery.patchNamespacedEndpointSlice(
      { namespace: 'default', name: 'web-1', body: { endpoints: [{ addresses: ['198.18.180.3'] }] } },
      PATCH,
    );
    await waitFor(
      () =>
        r.services.get('default/web')?.spec?.ports?.[0]?.port === 81 &&
        r.slices.get('default/web-1')?.endpoints?.[0]?.addresses?.[0] === '198.18.180.3',
      10_000,
      'updates',
    );
    await discovery.deleteNamespacedEndpointSlice({ namespace: 'default', name: 'web-1' });
    await core.deleteNamespacedService({ namespace: 'default', name: 'web' });
    await waitFor(() => !r.services.has('default/web') && !r.slices.has('default/web-1'), 10_000, 'deletes');
    assert.ok(r.events.includes('update Service default/web'));
    assert.ok(r.events.includes('update EndpointSlice default/web-1'));
    assert.deepEqual(r.violations, []);
    assert.equal(r.noopUpdates, 0);
  });

  await t.test(
    'upstream selectors: headless and other-proxy objects are filtered by the server',
    async (t) => {
      const s = await startSource(t, cp);
      const r = s.recorder;
      await core.createNamespacedService({
        namespace: 'default',
        body: { metadata: { name: 'headless' }, spec: { clusterIP: 'None', ports: [{ port: 80 }] } },
      });
      await core.createNamespacedService({
        namespace: 'default',
        body: serviceBody('other-proxy', 80, {
          labels: { 'service.kubernetes.io/service-proxy-name': 'other' },
        }),
      });
      await core.createNamespacedService({ namespace: 'default', body: serviceBody('mine') });
      const headlessSlice = sliceBody('headless', 'headless-1', ['198.18.180.4']);
      headlessSlice.metadata.labels['service.kubernetes.io/headless'] = '';
      await discovery.createNamespacedEndpointSlice({ namespace: 'default', body: headlessSlice });
      await discovery.createNamespacedEndpointSlice({
        namespace: 'default',
        body: sliceBody('mine', 'mine-1', ['198.18.180.5']),
      });
      await waitFor(
        () => r.services.has('default/mine') && r.slices.has('default/mine-1'),
        10_000,
        'the proxied ones',
      );
      assert.equal(r.services.has('default/headless'), false);
      assert.equal(r.services.has('default/other-proxy'), false);
      assert.equal(r.slices.has('default/headless-1'), false);
      // A label that makes an object leave the selection is a delete for the watcher.
      await core.patchNamespacedService(
        {
          namespace: 'default',
          name: 'mine',
          body: { metadata: { labels: { 'service.kubernetes.io/service-proxy-name': 'other' } } },
        },
        PATCH,
      );
      await waitFor(() => !r.services.has('default/mine'), 10_000, 'delete on label change');
      assert.deepEqual(r.violations, []);
    },
  );

  await t.test('ServiceCIDR objects reach the proxy as their union', async (t) => {
    const s = await startSource(t, cp);
    const r = s.recorder;
    const net = cp.adminConfig().makeApiClient(NetworkingV1Api);
    await net.createServiceCIDR({
      body: { metadata: { name: 'extra' }, spec: { cidrs: ['198.19.64.0/24'] } },
    });
    await waitFor(() => r.cidrs?.join(',') === '198.19.16.0/20,198.19.64.0/24', 10_000, 'union with extra');
    const changes = r.cidrChanges;
    await net.deleteServiceCIDR({ name: 'extra' });
    await waitFor(
      () => r.cidrs?.join(',') === '198.19.16.0/20',
      20_000,
      () => `union back: ${r.cidrs}`,
    );
    assert.ok(r.cidrChanges > changes);
  });

  await t.test('node: a zone label change is an update; IP change and deletion are fatal', async (t) => {
    const s = await startSource(t, cp);
    await core.patchNode({ name: NODE, body: { metadata: { labels: { [ZONE]: 'zone-b' } } } }, PATCH);
    await waitFor(() => s.recorder.node?.metadata?.labels?.[ZONE] === 'zone-b', 10_000, 'zone update');
    assert.deepEqual(s.fatal, []);

    await createNode(core, 'node-b', '198.19.1.2');
    const b = await startSource(t, cp, { nodeName: 'node-b' });
    await core.patchNodeStatus(
      { name: 'node-b', body: { status: { addresses: [{ type: 'InternalIP', address: '198.19.1.3' }] } } },
      PATCH,
    );
    await waitFor(() => b.fatal.length === 1, 10_000, 'fatal on IP change');
    assert.match(b.fatal[0] ?? '', /NodeIPs changed.*198\.19\.1\.2.*198\.19\.1\.3/);

    await createNode(core, 'node-c', '198.19.1.4');
    const c = await startSource(t, cp, { nodeName: 'node-c' });
    await core.deleteNode({ name: 'node-c' });
    await waitFor(() => c.fatal.length === 1, 10_000, 'fatal on deletion');
    assert.equal(c.fatal[0], 'Node is being deleted');
    assert.deepEqual(s.fatal, [], 'other nodes do not matter');
  });

  await t.test('NodeCIDR mode waits for pod CIDRs, and fails when none come', async (t) => {
    // The waits run on a manual clock: a timeout fires exactly when the test moves time past it.
    await createNode(core, 'node-d', '198.19.1.5');
    const d = logged();
    const pending = startSource(
      t,
      cp,
      {
        nodeName: 'node-d',
        watchPodCIDRs: true,
        podCIDRsTimeoutMs: 20_000,
        clock: d.clock,
        logger: d.logger,
      },
      false,
    );
    await waitFor(
      () => d.saw('Waiting for the node to be allocated pod CIDRs'),
      10_000,
      'the wait for pod CIDRs',
    );
    await core.patchNode(
      { name: 'node-d', body: { spec: { podCIDR: '198.18.5.0/24', podCIDRs: ['198.18.5.0/24'] } } },
      PATCH,
    );
    assert.deepEqual(
      (await pending).source.podCIDRs,
      ['198.18.5.0/24'],
      'woken by the node update, no time passed',
    );

    await createNode(core, 'node-e', '198.19.1.6');
    const e = logged();
    const failing = settled(
      startSource(
        t,
        cp,
        { nodeName: 'node-e', watchPodCIDRs: true, podCIDRsTimeoutMs: 500, clock: e.clock, logger: e.logger },
        false,
      ),
    );
    await waitFor(
      () => e.saw('Waiting for the node to be allocated pod CIDRs'),
      10_000,
      'the wait for pod CIDRs',
    );
    await e.clock.advance(499);
    assert.equal(failing.outcome, undefined, 'still waiting 1 ms before the timeout');
    await e.clock.advance(1);
    await assert.rejects(failing.promise, /timeout waiting for PodCIDR allocation on node "node-e"/);

    const f = logged();
    const missing = settled(
      startSource(
        t,
        cp,
        {
          nodeName: 'no-such-node',
          watchPodCIDRs: true,
          nodeIPsTimeoutMs: 200,
          podCIDRsTimeoutMs: 300,
          clock: f.clock,
          logger: f.logger,
        },
        false,
      ),
    );
    await waitFor(() => f.saw('Waiting for the node to exist and have IPs'), 10_000, 'the wait for the node');
    await f.clock.advance(200);
    assert.ok(f.saw('Waiting for the node to be allocated pod CIDRs'), 'then the wait for pod CIDRs');
    await f.clock.advance(299);
    assert.equal(missing.outcome, undefined, 'still waiting 1 ms before the second timeout');
    await f.clock.advance(1);
    await assert.rejects(missing.promise, /timeout waiting for node "no-such-node" to exist/);

    // Without NodeCIDR a missing node is logged and startup goes on, as upstream.
    const g = logged();
    const goesOn = startSource(t, cp, {
      nodeName: 'no-such-node',
      nodeIPsTimeoutMs: 200,
      clock: g.clock,
      logger: g.logger,
    });
    await waitFor(() => g.saw('Waiting for the node to exist and have IPs'), 10_000, 'the wait for the node');
    await g.clock.advance(200);
    assert.deepEqual((await goesOn).source.nodeIPs, []);
    assert.ok(g.saw('Timed out waiting for node to exist'));
  });

  await t.test('the Starting event is recorded for the node (events.k8s.io/v1)', async (t) => {
    await startSource(t, cp);
    const events = cp.adminConfig().makeApiClient(EventsV1Api);
    let found = false;
    for (let i = 0; i < 100 && !found; i++) {
      const list = await events.listNamespacedEvent({ namespace: 'default' });
      found = list.items.some(
        (e) =>
          e.reason === 'Starting' &&
          e.reportingController === 'kube-proxy' &&
          e.reportingInstance === 'kube-proxy-test-host' &&
          e.action === 'StartKubeProxy' &&
          e.regarding?.kind === 'Node' &&
          e.regarding?.name === NODE,
      );
      if (!found) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(found, 'a Starting event for the node');
  });

  await t.test('kubeconfig tokenFile authenticates as kube-proxy (kubeadm style)', async (t) => {
    const dir = join(cp.dir, 'tokenfile');
    mkdirSync(dir);
    writeFileSync(join(dir, 'token'), `${cp.kubeProxyToken}\n`);
    const kubeconfig = cp.writeUserKubeconfig('tokenfile', { tokenFile: join(dir, 'token') });
    const s = await startSource(t, cp, { kubeconfig });
    assert.ok(s.recorder.services.has('default/pre'), tail(s.logs));
    assert.equal(s.source.clientConfig.tokenFile, join(dir, 'token'));
  });

  await t.test('in-cluster configuration (service env + service account files)', async (t) => {
    const sa = join(cp.dir, 'serviceaccount');
    mkdirSync(sa);
    writeFileSync(join(sa, 'token'), cp.kubeProxyToken);
    writeFileSync(join(sa, 'ca.crt'), await import('node:fs').then((fs) => fs.readFileSync(cp.caFile)));
    const s = await startSource(t, cp, {
      kubeconfig: undefined,
      env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(cp.port) },
      serviceAccountDir: sa,
    });
    assert.equal(s.source.clientConfig.source, 'in-cluster');
    assert.ok(s.recorder.services.has('default/pre'), tail(s.logs));
  });

  await t.test('--master http:// (through kubectl proxy) works: list, watch and the event', async (t) => {
    const proxy = spawnWithDeathsig('kubectl-proxy', cp.binaries.kubectl, [
      '--kubeconfig',
      cp.adminKubeconfig,
      'proxy',
      '--port=0',
      '--address=127.0.0.1',
    ]);
    t.after(() => proxy.stop());
    const line = await proxy.waitForLine(/Starting to serve on 127\.0\.0\.1:\d+/, 20_000);
    const port = /:(\d+)/.exec(line)?.[1];
    const s = await startSource(t, cp, { kubeconfig: undefined, master: `http://127.0.0.1:${port}` });
    assert.equal(s.source.clientConfig.plainHttp, true);
    assert.ok(s.recorder.services.has('default/pre'), tail(s.logs));
    await core.createNamespacedService({ namespace: 'default', body: serviceBody('via-http') });
    await waitFor(() => s.recorder.services.has('default/via-http'), 10_000, 'watch over http');
  });

  await t.test('the watchdog restarts a watch whose connection went silent', async (t) => {
    const { tcp, kubeconfig } = await throughTcpProxy(t, cp, 'via-tcp-proxy');
    const clock = new ManualClock();
    const s = await startSource(t, cp, { kubeconfig, watchdogMs: 1500, clock });
    // A first Service through the watch shows that it is established before the hole opens.
    await core.createNamespacedService({ namespace: 'default', body: serviceBody('before-silence') });
    await waitFor(() => s.recorder.services.has('default/before-silence'), 10_000, 'the watch to be up');
    tcp.blackhole();
    const before = tcp.swallowed;
    await core.createNamespacedService({ namespace: 'default', body: serviceBody('during-silence') });
    await waitFor(() => tcp.swallowed > before, 10_000, 'the watch event to reach the black hole');
    assert.equal(
      s.recorder.services.has('default/during-silence'),
      false,
      'nothing gets through a black hole',
    );
    await clock.advance(1499);
    assert.equal(s.source.stats().services?.watchdog, 0, 'silent for less than watchdogMs');
    await clock.advance(1);
    assert.equal(s.source.stats().services?.watchdog, 1, JSON.stringify(s.source.stats().services));
    tcp.resume();
    // The restarted watch is cut by resume() and backs off on the manual clock: move time along.
    await advanceUntil(
      clock,
      () => s.recorder.services.has('default/during-silence'),
      20_000,
      () => tail(s.logs),
    );
    assert.deepEqual(s.recorder.violations, []);
  });

  await t.test('the source converges to the API state', async (t) => {
    const s = await startSource(t, cp);
    assert.ok(sameMap(s.recorder.versions('services'), await apiServices(core)));
    assert.ok(
      sameMap(s.recorder.versions('slices'), await apiSlices(discovery)),
      mapDiff(await apiSlices(discovery), s.recorder.versions('slices')),
    );
  });
});
