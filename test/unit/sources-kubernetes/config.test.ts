// Client configuration: kubeconfig (with the tokenFile field client-node ignores), --master,
// in-cluster service account, http:// servers. Temp files only; no API server.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { hasCode } from '../../../src/errors.ts';
import { ApiClient } from '../../../src/sources/kubernetes/api-client.ts';
import { loadClientConfig, tokenFilesOf } from '../../../src/sources/kubernetes/config.ts';
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
  const opts: { headers?: Record<string, unknown> } = {};
  await cfg.kubeConfig.applyToHTTPSOptions(opts);
  const h = opts.headers?.Authorization;
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

test('tokenFilesOf: the camelCase tokenFile field, resolved against the kubeconfig directory', () => {
  const text = JSON.stringify({
    users: [
      { name: 'a', user: { tokenFile: 'tok' } },
      { name: 'b', user: { tokenFile: '/abs/tok' } },
      { name: 'c', user: { token: 'x' } },
      { name: 'd', user: { 'token-file': 'ignored-here' } },
    ],
  });
  assert.deepEqual(
    [...tokenFilesOf(text, '/etc/kube')],
    [
      ['a', '/etc/kube/tok'],
      ['b', '/abs/tok'],
    ],
  );
  assert.equal(tokenFilesOf('{{{', '/x').size, 0);
});

test('kubeconfig tokenFile authenticates (client-node alone sends no Authorization header)', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'token'), 'secret-1\n');
  const path = join(dir, 'kubeconfig');
  writeFileSync(path, kubeconfig('https://198.19.0.1:6443', { tokenFile: 'token' }));
  const plain = new KubeConfig();
  plain.loadFromFile(path);
  const plainOpts: { headers?: Record<string, unknown> } = {};
  await plain.applyToHTTPSOptions(plainOpts);
  assert.equal(plainOpts.headers?.Authorization, undefined, 'the client-node bug this works around');
  const cfg = loadClientConfig({ kubeconfig: path });
  assert.equal(cfg.source, 'kubeconfig');
  assert.equal(cfg.server, 'https://198.19.0.1:6443');
  assert.equal(cfg.tokenFile, join(dir, 'token'));
  assert.equal(cfg.kubeConfig.getCurrentUser()?.authProvider?.name, 'tokenFile');
  assert.equal((await authHeader(cfg))?.trim(), 'Bearer secret-1');
  assert.equal(cfg.kubeConfig.getCurrentCluster()?.caFile, join(dir, 'ca.crt'), 'relative CA path resolved');
});

test('the token file is re-read as it rotates (every 60 s, as client-go)', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'token'), 'old');
  const path = join(dir, 'kubeconfig');
  writeFileSync(path, kubeconfig('https://198.19.0.1:6443', { tokenFile: join(dir, 'token') }));
  t.mock.timers.enable({ apis: ['Date'], now: Date.parse('2026-11-26T00:00:00Z') });
  const cfg = loadClientConfig({ kubeconfig: path });
  assert.equal(await authHeader(cfg), 'Bearer old');
  writeFileSync(join(dir, 'token'), 'new');
  t.mock.timers.tick(30_000);
  assert.equal(await authHeader(cfg), 'Bearer old', 'cached for a minute');
  t.mock.timers.tick(31_000);
  assert.equal(await authHeader(cfg), 'Bearer new');
});

test('tokenFile wins over a static token; a missing token file is a configuration error', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'token'), 'from-file');
  const path = join(dir, 'kubeconfig');
  writeFileSync(path, kubeconfig('https://h:1', { token: 'static', tokenFile: 'token' }));
  const cfg = loadClientConfig({ kubeconfig: path });
  assert.equal(cfg.kubeConfig.getCurrentUser()?.token, undefined);
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
  assert.equal(cfg.kubeConfig.getCurrentCluster()?.server, 'https://new:7443');
  assert.equal(cfg.kubeConfig.getCurrentCluster()?.caFile, join(dir, 'ca.crt'));
  assert.equal(await authHeader(cfg), 'Bearer tok');
});

test('--master alone: no credentials; a bare host gets https; http:// works (skipTLSVerify workaround)', async (t) => {
  const bare = loadClientConfig({ master: '198.19.0.1:6443' });
  assert.equal(bare.server, 'https://198.19.0.1:6443');
  assert.equal(bare.source, 'master');
  assert.equal(await authHeader(bare), undefined);
  const srv = await echoServer(t);
  const http = loadClientConfig({ master: srv.url });
  assert.equal(http.plainHttp, true);
  assert.equal(http.kubeConfig.getCurrentCluster()?.skipTLSVerify, true);
  // client-node alone: "HTTP protocol is not allowed when skipTLSVerify is not set or false"
  await http.kubeConfig.applyToHTTPSOptions({});
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
  assert.equal(cfg.kubeConfig.getCurrentCluster()?.caFile, join(dir, 'ca.crt'));
  const opts: { headers?: Record<string, unknown> } = {};
  await cfg.kubeConfig.applyToHTTPSOptions(opts);
  assert.equal(opts.headers?.Authorization, 'Bearer sa-token');
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
