// Chaos on the real kernel: the proxy killed with SIGKILL under traffic, restarted, and its
// manifest directory removed and re-created. What must hold: the kernel keeps routing while the
// proxy is gone (established and new connections), a restart programs what changed meanwhile
// within 2 s (the best of up to three restarts: wall-clock time on a shared machine), and its full
// sync does not disturb established connections.
import assert from 'node:assert/strict';
import { mkdir, rm } from 'node:fs/promises';
import { after, test } from 'node:test';
import { clusterObjects, ep, slices, svc } from '../harness/dual-stack.ts';
import { requireKernel } from '../harness/kernel.ts';
import { sharedEnv } from '../harness/proxy-env.ts';
import { waitForAnswer } from '../harness/traffic.ts';
import { startStream, startStreamServer } from './helpers.ts';

const V4 = ['IPv4'] as const;
const WEB_POD = '198.18.180.71';
const STREAM_PORT = 9000;
const WEB = '198.19.16.71';
const STREAM = '198.19.16.72';
const LATE = '198.19.16.73';
const LATER = '198.19.16.74';
/** The late Services of the second and third restart, when one is needed. */
const RETRY_IPS = ['198.19.16.75', '198.19.16.76'];

const web = (name: string, clusterIP: string) => [
  svc({ name, clusterIP, ports: [{ name: 'http', port: 80, targetPort: 8080 }], families: V4 }),
  ...slices(name, [{ name: 'http', port: 80, targetPort: 8080 }], [ep(WEB_POD)], { families: V4 }),
];
const stream = () => [
  svc({ name: 'stream', clusterIP: STREAM, ports: [{ name: 'tcp', port: STREAM_PORT }], families: V4 }),
  ...slices('stream', [{ name: 'tcp', port: STREAM_PORT }], [ep(WEB_POD)], { families: V4 }),
];

const env = sharedEnv({
  pods: [{ name: 'web', ip: WEB_POD }],
  manifests: { 'cluster.yaml': clusterObjects(), 'web.yaml': web('web', WEB), 'stream.yaml': stream() },
});
after(() => env.close());

const tcp = (dst: string, port = 80) => ({ proto: 'tcp' as const, dst, port });

test('kill -9 under traffic: the kernel keeps routing, a restart programs what changed within 2 s, established connections survive it', async (t) => {
  if (!requireKernel(t, { proxy: true })) return;
  const e = await env.get();
  await e.waitForSync();
  await startStreamServer(e.sandbox, 'web', STREAM_PORT);
  const conn = await startStream(e.sandbox, 'client', STREAM, STREAM_PORT);

  const status = await e.signalProxy('SIGKILL');
  assert.equal(status.signal, 'SIGKILL');
  // Gone, and nothing changes in the kernel: the established connection and new ones keep working.
  await conn.advances(10);
  const whileDown = await e.sandbox.probeMany('client', tcp(WEB), 20);
  assert.equal(
    whileDown.pods.web,
    20,
    `new connections while the proxy is down: ${JSON.stringify(whileDown)}`,
  );

  // A Service added while the proxy is down is routed within 2 s of the restart. Wall-clock time on
  // a shared machine: a load spike can cost a start-up more than that, so the kill and restart are
  // tried up to three times (each with a new Service) and the best must be within the bound; a
  // proxy that is slow every time still fails.
  const restartMs: number[] = [];
  for (const [i, ip] of [LATE, ...RETRY_IPS].entries()) {
    if (i > 0) assert.equal((await e.signalProxy('SIGKILL')).signal, 'SIGKILL');
    await e.dir.write(`late-${i}.yaml`, ...web(`late-${i}`, ip));
    const started = performance.now();
    e.startProxyAgain();
    await e.waitForAnswer('client', tcp(ip), 10_000);
    restartMs.push(performance.now() - started);
    t.diagnostic(`restart to the new Service answering: ${restartMs.at(-1)!.toFixed(0)} ms`);
    if (restartMs.at(-1)! <= 2000) break;
  }
  assert.ok(
    Math.min(...restartMs) <= 2000,
    `the restarted proxy took ${restartMs.map((ms) => ms.toFixed(0)).join(', ')} ms to route the new Service`,
  );

  // The restart's full sync rewrote every rule; the connection established before the kill still flows.
  await e.proxy.waitForLog(/SyncProxyRules complete.*full=true/, 5000);
  await conn.advances(10);
  const after = await e.sandbox.probeMany('client', tcp(WEB), 20);
  assert.equal(after.pods.web, 20, JSON.stringify(after));
  conn.stop();
});

test('the manifest directory removed and re-created: rules are kept meanwhile, then follow the new directory', async (t) => {
  if (!requireKernel(t, { proxy: true })) return;
  const e = await env.get();
  await e.waitForSync();
  await waitForAnswer(e.sandbox, 'client', tcp(WEB));
  const mark = e.proxy.stderrLines.length;

  await rm(e.dir.path, { recursive: true, force: true });
  await e.proxy.waitForLog(/Cannot read manifest directory, keeping the last good state/, 5000);
  const whileGone = await e.sandbox.probeMany('client', tcp(WEB), 10);
  assert.equal(
    whileGone.pods.web,
    10,
    `rules kept while the directory is gone: ${JSON.stringify(whileGone)}`,
  );
  assert.equal(
    e.proxy.stderrLines.slice(mark).filter((l) => l.includes('Cannot read manifest directory')).length,
    1,
    'reported once',
  );

  // Re-created with other content: web stays, stream and late are gone, later is new.
  await mkdir(e.dir.path);
  await e.dir.write('cluster.yaml', ...clusterObjects());
  await e.dir.write('web.yaml', ...web('web', WEB));
  await e.dir.write('later.yaml', ...web('later', LATER));
  await e.waitForSync();
  await waitForAnswer(e.sandbox, 'client', tcp(LATER));
  const [gone] = await e.sandbox.probe('client', [{ ...tcp(LATE), timeoutMs: 700 }]);
  assert.notEqual(
    gone?.outcome,
    'answer',
    `a Service whose file is gone must not answer: ${JSON.stringify(gone)}`,
  );
  const kept = await e.sandbox.probeMany('client', tcp(WEB), 10);
  assert.equal(kept.pods.web, 10, JSON.stringify(kept));
});
