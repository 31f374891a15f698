// The reflector against an in-process fake apiserver (plain HTTP on 127.0.0.1): pagination,
// resourceVersion tracking, relists with synthesized deletes, backoff, watchdog, resync.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../../src/log/logger.ts';
import type { Service } from '../../../src/model/k8s.ts';
import { ApiClient } from '../../../src/sources/kubernetes/api-client.ts';
import { Backoff } from '../../../src/sources/kubernetes/backoff.ts';
import { loadClientConfig } from '../../../src/sources/kubernetes/config.ts';
import { UNLIMITED } from '../../../src/sources/kubernetes/limiter.ts';
import { Reflector, type ReflectorOptions } from '../../../src/sources/kubernetes/reflector.ts';
import { type ResourceSpec, SERVICES } from '../../../src/sources/kubernetes/resources.ts';
import type { StoreChange } from '../../../src/sources/kubernetes/store.ts';
import { waitFor } from '../../api/recorder.ts';
import { ManualClock } from '../../support/manual-clock.ts';
import { FakeApiServer } from './fake-apiserver.ts';

const svc = (name: string, port = 80, ns = 'default'): Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: ns },
  spec: { clusterIP: '198.19.16.10', ports: [{ port }] },
});

interface Fixture {
  api: FakeApiServer;
  reflector: Reflector<Service>;
  changes: string[];
  logs: string[];
  /** Mirror of the delivered state: key -> resourceVersion. */
  view: Map<string, string>;
  violations: string[];
  synced: () => number;
}

function describe(c: StoreChange<Service>): string {
  const k = `${c.object.metadata?.namespace}/${c.object.metadata?.name}`;
  if (c.type === 'update')
    return `update ${k} ${c.old.metadata?.resourceVersion}->${c.object.metadata?.resourceVersion}`;
  return `${c.type} ${k} ${c.object.metadata?.resourceVersion}`;
}

async function withReflector(
  fn: (f: Fixture) => Promise<void>,
  opts: Partial<ReflectorOptions<Service>> & {
    setup?: (api: FakeApiServer) => void;
    spec?: ResourceSpec<Service>;
    /** The path the fake serves; default the spec's. */
    fakePath?: string;
  } = {},
): Promise<void> {
  const api = new FakeApiServer(opts.fakePath ?? opts.spec?.path ?? '/api/v1/services');
  await api.start();
  opts.setup?.(api);
  const client = new ApiClient({
    config: loadClientConfig({ master: api.server }),
    limiter: UNLIMITED,
    userAgent: 'test',
  });
  const logs: string[] = [];
  const changes: string[] = [];
  const view = new Map<string, string>();
  const violations: string[] = [];
  let synced = 0;
  const { setup: _s, spec, fakePath: _p, ...rest } = opts;
  const reflector = new Reflector<Service>({
    spec: spec ?? SERVICES,
    client,
    logger: createLogger({ verbosity: 4, sink: (l) => logs.push(l) }),
    onChange: (c) => {
      changes.push(describe(c));
      const k = `${c.object.metadata?.namespace}/${c.object.metadata?.name}`;
      const rv = c.object.metadata?.resourceVersion ?? '';
      if (c.type === 'add' && view.has(k)) violations.push(`add of known ${k}`);
      if (c.type !== 'add' && !view.has(k)) violations.push(`${c.type} of unknown ${k}`);
      if (c.type === 'delete') view.delete(k);
      else view.set(k, rv);
    },
    onSynced: () => synced++,
    backoff: new Backoff({ initialMs: 5, maxMs: 40, random: () => 0 }),
    ...rest,
  });
  reflector.start();
  try {
    await fn({ api, reflector, changes, logs, view, violations, synced: () => synced });
  } finally {
    await reflector.close();
    client.close();
    await api.close();
  }
}

/** The fake's objects as key -> resourceVersion, to compare with the delivered view. */
function apiState(api: FakeApiServer): Map<string, string> {
  return new Map(
    [...api.objects.values()].map((o) => [
      `${o.metadata?.namespace}/${o.metadata?.name}`,
      o.metadata?.resourceVersion ?? '',
    ]),
  );
}

async function converged(f: Fixture, what: string): Promise<void> {
  await waitFor(
    () => JSON.stringify([...f.view].sort()) === JSON.stringify([...apiState(f.api)].sort()),
    5000,
    () =>
      `${what}: view ${JSON.stringify([...f.view])} api ${JSON.stringify([...apiState(f.api)])}\n${f.logs.join('\n')}`,
  );
  assert.deepEqual(f.violations, []);
}

test('initial list is paginated (limit, continue), from the watch cache, and the watch starts at its resourceVersion', async () => {
  await withReflector(
    async (f) => {
      await f.reflector.waitForSync();
      assert.equal(f.synced(), 1);
      assert.equal(f.reflector.hasSynced(), true);
      assert.equal(f.changes.length, 7);
      assert.ok(f.changes.every((c) => c.startsWith('add ')));
      const lists = f.api.listRequests();
      assert.equal(lists.length, 3);
      assert.deepEqual(
        lists.map((r) => [r.query.limit, r.query.continue !== undefined]),
        [
          ['3', false],
          ['3', true],
          ['3', true],
        ],
      );
      // As client-go: resourceVersion 0 on the first request (kube-apiserver then answers from its
      // watch cache, in one page); continuation pages carry only their token.
      assert.deepEqual(
        lists.map((r) => r.query.resourceVersion),
        ['0', undefined, undefined],
      );
      for (const r of lists) {
        assert.equal(
          r.query.labelSelector,
          '!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless',
        );
        assert.equal(r.query.fieldSelector, 'spec.clusterIP!=None');
        assert.equal(r.headers.accept, 'application/json');
      }
      await waitFor(() => f.api.watchRequests().length === 1, 2000, 'a watch');
      const w = f.api.watchRequests()[0]!;
      assert.equal(w.query.resourceVersion, '107');
      assert.equal(w.query.allowWatchBookmarks, 'true');
      const timeout = Number(w.query.timeoutSeconds);
      assert.ok(timeout >= 300 && timeout < 600, String(timeout));
      assert.equal(w.query.labelSelector, lists[0]!.query.labelSelector);
      assert.equal(w.query.fieldSelector, 'spec.clusterIP!=None');
      assert.equal(f.reflector.resourceVersion, '107');
      assert.equal(f.reflector.items().length, 7);
    },
    {
      pageSize: 3,
      setup: (api) => {
        for (let i = 0; i < 7; i++) api.put(svc(`s${i}`), false);
      },
    },
  );
});

test('watch events reach the handler; bookmarks move the resourceVersion', async () => {
  await withReflector(async (f) => {
    await f.reflector.waitForSync();
    await waitFor(() => f.api.watches.size === 1, 2000, 'watch open');
    f.api.put(svc('a'));
    f.api.put(svc('a', 81));
    f.api.put(svc('b'));
    f.api.remove('default', 'a');
    await waitFor(() => f.changes.length === 4, 2000, 'four events');
    assert.deepEqual(f.changes, [
      'add default/a 101',
      'update default/a 101->102',
      'add default/b 103',
      'delete default/a 104',
    ]);
    f.api.rv = 200;
    f.api.bookmark();
    await waitFor(() => f.reflector.resourceVersion === '200', 2000, 'bookmark RV');
    assert.equal(f.reflector.stats.bookmarks, 1);
    assert.equal(f.changes.length, 4, 'a bookmark is no change');
  });
});

test('a watch that ends is resumed from the last resourceVersion, without a relist', async () => {
  await withReflector(async (f) => {
    await f.reflector.waitForSync();
    await waitFor(() => f.api.watches.size === 1, 2000, 'watch open');
    f.api.put(svc('a'));
    await waitFor(() => f.changes.length === 1, 2000, 'first event');
    f.api.endWatches();
    f.api.put(svc('b'), false); // happens while no watch is open: replayed from history
    await converged(f, 'after re-watch');
    assert.equal(f.api.listRequests().length, 1, 'no relist');
    assert.equal(f.api.watchRequests().at(-1)?.query.resourceVersion, '101');
    assert.deepEqual(f.changes, ['add default/a 101', 'add default/b 102']);
  });
});

for (const how of ['in-stream ERROR', 'HTTP status'] as const) {
  test(`410 Gone (${how}) relists and synthesizes deletes, updates and adds for what was missed`, async () => {
    await withReflector(
      async (f) => {
        await f.reflector.waitForSync();
        await waitFor(() => f.api.watches.size === 1, 2000, 'watch open');
        f.api.expiredAsHttpStatus = how === 'HTTP status';
        // Cut the watch, change things nobody sees, and compact the history away.
        f.api.resetWatches();
        f.api.remove('default', 'gone', false);
        f.api.put(svc('changed', 99), false);
        f.api.put(svc('new'), false);
        f.api.compact();
        await converged(f, 'after relist');
        assert.equal(f.reflector.stats.expired, 1);
        assert.equal(f.api.listRequests().length, 2);
        assert.deepEqual(f.changes.slice(3).sort(), [
          'add default/new 106',
          'delete default/gone 101',
          'update default/changed 102->105',
        ]);
      },
      {
        setup: (api) => {
          api.put(svc('gone'), false);
          api.put(svc('changed'), false);
          api.put(svc('same'), false);
        },
      },
    );
  });
}

test('"too large resource version" (a lagging apiserver) relists, as client-go', async () => {
  await withReflector(async (f) => {
    await f.reflector.waitForSync();
    await waitFor(() => f.api.watches.size === 1, 2000, 'watch open');
    f.api.nextWatch.push({
      kind: 'status',
      code: 504,
      reason: 'Timeout',
      message: 'Too large resource version',
      causes: [{ reason: 'ResourceVersionTooLarge' }],
    });
    f.api.resetWatches();
    await waitFor(() => f.api.listRequests().length === 2, 3000, 'relist');
    assert.equal(f.reflector.stats.expired, 1);
    // Only the first list may come from the watch cache; a relist is a consistent read.
    assert.deepEqual(
      f.api.listRequests().map((r) => r.query.resourceVersion),
      ['0', undefined],
    );
  });
});

test('a malformed line is logged and answered with a relist, never ignored', async () => {
  await withReflector(async (f) => {
    await f.reflector.waitForSync();
    await waitFor(() => f.api.watches.size === 1, 2000, 'watch open');
    f.api.put(svc('b'), false); // an event the broken line stands for
    f.api.writeRaw('{"type":"ADDED","object":{"metadata":\n');
    await converged(f, 'after malformed line');
    assert.equal(f.reflector.stats.malformed, 1);
    assert.equal(f.api.listRequests().length, 2);
    const err = f.logs.find((l) => l.includes('Malformed watch event'));
    assert.ok(err?.startsWith('E'), `logged as an error: ${err}`);
    assert.match(err ?? '', /invalid JSON/);
    assert.match(err ?? '', /line="\{\\"type\\":\\"ADDED\\"/);
  });
});

test('events of unknown type or without a name also relist', async () => {
  await withReflector(async (f) => {
    await f.reflector.waitForSync();
    await waitFor(() => f.api.watches.size === 1, 2000, 'watch open');
    f.api.writeRaw('{"type":"SYNC","object":{}}\n');
    await waitFor(() => f.api.listRequests().length === 2, 2000, 'relist 1');
    await waitFor(() => f.api.watches.size === 1, 2000, 'watch open again');
    f.api.writeRaw('{"type":"ADDED","object":{"metadata":{"namespace":"x"}}}\n');
    await waitFor(() => f.api.listRequests().length === 3, 2000, 'relist 2');
    assert.equal(f.reflector.stats.malformed, 2);
  });
});

test('the watchdog restarts a watch that sends nothing', async () => {
  const clock = new ManualClock();
  await withReflector(
    async (f) => {
      await f.reflector.waitForSync();
      await waitFor(() => f.reflector.stats.watches === 1, 2000, 'the hung watch started');
      await clock.advance(149);
      assert.equal(f.reflector.stats.watchdog, 0, 'not before watchdogMs');
      await clock.advance(1);
      await waitFor(() => f.reflector.stats.watchdog >= 1, 3000, 'watchdog');
      await waitFor(() => f.api.watches.size === 1, 2000, 'a working watch after the hung one');
      assert.equal(f.api.listRequests().length, 1, 'no relist: the resourceVersion is still good');
      f.api.put(svc('a'));
      await converged(f, 'events flow after the restart');
      assert.ok(f.logs.some((l) => l.startsWith('W') && l.includes('Watch sent nothing')));
    },
    { watchdogMs: 150, clock, setup: (api) => api.nextWatch.push({ kind: 'hang' }) },
  );
});

test('a bookmark keeps the watchdog quiet', async () => {
  const clock = new ManualClock();
  await withReflector(
    async (f) => {
      await f.reflector.waitForSync();
      await waitFor(() => f.api.watches.size === 1, 2000, 'watch open');
      for (let i = 0; i < 8; i++) {
        await clock.advance(50);
        f.api.bookmark();
        await waitFor(() => f.reflector.stats.bookmarks === i + 1, 2000, `bookmark ${i + 1} received`);
      }
      assert.equal(f.reflector.stats.watchdog, 0);
    },
    { watchdogMs: 150, clock },
  );
});

test('errors back off and retry forever; the reflector never stops', async () => {
  await withReflector(
    async (f) => {
      await f.reflector.waitForSync();
      assert.equal(f.api.listRequests().length, 4);
      assert.equal(f.reflector.stats.errors, 3);
      assert.equal(f.changes.length, 1);
      await waitFor(() => f.api.watches.size === 1, 2000, 'watch open');
      f.api.nextWatch.push({ kind: 'status', code: 500, reason: 'InternalError' }, { kind: 'reset' });
      f.api.resetWatches();
      f.api.put(svc('b'), false);
      await converged(f, 'after watch errors');
      assert.ok(f.logs.some((l) => l.includes('List failed, retrying') && l.includes('HTTP 503')));
      assert.ok(f.logs.some((l) => l.includes('Watch failed, retrying')));
    },
    {
      setup: (api) => {
        api.put(svc('a'), false);
        api.nextList.push(
          { kind: 'status', code: 503 },
          { kind: 'reset' },
          { kind: 'raw', lines: ['not json'], end: true },
        );
      },
    },
  );
});

test('an expired continue token restarts the list from the first page', async () => {
  await withReflector(
    async (f) => {
      await f.reflector.waitForSync();
      assert.equal(f.changes.length, 4);
      assert.deepEqual(
        f.api.listRequests().map((r) => r.query.continue !== undefined),
        [false, true, false, true],
      );
      assert.equal(f.reflector.stats.errors, 0);
      assert.ok(f.logs.some((l) => l.includes('List continuation expired')));
    },
    {
      pageSize: 2,
      setup: (api) => {
        for (let i = 0; i < 4; i++) api.put(svc(`s${i}`), false);
        api.expireContinueOnce = true;
      },
    },
  );
});

test('the periodic resync relists, delivers only differences and catches a missed event', async () => {
  await withReflector(
    async (f) => {
      await f.reflector.waitForSync();
      assert.equal(f.changes.length, 2);
      await waitFor(() => f.api.watches.size === 1, 2000, 'watch open');
      // An update the watch never delivers (a lost event): only the resync can find it.
      f.api.put(svc('a', 99), false);
      await waitFor(() => f.reflector.stats.resyncs >= 1, 3000, 'a resync');
      await converged(f, 'after resync');
      assert.deepEqual(f.changes.slice(2), ['update default/a 101->103']);
      const before = f.changes.length;
      await waitFor(() => f.reflector.stats.resyncs >= 3, 3000, 'more resyncs');
      assert.equal(f.changes.length, before, 'unchanged objects are not re-delivered');
    },
    {
      resyncPeriodMs: 200,
      setup: (api) => {
        api.put(svc('a'), false);
        api.put(svc('b'), false);
      },
    },
  );
});

test('a stream cut inside an event resumes from the last resourceVersion and gets it again', async () => {
  await withReflector(async (f) => {
    await f.reflector.waitForSync();
    await waitFor(() => f.api.watches.size === 1, 2000, 'watch open');
    const o = f.api.put(svc('a'), false);
    f.api.writeRaw(JSON.stringify({ type: 'ADDED', object: o }).slice(0, 40));
    f.api.endWatches();
    await converged(f, 'after the cut');
    assert.deepEqual(f.changes, ['add default/a 101']);
    assert.equal(f.api.listRequests().length, 1);
    assert.ok(f.logs.some((l) => l.includes('Watch stream ended inside an event')));
  });
});

test('a throwing handler is logged and does not stop delivery', async () => {
  let calls = 0;
  await withReflector(
    async (f) => {
      await f.reflector.waitForSync();
      await waitFor(() => f.api.watches.size === 1, 2000, 'watch open');
      f.api.put(svc('b'));
      await waitFor(() => calls === 2, 2000, 'second event');
      assert.ok(f.logs.some((l) => l.startsWith('E') && l.includes('Event handler failed')));
    },
    {
      setup: (api) => api.put(svc('a'), false),
      onChange: () => {
        calls++;
        throw new Error('boom');
      },
    },
  );
});

test('an optional resource that is not served counts as empty and synced, and is retried', async () => {
  await withReflector(
    async (f) => {
      await f.reflector.waitForSync();
      assert.equal(f.reflector.hasSynced(), true);
      assert.equal(f.changes.length, 0);
      await waitFor(() => f.api.requests.length >= 3, 2000, 'retries');
      assert.ok(f.logs.some((l) => l.includes('Resource not served by the API server')));
    },
    {
      spec: { ...SERVICES, path: '/apis/networking.k8s.io/v1/servicecidrs', optional: true },
      fakePath: '/other',
    },
  );
});

test('close() is idempotent, ends the watch in flight and sends nothing more', async () => {
  const clock = new ManualClock();
  await withReflector(
    async (f) => {
      await f.reflector.waitForSync();
      await waitFor(() => f.api.watches.size === 1, 2000, 'watch open');
      const p1 = f.reflector.close();
      const p2 = f.reflector.close();
      assert.equal(p1, p2);
      await p1;
      const n = f.api.requests.length;
      await waitFor(() => f.api.watches.size === 0, 2000, 'watch closed by the client');
      // An hour on the reflector's clock: no resync, watchdog or backoff timer is left to send.
      await clock.advance(3_600_000);
      assert.equal(clock.pendingTimers, 0);
      assert.equal(f.api.requests.length, n);
      await f.reflector.waitForSync(); // resolves at once after close
    },
    { clock },
  );
});

test('an object kube-apiserver would refuse is not delivered; the log names the field and whether a good state is kept', async () => {
  await withReflector(async (f) => {
    await f.reflector.waitForSync();
    await waitFor(() => f.api.watches.size === 1, 2000, 'watch open');
    f.api.put(svc('bad', 70000));
    f.api.put(svc('good', 80));
    await waitFor(() => f.changes.some((c) => c.startsWith('add default/good')), 2000, 'add of good');
    assert.ok(!f.changes.some((c) => c.includes('default/bad')), f.changes.join('\n'));
    const first = f.logs.filter((l) => l.includes('default/bad'));
    assert.equal(first.length, 1, first.join('\n'));
    assert.match(
      first[0]!,
      /^E.*"Ignoring invalid API object" .*reason="spec\.ports\[0\]\.port: Invalid value: 70000: must be between 1 and 65535, inclusive"/,
    );

    // Valid, then invalid again: now the last good state is kept, and said so.
    f.api.put(svc('bad', 81));
    await waitFor(() => f.changes.some((c) => c.startsWith('add default/bad')), 2000, 'add of bad');
    f.api.put(svc('bad', 0));
    await waitFor(
      () => f.logs.some((l) => l.includes('keeping its last good state')),
      2000,
      'second refusal',
    );
    assert.match(
      f.logs.find((l) => l.includes('keeping its last good state')) ?? '',
      /object="default\/bad" reason="spec\.ports\[0\]\.port: Invalid value: 0: must be between 1 and 65535, inclusive"/,
    );
    assert.equal(f.changes.filter((c) => c.includes('default/bad')).length, 1, f.changes.join('\n'));
  });
});
