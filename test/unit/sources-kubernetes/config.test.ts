// Client configuration: kubeconfig (tokens, token files, client certificates, exec plugins through
// client-node), --master, in-cluster service account, http:// servers. Temp files only; no API server.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { hasCode } from '../../../src/errors.ts';
import { ApiClient } from '../../../src/sources/kubernetes/api-client.ts';
import { loadClientConfig } from '../../../src/sources/kubernetes/config.ts';
import { UNLIMITED } from '../../../src/sources/kubernetes/limiter.ts';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'kpts-kcfg-'));
  writeFileSync(join(dir, 'ca.crt'), 'not used: no TLS connection is made');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function kubeconfig(
  server: string,
  user: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster: { server, 'certificate-authority': 'ca.crt', ...extra } }],
    users: [{ name: 'u', user }],
    contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'ctx',
  });
}

async function authHeader(cfg: ReturnType<typeof loadClientConfig>): Promise<string | undefined> {
  const opts: RequestOptions = {};
  await cfg.applyTo(opts);
  const h = (opts.headers as Record<string, unknown> | undefined)?.Authorization;
  return typeof h === 'string' ? h : undefined;
}

/** A plain-HTTP server that records request headers and answers {}. */
async function echoServer(t: TestContext): Promise<{ url: string; seen: IncomingHttpHeaders[] }> {
  const seen: IncomingHttpHeaders[] = [];
  const srv = createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end('{}');
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => {
    srv.closeAllConnections();
    srv.close();
  });
  const addr = srv.address();
  return { url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`, seen };
}

test('kubeconfig tokenFile authenticates; relative paths are resolved against the kubeconfig', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'token'), 'secret-1\n');
  const path = join(dir, 'kubeconfig');
  writeFileSync(path, kubeconfig('https://198.19.0.1:6443', { tokenFile: 'token' }));
  const cfg = loadClientConfig({ kubeconfig: path });
  assert.equal(cfg.source, 'kubeconfig');
  assert.equal(cfg.server, 'https://198.19.0.1:6443');
  assert.equal(cfg.tokenFile, join(dir, 'token'));
  assert.equal(await authHeader(cfg), 'Bearer secret-1', 'trimmed, as client-go');
  assert.equal(cfg.cluster.caFile, join(dir, 'ca.crt'), 'relative CA path resolved');
});

test('the token file is re-read as it rotates (every 60 s, as client-go)', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'token'), 'old');
  const path = join(dir, 'kubeconfig');
  writeFileSync(path, kubeconfig('https://198.19.0.1:6443', { tokenFile: join(dir, 'token') }));
  let now = 0;
  const cfg = loadClientConfig({ kubeconfig: path, clock: { now: () => now } });
  assert.equal(await authHeader(cfg), 'Bearer old');
  writeFileSync(join(dir, 'token'), 'new');
  now += 30_000;
  assert.equal(await authHeader(cfg), 'Bearer old', 'cached for a minute');
  now += 31_000;
  assert.equal(await authHeader(cfg), 'Bearer new');
});

test('tokenFile wins over a static token; a missing token file is a configuration error', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'token'), 'from-file');
  const path = join(dir, 'kubeconfig');
  writeFileSync(path, kubeconfig('https://h:1', { token: 'static', tokenFile: 'token' }));
  const cfg = loadClientConfig({ kubeconfig: path });
  assert.equal(await authHeader(cfg), 'Bearer from-file');
  writeFileSync(path, kubeconfig('https://h:1', { tokenFile: 'missing' }));
  assert.throws(
    () => loadClientConfig({ kubeconfig: path }),
    (err) =>
      hasCode(err, 'KP_ERR_INVALID_CONFIG') &&
      /tokenFile .*missing is not readable/.test((err as Error).message),
  );
});

test('the request sends the trimmed bearer token from the file, JSON Accept and the user agent', async (t) => {
  const dir = tempDir(t);
  const srv = await echoServer(t);
  writeFileSync(join(dir, 'token'), 'secret-2\n');
  const path = join(dir, 'kubeconfig');
  writeFileSync(path, kubeconfig(srv.url, { tokenFile: 'token' }));
  const cfg = loadClientConfig({ kubeconfig: path });
  assert.equal(cfg.plainHttp, true);
  const client = new ApiClient({ config: cfg, limiter: UNLIMITED, userAgent: 'kube-proxy-ts/test' });
  t.after(() => client.close());
  await client.getJson('/api/v1/services', { limit: 500 });
  assert.equal(srv.seen[0]?.authorization, 'Bearer secret-2');
  assert.equal(srv.seen[0]?.accept, 'application/json');
  assert.equal(srv.seen[0]?.['user-agent'], 'kube-proxy-ts/test');
});

test('--master overrides the kubeconfig server and keeps its credentials', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'kubeconfig');
  writeFileSync(path, kubeconfig('https://old:6443', { token: 'tok' }));
  const cfg = loadClientConfig({ kubeconfig: path, master: 'https://new:7443/' });
  assert.equal(cfg.server, 'https://new:7443');
  assert.equal(cfg.cluster.caFile, join(dir, 'ca.crt'));
  assert.equal(await authHeader(cfg), 'Bearer tok');
});

test('--master alone: no credentials; a bare host gets https; http:// works', async (t) => {
  const bare = loadClientConfig({ master: '198.19.0.1:6443' });
  assert.equal(bare.server, 'https://198.19.0.1:6443');
  assert.equal(bare.source, 'master');
  assert.equal(await authHeader(bare), undefined);
  const srv = await echoServer(t);
  const http = loadClientConfig({ master: srv.url });
  assert.equal(http.plainHttp, true);
  const client = new ApiClient({ config: http, limiter: UNLIMITED, userAgent: 'x' });
  t.after(() => client.close());
  assert.deepEqual(await client.getJson('/version', {}), {});
  assert.throws(
    () => loadClientConfig({ master: 'ftp://x' }),
    (e) => hasCode(e, 'KP_ERR_INVALID_CONFIG'),
  );
});

test('in-cluster: service env + service account token and CA; IPv6 hosts are bracketed', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'token'), 'sa-token');
  writeFileSync(join(dir, 'ca.crt'), 'ca');
  const cfg = loadClientConfig({
    env: { KUBERNETES_SERVICE_HOST: 'fd00:10:96::1', KUBERNETES_SERVICE_PORT: '443' },
    serviceAccountDir: dir,
  });
  assert.equal(cfg.source, 'in-cluster');
  assert.equal(cfg.server, 'https://[fd00:10:96::1]:443');
  assert.equal(cfg.tokenFile, join(dir, 'token'));
  assert.equal(cfg.cluster.caFile, join(dir, 'ca.crt'));
  const opts: RequestOptions = {};
  await cfg.applyTo(opts);
  assert.equal((opts.headers as Record<string, unknown>).Authorization, 'Bearer sa-token');
  assert.equal(String(opts.ca), 'ca');
  // client-node's loadFromCluster would pick http for port 8080; client-go never does.
  const p8080 = loadClientConfig({
    env: { KUBERNETES_SERVICE_HOST: '198.19.16.1', KUBERNETES_SERVICE_PORT: '8080' },
    serviceAccountDir: dir,
  });
  assert.equal(p8080.server, 'https://198.19.16.1:8080');
});

test('in-cluster without the service env or token is a configuration error', (t) => {
  const dir = tempDir(t);
  assert.throws(
    () => loadClientConfig({ env: {}, serviceAccountDir: dir }),
    (e) => hasCode(e, 'KP_ERR_INVALID_CONFIG') && /KUBERNETES_SERVICE_HOST/.test((e as Error).message),
  );
  assert.throws(
    () =>
      loadClientConfig({
        env: { KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '1' },
        serviceAccountDir: dir,
      }),
    (e) => hasCode(e, 'KP_ERR_INVALID_CONFIG') && /service account token/.test((e as Error).message),
  );
});

test('unreadable or unusable kubeconfigs are configuration errors', (t) => {
  const dir = tempDir(t);
  assert.throws(
    () => loadClientConfig({ kubeconfig: join(dir, 'nope') }),
    (e) => hasCode(e, 'KP_ERR_INVALID_CONFIG'),
  );
  const path = join(dir, 'kubeconfig');
  writeFileSync(
    path,
    JSON.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [], users: [], contexts: [] }),
  );
  assert.throws(
    () => loadClientConfig({ kubeconfig: path }),
    (e) => hasCode(e, 'KP_ERR_INVALID_CONFIG') && /no usable current-context/.test((e as Error).message),
  );
  // ... unless --master says where to go.
  assert.equal(loadClientConfig({ kubeconfig: path, master: 'https://h:1' }).server, 'https://h:1');
  rmSync(join(dir, 'ca.crt'));
  writeFileSync(path, kubeconfig('https://h:1', { token: 't' }));
  assert.throws(
    () => loadClientConfig({ kubeconfig: path }),
    (e) =>
      hasCode(e, 'KP_ERR_INVALID_CONFIG') &&
      /certificate-authority .*ca\.crt is not readable/.test((e as Error).message),
  );
});

test('client certificates, CA data, insecure-skip-tls-verify, tls-server-name and basic auth reach the request', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'client.crt'), 'CERT FROM FILE');
  writeFileSync(join(dir, 'client.key'), 'KEY FROM FILE');
  const path = join(dir, 'kubeconfig');
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  writeFileSync(
    path,
    kubeconfig(
      'https://198.19.0.1:6443',
      { 'client-certificate': 'client.crt', 'client-key': 'client.key', username: 'u', password: 'p' },
      {
        'certificate-authority': undefined,
        'certificate-authority-data': b64('CA DATA'),
        'tls-server-name': 'api',
      },
    ),
  );
  const opts: Record<string, unknown> = {};
  await loadClientConfig({ kubeconfig: path }).applyTo(opts);
  assert.equal(String(opts.ca), 'CA DATA');
  assert.equal(String(opts.cert), 'CERT FROM FILE');
  assert.equal(String(opts.key), 'KEY FROM FILE');
  assert.equal(opts.servername, 'api');
  assert.equal(opts.auth, 'u:p');
  assert.equal(opts.rejectUnauthorized, undefined);

  writeFileSync(
    path,
    kubeconfig(
      'https://198.19.0.1:6443',
      { 'client-certificate-data': b64('CERT DATA'), 'client-key-data': b64('KEY DATA') },
      { 'insecure-skip-tls-verify': true },
    ),
  );
  const insecure: Record<string, unknown> = {};
  await loadClientConfig({ kubeconfig: path }).applyTo(insecure);
  assert.equal(String(insecure.cert), 'CERT DATA');
  assert.equal(String(insecure.key), 'KEY DATA');
  assert.equal(insecure.rejectUnauthorized, false);
  writeFileSync(path, kubeconfig('https://198.19.0.1:6443', { 'client-key': 'missing.key' }));
  assert.throws(
    () => loadClientConfig({ kubeconfig: path }),
    (e) =>
      hasCode(e, 'KP_ERR_INVALID_CONFIG') &&
      /client-key .*missing\.key is not readable/.test((e as Error).message),
  );
});

test('an exec credential plugin is run through client-node', async (t) => {
  const dir = tempDir(t);
  const plugin = join(dir, 'credential-plugin');
  const credential = {
    apiVersion: 'client.authentication.k8s.io/v1',
    kind: 'ExecCredential',
    status: { token: 'from-plugin' },
  };
  writeFileSync(plugin, `#!/bin/sh\necho '${JSON.stringify(credential)}'\n`);
  chmodSync(plugin, 0o755);
  const srv = await echoServer(t);
  const path = join(dir, 'kubeconfig');
  writeFileSync(
    path,
    kubeconfig(srv.url, {
      exec: { apiVersion: 'client.authentication.k8s.io/v1', command: plugin, interactiveMode: 'Never' },
    }),
  );
  const cfg = loadClientConfig({ kubeconfig: path });
  assert.equal(cfg.user.plugin, 'exec');
  const client = new ApiClient({ config: cfg, limiter: UNLIMITED, userAgent: 'x' });
  t.after(() => client.close());
  await client.getJson('/version', {});
  assert.equal(srv.seen[0]?.authorization, 'Bearer from-plugin');
});
