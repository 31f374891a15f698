// Where the API server is and how to authenticate to it, as upstream's createClient decides:
// --kubeconfig and/or --master (which overrides the kubeconfig's server), otherwise the in-cluster
// service account. Parsing and authentication are client-node's KubeConfig, with two library
// gaps closed here (see /work/shared/reference/ecosystem.md §1.5):
// - the kubeconfig field users[].user.tokenFile is ignored by client-node; it becomes the
//   library's tokenFile auth provider, which re-reads the file (every 60 s) as tokens rotate;
// - http:// servers are refused unless skipTLSVerify is set, which is meaningless without TLS,
//   so it is set for them.
import { accessSync, constants, readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { dirname, isAbsolute, join } from 'node:path';
import { type Cluster, type Context, KubeConfig, type User } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { KubeProxyError } from '../../errors.ts';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface ClientConfigOptions {
  /** --kubeconfig: path of a kubeconfig file. */
  kubeconfig?: string | undefined;
  /** --master: overrides the server of the kubeconfig (or is the only setting without one). */
  master?: string | undefined;
  /** For tests: the environment holding KUBERNETES_SERVICE_HOST/PORT. */
  env?: NodeJS.ProcessEnv;
  /** For tests: where the service account's token and ca.crt live. */
  serviceAccountDir?: string;
}

export interface ClientConfig {
  readonly kubeConfig: KubeConfig;
  /** The server URL without a trailing slash. */
  readonly server: string;
  /** How the configuration was found, for the startup log. */
  readonly source: 'kubeconfig' | 'master' | 'in-cluster';
  /** The token file that authenticates requests (re-read as it rotates), if any. */
  readonly tokenFile: string | undefined;
  readonly plainHttp: boolean;
}

function invalid(message: string, cause?: unknown): KubeProxyError {
  return new KubeProxyError('KP_ERR_INVALID_CONFIG', message, cause === undefined ? undefined : { cause });
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The `tokenFile` of every user in a kubeconfig text, by user name, resolved against the
 * kubeconfig's directory as client-go resolves file references. Pure apart from the parse.
 */
export function tokenFilesOf(text: string, kubeconfigDir: string): Map<string, string> {
  const out = new Map<string, string>();
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch {
    return out; // client-node reports the parse error itself
  }
  if (!isRecord(doc) || !Array.isArray(doc.users)) return out;
  for (const entry of doc.users) {
    if (!isRecord(entry) || typeof entry.name !== 'string' || !isRecord(entry.user)) continue;
    const file = entry.user.tokenFile;
    if (typeof file !== 'string' || file === '') continue;
    out.set(entry.name, isAbsolute(file) ? file : join(kubeconfigDir, file));
  }
  return out;
}

/** The library's own tokenFile auth provider (re-reads the file every 60 s). */
export function withTokenFile(user: User, tokenFile: string): User {
  const { token: _staticToken, ...rest } = user;
  // client-go: "the last successfully read value [of the file] takes precedence over BearerToken".
  return { ...rest, authProvider: { name: 'tokenFile', config: { tokenFile } } };
}

function checkReadable(path: string, what: string): void {
  try {
    accessSync(path, constants.R_OK);
  } catch (err) {
    throw invalid(`${what} ${path} is not readable: ${errorMessage(err)}`, err);
  }
}

function normaliseServer(server: string): string {
  const trimmed = server.trim();
  // kube-proxy's --master accepts a bare host[:port] as client-go does (defaulting to https).
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `https://${trimmed}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch (err) {
    throw invalid(`invalid API server address ${JSON.stringify(server)}`, err);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw invalid(`API server address ${JSON.stringify(server)}: scheme must be https or http`);
  }
  return withScheme.replace(/\/+$/, '');
}

function inClusterConfig(opts: ClientConfigOptions): KubeConfig {
  const env = opts.env ?? process.env;
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) {
    throw invalid(
      'unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined (or pass --kubeconfig or --master)',
    );
  }
  const dir = opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const tokenFile = join(dir, 'token');
  checkReadable(tokenFile, 'service account token');
  const caFile = join(dir, 'ca.crt');
  let ca: string | undefined = caFile;
  try {
    accessSync(caFile, constants.R_OK);
  } catch {
    ca = undefined; // client-go logs and goes on with the system roots
  }
  const kc = new KubeConfig();
  // Unlike client-node's loadFromCluster, always https (client-go does not guess http from the port).
  const server = `https://${isIPv6(host) ? `[${host}]` : host}:${port}`;
  const cluster: Cluster = { name: 'inCluster', server, skipTLSVerify: false, ...(ca && { caFile: ca }) };
  const user: User = { name: 'inClusterUser', authProvider: { name: 'tokenFile', config: { tokenFile } } };
  kc.loadFromClusterAndUser(cluster, user);
  return kc;
}

/**
 * Loads the client configuration as upstream kube-proxy does. Throws a KubeProxyError
 * (KP_ERR_INVALID_CONFIG) when it cannot be loaded.
 */
export function loadClientConfig(opts: ClientConfigOptions): ClientConfig {
  const kubeconfig = opts.kubeconfig?.trim() || undefined;
  const master = opts.master?.trim() || undefined;
  let kc: KubeConfig;
  let source: ClientConfig['source'];
  let tokenFiles = new Map<string, string>();
  if (kubeconfig === undefined && master === undefined) {
    kc = inClusterConfig(opts);
    source = 'in-cluster';
  } else {
    kc = new KubeConfig();
    source = kubeconfig !== undefined ? 'kubeconfig' : 'master';
    if (kubeconfig !== undefined) {
      let text: string;
      try {
        text = readFileSync(kubeconfig, 'utf8');
        kc.loadFromString(text);
        kc.makePathsAbsolute(dirname(kubeconfig));
      } catch (err) {
        throw invalid(`cannot load kubeconfig ${kubeconfig}: ${errorMessage(err)}`, err);
      }
      tokenFiles = tokenFilesOf(text, dirname(kubeconfig));
    }
  }

  let contexts: Context[] = kc.getContexts();
  let clusters: Cluster[] = kc.getClusters();
  let users: User[] = kc.getUsers();
  let currentContext: string | undefined = kc.getCurrentContext();
  let context: Context | null = currentContext ? kc.getContextObject(currentContext) : null;
  if (!context) {
    if (master === undefined) {
      throw invalid(
        kubeconfig !== undefined
          ? `kubeconfig ${kubeconfig} has no usable current-context`
          : 'no API server configuration',
      );
    }
    // Only --master (or a kubeconfig without a current context): the server, no credentials.
    context = {
      name: 'kube-proxy-ts-master',
      cluster: 'kube-proxy-ts-master',
      user: 'kube-proxy-ts-anonymous',
    };
    contexts = [...contexts.filter((c) => c.name !== context?.name), context];
    users = [...users.filter((u) => u.name !== context?.user), { name: context.user }];
    currentContext = context.name;
  }
  const current = context;
  const cluster = clusters.find((c) => c.name === current.cluster);
  if (!cluster && master === undefined) {
    throw invalid(
      `kubeconfig ${kubeconfig}: context ${current.name} names unknown cluster ${current.cluster}`,
    );
  }
  const server = normaliseServer(master ?? cluster?.server ?? '');
  const plainHttp = server.startsWith('http:');
  // ecosystem.md §1.5: client-node refuses http:// unless skipTLSVerify; without TLS it means nothing.
  const patched: Cluster = {
    ...(cluster ?? { name: current.cluster, skipTLSVerify: false }),
    server,
    ...(plainHttp && { skipTLSVerify: true }),
  };
  clusters = [...clusters.filter((c) => c.name !== patched.name), patched];
  // client-go reads these when the client is made; client-node only at the first request.
  if (patched.caFile) checkReadable(patched.caFile, `cluster ${patched.name}: certificate-authority`);

  let tokenFile: string | undefined;
  const user = users.find((u) => u.name === current.user);
  if (user?.certFile) checkReadable(user.certFile, `kubeconfig user ${user.name}: client-certificate`);
  if (user?.keyFile) checkReadable(user.keyFile, `kubeconfig user ${user.name}: client-key`);
  const fromFile = tokenFiles.get(current.user);
  if (user && fromFile !== undefined) {
    if (user.authProvider || user.exec) {
      throw invalid(`kubeconfig user ${user.name}: tokenFile cannot be combined with auth-provider or exec`);
    }
    checkReadable(fromFile, `kubeconfig user ${user.name}: tokenFile`);
    users = users.map((u) => (u === user ? withTokenFile(u, fromFile) : u));
    tokenFile = fromFile;
  } else if (user?.authProvider?.name === 'tokenFile') {
    const f = (user.authProvider as { config?: { tokenFile?: unknown } }).config?.tokenFile;
    if (typeof f === 'string') tokenFile = f;
  }

  const out = new KubeConfig();
  out.loadFromOptions({ clusters, users, contexts, currentContext });
  return { kubeConfig: out, server, source, tokenFile, plainHttp };
}
