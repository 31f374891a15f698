import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { InvalidManifestError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import type { Service } from '../../../src/model/k8s.ts';
import { ManifestSource } from '../../../src/sources/manifests/manifest-source.ts';
import { docs, Recorder, SYNCED, service, withSource } from './manifest-fixture.ts';
import { REFUSALS } from './refusals.ts';

const port = (o: unknown) => (o as Service | undefined)?.spec?.ports?.[0]?.port;

const slice = (name: string) =>
  `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: ${name}\n  labels: {kubernetes.io/service-name: web}\naddressType: IPv4\nendpoints:\n- addresses: [10.0.0.1]\n`;
const cidr = (name: string, ...cidrs: string[]) =>
  `apiVersion: networking.k8s.io/v1\nkind: ServiceCIDR\nmetadata: {name: ${name}}\nspec: {cidrs: [${cidrs.map((c) => `"${c}"`).join(', ')}]}\n`;

test('initial sync delivers every object as an add, then the synced hooks and the CIDR union', async () => {
  await withSource(
    async (f) => {
      await mkdir(join(f.dir, 'sub'));
      await writeFile(join(f.dir, 'sub', 'nested.yaml'), service('nested', 80));
      await f.start();
      assert.deepEqual(f.recorder.texts(), [
        'add Service default/web',
        'add EndpointSlice default/web-1',
        'add Node node-1',
        ...SYNCED,
        'cidrs 10.0.0.0/16,10.96.0.0/16,fd00::/108',
      ]);
      assert.deepEqual(f.logs, []);
    },
    {
      files: {
        '10-web.yaml': docs(
          service('web', 80),
          slice('web-1'),
          'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n',
        ),
        '20-node.json': '{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"}}',
        '30-cidrs.yml': docs(cidr('a', '10.96.0.0/16', 'fd00::/108'), cidr('b', '10.0.0.0/16')),
        '.hidden.yaml': service('hidden', 80),
        '40-web.yaml~': service('backup', 80),
        'notes.txt': service('notes', 80),
      },
    },
  );
});

test('an empty directory still syncs, with an empty CIDR union', async () => {
  await withSource(async (f) => {
    await f.start();
    assert.deepEqual(f.recorder.texts(), [...SYNCED, 'cidrs ']);
  });
});

test('start fails clearly when the directory does not exist', async () => {
  const source = new ManifestSource({ dir: '/nonexistent/kpt-manifests', logger: silentLogger });
  await assert.rejects(source.start(new Recorder()), (err) => {
    assert.ok(err instanceof InvalidManifestError);
    assert.match(err.message, /\/nonexistent\/kpt-manifests/);
    return true;
  });
  await source.close();
});

test('edits become updates, removed objects and files become deletes, new files become adds', async () => {
  await withSource(
    async (f) => {
      await f.start();
      let mark = f.recorder.events.length;

      await f.write('a.yaml', docs(service('web', 81), service('db', 5432)));
      await f.until(() => f.recorder.events.length > mark, 'update of web');
      const update = f.recorder.events[mark];
      assert.equal(update?.text, 'update Service default/web');
      assert.equal(port(update?.old), 80);
      assert.equal(port(update?.object), 81);

      await f.write('a.yaml', service('web', 81));
      await f.until(() => f.recorder.events.length > mark + 1, 'delete of db');
      assert.equal(f.recorder.events[mark + 1]?.text, 'delete Service default/db');
      assert.equal(port(f.recorder.events[mark + 1]?.object), 5432);

      await f.write(
        'b.json',
        JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-2' } }),
      );
      await f.until(() => f.recorder.events.length > mark + 2, 'add of node-2');
      assert.equal(f.recorder.events[mark + 2]?.text, 'add Node node-2');

      await f.remove('a.yaml');
      await f.remove('b.json');
      await f.until(() => f.recorder.events.length >= mark + 5, 'deletes of the removed files');
      assert.deepEqual(f.recorder.texts(mark + 3).sort(), [
        'delete Node node-2',
        'delete Service default/web',
      ]);
      mark = f.recorder.events.length;
      await f.quiesce();
      assert.deepEqual(f.recorder.texts(mark), [], 'nothing more after the files are gone');
      assert.deepEqual(f.errors(), []);
    },
    { files: { 'a.yaml': docs(service('web', 80), service('db', 5432)) } },
  );
});

test('in-place writes (truncate, then write) converge on the file content', async () => {
  await withSource(
    async (f) => {
      await f.start();
      await f.writeInPlace('a.yaml', service('web', 81));
      await f.until(() => f.recorder.events.some((e) => port(e.object) === 81), 'web on port 81');
      const last = f.recorder.events.at(-1);
      assert.equal(last?.text.endsWith('Service default/web'), true);
      assert.equal(port(last?.object), 81);
    },
    { files: { 'a.yaml': service('web', 80) } },
  );
});

test('rewriting a file with identical content, or touching it, delivers nothing', async () => {
  await withSource(
    async (f) => {
      await f.start();
      const mark = f.recorder.events.length;
      await f.write('a.yaml', service('web', 80));
      await f.writeInPlace('a.yaml', service('web', 80));
      // A later change in another file is the sync point: by then a.yaml was looked at.
      await f.write('b.yaml', service('db', 5432));
      await f.until(() => f.recorder.events.length > mark, 'add of db');
      await f.quiesce();
      assert.deepEqual(f.recorder.texts(mark), ['add Service default/db']);
    },
    { files: { 'a.yaml': service('web', 80) } },
  );
});

test('rename-replace editing (temp file renamed over, or vim-style backup) is seen as edits', async () => {
  // A long poll interval: only the debounced watch may react, so the vim-style gap (no a.yaml for
  // an instant) must be covered by the debounce.
  await withSource(
    async (f) => {
      await f.start();
      const mark = f.recorder.events.length;
      await writeFile(join(f.dir, '.a.yaml.swp'), 'swap junk: [');
      await writeFile(join(f.dir, '.a.yaml.tmp'), service('web', 81));
      await rename(join(f.dir, '.a.yaml.tmp'), join(f.dir, 'a.yaml'));
      await f.until(() => f.recorder.events.length > mark, 'update to 81');
      assert.deepEqual(f.recorder.texts(mark), ['update Service default/web']);
      assert.equal(port(f.recorder.events[mark]?.object), 81);

      await rename(join(f.dir, 'a.yaml'), join(f.dir, 'a.yaml~'));
      await writeFile(join(f.dir, 'a.yaml'), service('web', 82));
      await f.until(() => f.recorder.events.length > mark + 1, 'update to 82');
      assert.deepEqual(f.recorder.texts(mark), ['update Service default/web', 'update Service default/web']);
      assert.equal(port(f.recorder.events[mark + 1]?.old), 81);
      assert.equal(port(f.recorder.events[mark + 1]?.object), 82);
      assert.deepEqual(f.errors(), [], 'swap and backup files are never read');
    },
    { pollIntervalMs: 10_000, files: { 'a.yaml': service('web', 80) } },
  );
});

test('a malformed object is logged once, keeps its last good state, and the rest of the file applies', async () => {
  await withSource(
    async (f) => {
      await f.start();
      const mark = f.recorder.events.length;
      // db's port (line 15) has the wrong type; web changes in the same write.
      await f.write('a.yaml', docs(service('web', 81), service('db', '"5432"')));
      await f.until(() => f.recorder.events.length > mark, 'update of web');
      await f.write('b.yaml', service('other', 1));
      await f.until(() => f.recorder.events.length > mark + 1, 'add of other');
      await f.quiesce();
      assert.deepEqual(f.recorder.texts(mark), ['update Service default/web', 'add Service default/other']);
      const errors = f.errors();
      assert.equal(errors.length, 1, errors.join('\n'));
      assert.ok(errors[0]?.includes(`${join(f.dir, 'a.yaml')}:15:`), errors[0]);
      assert.ok(errors[0]?.includes('Service default/db: spec.ports[0].port'), errors[0]);

      await f.write('a.yaml', docs(service('web', 81), service('db', 5433)));
      await f.until(() => f.recorder.events.length > mark + 2, 'update of db');
      const fixed = f.recorder.events[mark + 2];
      assert.equal(fixed?.text, 'update Service default/db');
      assert.equal(port(fixed?.old), 5432);
      assert.equal(port(fixed?.object), 5433);
      assert.equal(f.errors().length, 1);
    },
    { files: { 'a.yaml': docs(service('web', 80), service('db', 5432)) } },
  );
});

test('an object kube-apiserver would refuse: one line naming file:line, object, field and reason; never delivered', async () => {
  await withSource(async (f) => {
    await f.start();
    const mark = f.recorder.events.length;
    // web's port (line 7) is out of range: web never had a good state, so nothing is kept.
    await f.write('a.yaml', docs(service('web', 70000), service('db', 5432)));
    await f.until(() => f.recorder.events.length > mark, 'add of db');
    await f.quiesce();
    assert.deepEqual(f.recorder.texts(mark), ['add Service default/db']);
    const file = join(f.dir, 'a.yaml');
    assert.deepEqual(f.errors().length, 1, f.errors().join('\n'));
    const [line] = f.errors();
    assert.match(line ?? '', /"Refusing invalid object" err=/);
    assert.ok(!line?.includes('last good state'), line);
    assert.ok(
      line?.includes(
        `${file}:7: Service default/web: spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive`,
      ),
      line,
    );

    // Fixed: delivered. Broken again: refused, and now the last good state is kept.
    await f.write('a.yaml', docs(service('web', 80), service('db', 5432)));
    await f.until(() => f.recorder.events.length > mark + 1, 'add of web');
    await f.write('a.yaml', docs(service('web', 80, '    protocol: ICMP\n'), service('db', 5433)));
    await f.until(() => f.recorder.events.length > mark + 2, 'update of db');
    await f.quiesce();
    assert.deepEqual(f.recorder.texts(mark), [
      'add Service default/db',
      'add Service default/web',
      'update Service default/db',
    ]);
    const errors = f.errors();
    assert.equal(errors.length, 2, errors.join('\n'));
    assert.match(
      errors[1] ?? '',
      /"Refusing invalid object, keeping its last good state" err=.*a\.yaml:8: Service default\/web: spec\.ports\[0\]\.protocol: Unsupported value: \\"ICMP\\"/,
    );
  });
});

test('a file rewritten faster than the debounce is still followed (the wait is capped), not only by the poll', async () => {
  await withSource(
    async (f) => {
      await f.start();
      const mark = f.recorder.events.length;
      // Debounce 10 ms, cap 40 ms, no poll in reach: a rewrite every 3 ms never leaves 10 ms of quiet.
      const until = f.clock.now() + 400;
      let port = 1;
      while (f.clock.now() < until) {
        await f.write('a.yaml', service('web', port++));
        await f.drain(3);
      }
      const whileWriting = f.recorder.events.length - mark;
      assert.ok(whileWriting >= 3, `only ${whileWriting} updates during 400 ms of rewrites`);
      await f.until(
        () => port - 1 === (f.recorder.events.at(-1)?.object as Service | undefined)?.spec?.ports?.[0]?.port,
        'the last write',
      );
    },
    { pollIntervalMs: 60_000, files: { 'a.yaml': service('web', 80) } },
  );
});

test('a file that cannot be parsed keeps all its objects until it is fixed or removed', async () => {
  await withSource(
    async (f) => {
      await f.start();
      const mark = f.recorder.events.length;
      await f.write('a.json', '{\n  "apiVersion": "v1",\n  "kind": "Service",\n');
      await f.write('a.yaml', 'apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n spec: [\n');
      await f.write('b.yaml', service('other', 1));
      await f.until(() => f.recorder.events.length > mark, 'add of other');
      await f.quiesce();
      assert.deepEqual(f.recorder.texts(mark), ['add Service default/other']);
      const errors = f.errors().sort();
      assert.equal(errors.length, 2, errors.join('\n'));
      assert.ok(errors[0]?.includes(`${join(f.dir, 'a.json')}:4:`), errors[0]);
      assert.ok(errors[1]?.includes(`${join(f.dir, 'a.yaml')}:5:`), errors[1]);

      await f.remove('a.yaml');
      await f.remove('a.json');
      await f.until(() => f.recorder.events.length >= mark + 3, 'deletes');
      assert.deepEqual(f.recorder.texts(mark + 1).sort(), [
        'delete Node node-9',
        'delete Service default/web',
      ]);
      assert.equal(f.errors().length, 2);
    },
    {
      files: {
        'a.yaml': service('web', 80),
        'a.json': JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-9' } }),
      },
    },
  );
});

test('the first file name wins a duplicate key; the other takes over when it goes', async () => {
  await withSource(
    async (f) => {
      await f.start();
      assert.deepEqual(f.recorder.texts(), ['add Service default/web', ...SYNCED, 'cidrs ']);
      assert.equal(port(f.recorder.events[0]?.object), 1);
      const warnings = f.warnings();
      assert.equal(warnings.length, 1);
      assert.ok(warnings[0]?.includes(join(f.dir, 'a.yaml')) && warnings[0]?.includes(join(f.dir, 'b.yaml')));

      const mark = f.recorder.events.length;
      await f.remove('a.yaml');
      await f.until(() => f.recorder.events.length > mark, 'update to b.yaml version');
      assert.deepEqual(f.recorder.texts(mark), ['update Service default/web']);
      assert.equal(port(f.recorder.events[mark]?.old), 1);
      assert.equal(port(f.recorder.events[mark]?.object), 2);
      assert.equal(f.warnings().length, 1);
    },
    { files: { 'b.yaml': service('web', 2), 'a.yaml': service('web', 1) } },
  );
});

test('ServiceCIDR changes are delivered only when the union changes', async () => {
  await withSource(
    async (f) => {
      await f.start();
      let mark = f.recorder.events.length;
      await f.write('b.yaml', docs(cidr('b', '10.96.0.0/16'), service('sync-1', 1)));
      await f.until(() => f.recorder.events.length > mark, 'add of sync-1');
      assert.deepEqual(f.recorder.texts(mark), ['add Service default/sync-1']);

      mark = f.recorder.events.length;
      await f.write('b.yaml', docs(cidr('b', '10.97.0.0/16'), service('sync-1', 1)));
      await f.until(() => f.recorder.events.length > mark, 'cidrs event');
      assert.deepEqual(f.recorder.texts(mark), ['cidrs 10.96.0.0/16,10.97.0.0/16']);

      mark = f.recorder.events.length;
      await f.remove('a.yaml');
      await f.remove('b.yaml');
      await f.until(() => f.recorder.texts(mark).includes('cidrs '), 'empty union');
    },
    { files: { 'a.yaml': cidr('a', '10.96.0.0/16') } },
  );
});

test('junk never crashes the source; good files still apply', async () => {
  const junk = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256));
  await withSource(async (f) => {
    await f.write('binary.yaml', junk);
    await f.write('empty.yaml', '');
    await f.write('empty.json', '');
    await f.write('deep.yaml', `${'['.repeat(5000)}${']'.repeat(5000)}`);
    await f.write('deep.json', `${'{"a":'.repeat(50000)}1${'}'.repeat(50000)}`);
    await f.write('huge.yaml', service('huge', '1e999999'));
    await f.write(
      'bomb.yaml',
      'a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n',
    );
    await mkdir(join(f.dir, 'dir.yaml'));
    try {
      execFileSync('mkfifo', [join(f.dir, 'fifo.yaml')]);
    } catch {
      // No mkfifo here: the FIFO case is skipped.
    }
    await f.write('zz-good.yaml', service('good', 80));
    await f.start();
    assert.deepEqual(f.recorder.texts(), ['add Service default/good', ...SYNCED, 'cidrs ']);
    const errors = f.errors();
    for (const name of ['binary.yaml', 'deep.yaml', 'deep.json', 'huge.yaml', 'bomb.yaml']) {
      assert.equal(errors.filter((e) => e.includes(join(f.dir, name))).length, 1, `one error for ${name}`);
    }
    assert.equal(errors.length, 5, errors.join('\n'));
  });
});

test('a throwing handler is logged and does not stop the other events', async () => {
  await withSource(
    async (f) => {
      f.recorder.onServiceAdd = (s) => {
        if (s.metadata?.name === 'a') throw new Error('boom');
        f.recorder.events.push({ text: `add Service default/${s.metadata?.name}`, object: s });
      };
      await f.start();
      assert.deepEqual(f.recorder.texts(), ['add Service default/b', ...SYNCED, 'cidrs ']);
      assert.equal(f.errors().length, 1);
      assert.match(f.errors()[0] ?? '', /boom/);
    },
    { files: { 'a.yaml': docs(service('a', 1), service('b', 1)) } },
  );
});

test('close stops all events, is idempotent, and the source cannot be restarted', async () => {
  await withSource(
    async (f) => {
      await f.start();
      const mark = f.recorder.events.length;
      await f.write('a.yaml', service('web', 81));
      await f.source.close();
      await f.write('b.yaml', service('db', 1));
      await f.remove('a.yaml');
      await f.quiesce();
      assert.deepEqual(f.recorder.texts(mark), []);
      await f.source.close();
      await assert.rejects(f.source.start(new Recorder()), /closed/);
    },
    { files: { 'a.yaml': service('web', 80) } },
  );
});

test('a directory of refusable objects next to a working Service: each file is named exactly once, with line and field; only the Service is delivered', async () => {
  const files: Record<string, string> = { 'good.yaml': service('good', 80) };
  REFUSALS.forEach((r, i) => {
    files[`bad-${String(i).padStart(3, '0')}.yaml`] = `# ${r.what}\n${stringify(r.object)}`;
  });
  await withSource(
    async (f) => {
      await f.start();
      assert.deepEqual(f.recorder.texts(), ['add Service default/good', ...SYNCED, 'cidrs ']);
      const errors = f.errors();
      REFUSALS.forEach((r, i) => {
        const file = join(f.dir, `bad-${String(i).padStart(3, '0')}.yaml`);
        const lines = errors.filter((l) => l.includes(`${file}:`));
        assert.equal(lines.length, 1, `${r.what}: ${lines.join('\n')}`);
        assert.match(lines[0]!, /"Refusing invalid object" err=/, r.what);
        assert.ok(lines[0]!.includes(`: ${r.field}: `), `${r.what}: ${lines[0]}`);
      });
      assert.equal(errors.length, REFUSALS.length, errors.join('\n'));
    },
    { files },
  );
});
