// Where the API server is and how to authenticate to it, as upstream's createClient decides:
// --kubeconfig and/or --master (which overrides the kubeconfig's server), otherwise the in-cluster
// service account. The kubeconfig is read here, not by client-node: loading that library costs
// ~0.7 s of start-up and ~60 MiB of memory, and kube-proxy's kubeconfigs use tokens, token files
// and client certificates. Users with an `exec` or `auth-provider` plugin are handed to
// client-node's KubeConfig, imported only then.
import { accessSync, constants, readFileSync } from 'node:fs';
import type { RequestOptions as HttpsRequestOptions } from 'node:https';
import { isIPv6 } from 'node:net';
import { dirname, isAbsolute, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { errorMessage, KubeProxyError } from '../../errors.ts';
import { type Clock, realClock } from '../../util/clock.ts';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** client-go's cachingTokenSource: a token file is re-read at most once a minute. */
const TOKEN_FILE_TTL_MS = 60_000;

export interface ClientConfigOptions {
  /** --kubeconfig: path of a kubeconfig file. */
  kubeconfig?: string | undefined;
  /** --master: overrides the server of the kubeconfig (or is the only setting without one). */
  master?: string | undefined;
  /** For tests: the environment holding KUBERNETES_SERVICE_HOST/PORT. */
  env?: NodeJS.ProcessEnv;
  /** For tests: where the service account's token and ca.crt live. */
  serviceAccountDir?: string;
  /** When a token file is due to be read again. */
  clock?: Pick<Clock, 'now'>;
}

/** The kubeconfig cluster in use, file references resolved against the kubeconfig's directory. */
export interface KubeCluster {
  readonly name: string;
  readonly caFile?: string;
  readonly caData?: Buffer;
  readonly insecureSkipTLSVerify: boolean;
  readonly tlsServerName?: string;
}

/** The kubeconfig user in use. */
export interface KubeUser {
  readonly name: string;
  readonly token?: string;
  readonly tokenFile?: string;
  readonly certFile?: string;
  readonly certData?: Buffer;
  readonly keyFile?: string;
  readonly keyData?: Buffer;
  readonly username?: string;
  readonly password?: string;
  /** An exec or auth-provider plugin: credentials come from client-node. */
  readonly plugin?: 'exec' | 'auth-provider';
}

export interface ClientConfig {
  /** The server URL without a trailing slash. */
  readonly server: string;
  /** How the configuration was found, for the startup log. */
  readonly source: 'kubeconfig' | 'master' | 'in-cluster';
  /** The token file that authenticates requests (re-read as it rotates), if any. */
  readonly tokenFile: string | undefined;
  readonly plainHttp: boolean;
  readonly cluster: KubeCluster;
  readonly user: KubeUser;
  /** Adds TLS material and credentials for one request (files are read again as they rotate). */
  applyTo(opts: HttpsRequestOptions): Promise<void>;
}

function invalid(message: string, cause?: unknown): KubeProxyError {
  return new KubeProxyError('KP_ERR_INVALID_CONFIG', message, cause === undefined ? undefined : { cause });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
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

/** One named entry of a kubeconfig list (clusters, users, contexts). */
function named(doc: Record<string, unknown>, list: string, field: string, name: string) {
  const entries = Array.isArray(doc[list]) ? doc[list] : [];
  const entry = entries.find((e) => isRecord(e) && e.name === name) as Record<string, unknown> | undefined;
  return entry === undefined ? undefined : isRecord(entry[field]) ? entry[field] : {};
}

/** The parsed kubeconfig document, with the directory its relative paths are resolved against. */
interface Kubeconfig {
  readonly path: string;
  readonly doc: Record<string, unknown>;
}

function readKubeconfig(path: string): Kubeconfig {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw invalid(`cannot load kubeconfig ${path}: ${errorMessage(err)}`, err);
  }
  if (!isRecord(doc)) throw invalid(`cannot load kubeconfig ${path}: not a kubeconfig document`);
  return { path, doc };
}

function str(obj: Record<string, unknown>, key: string, where: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw invalid(`${where}: ${key} must be a string`);
  return v;
}

function data(obj: Record<string, unknown>, key: string, where: string): Buffer | undefined {
  const v = str(obj, key, where);
  return v === undefined ? undefined : Buffer.from(v, 'base64');
}

function clusterOf(kc: Kubeconfig, name: string, raw: Record<string, unknown>): KubeCluster {
  const where = `kubeconfig ${kc.path}: cluster ${name}`;
  const file = str(raw, 'certificate-authority', where);
  const caData = data(raw, 'certificate-authority-data', where);
  const tlsServerName = str(raw, 'tls-server-name', where);
  return {
    name,
    ...(file !== undefined && { caFile: isAbsolute(file) ? file : join(dirname(kc.path), file) }),
    ...(caData && { caData }),
    insecureSkipTLSVerify: raw['insecure-skip-tls-verify'] === true,
    ...(tlsServerName !== undefined && { tlsServerName }),
  };
}

function userOf(kc: Kubeconfig, name: string, raw: Record<string, unknown>): KubeUser {
  const where = `kubeconfig ${kc.path}: user ${name}`;
  const path = (f: string | undefined) =>
    f === undefined ? undefined : isAbsolute(f) ? f : join(dirname(kc.path), f);
  const fields = {
    token: str(raw, 'token', where),
    // client-go's field is camelCase here, unlike the others.
    tokenFile: path(str(raw, 'tokenFile', where)),
    certFile: path(str(raw, 'client-certificate', where)),
    certData: data(raw, 'client-certificate-data', where),
    keyFile: path(str(raw, 'client-key', where)),
    keyData: data(raw, 'client-key-data', where),
    username: str(raw, 'username', where),
    password: str(raw, 'password', where),
    plugin: isRecord(raw.exec) ? 'exec' : isRecord(raw['auth-provider']) ? 'auth-provider' : undefined,
  } as const;
  if (fields.tokenFile !== undefined && fields.plugin !== undefined)
    throw invalid(`kubeconfig user ${name}: tokenFile cannot be combined with auth-provider or exec`);
  return {
    name,
    ...Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)),
  } as KubeUser;
}

function inClusterConfig(opts: ClientConfigOptions): {
  server: string;
  cluster: KubeCluster;
  user: KubeUser;
} {
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
  return {
    // Always https: client-go does not guess http from the port.
    server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`,
    cluster: { name: 'inCluster', insecureSkipTLSVerify: false, ...(ca && { caFile: ca }) },
    user: { name: 'inClusterUser', tokenFile },
  };
}

/**
 * Loads the client configuration as upstream kube-proxy does. Throws a KubeProxyError
 * (KP_ERR_INVALID_CONFIG) when it cannot be loaded.
 */
export function loadClientConfig(opts: ClientConfigOptions): ClientConfig {
  const kubeconfigPath = opts.kubeconfig?.trim() || undefined;
  const master = opts.master?.trim() || undefined;
  if (kubeconfigPath === undefined && master === undefined) {
    const c = inClusterConfig(opts);
    return clientConfig(c.server, 'in-cluster', c.cluster, c.user, undefined, opts.clock ?? realClock);
  }
  const kc = kubeconfigPath === undefined ? undefined : readKubeconfig(kubeconfigPath);
  const source = kubeconfigPath !== undefined ? 'kubeconfig' : 'master';
  const currentName = kc && typeof kc.doc['current-context'] === 'string' ? kc.doc['current-context'] : '';
  const context = kc && currentName !== '' ? named(kc.doc, 'contexts', 'context', currentName) : undefined;
  if (!context && master === undefined) {
    throw invalid(
      kubeconfigPath !== undefined
        ? `kubeconfig ${kubeconfigPath} has no usable current-context`
        : 'no API server configuration',
    );
  }
  let cluster: KubeCluster = { name: 'kube-proxy-ts-master', insecureSkipTLSVerify: false };
  let user: KubeUser = { name: 'kube-proxy-ts-anonymous' };
  let clusterServer: string | undefined;
  if (kc && context) {
    // Without a current context, only --master counts: the server, no credentials.
    const clusterName = typeof context.cluster === 'string' ? context.cluster : '';
    const rawCluster = named(kc.doc, 'clusters', 'cluster', clusterName);
    if (!rawCluster && master === undefined) {
      throw invalid(
        `kubeconfig ${kubeconfigPath}: context ${currentName} names unknown cluster ${clusterName}`,
      );
    }
    if (rawCluster) {
      cluster = clusterOf(kc, clusterName, rawCluster);
      clusterServer = str(rawCluster, 'server', `kubeconfig ${kc.path}: cluster ${clusterName}`);
    }
    const userName = typeof context.user === 'string' ? context.user : '';
    const rawUser = named(kc.doc, 'users', 'user', userName);
    if (rawUser) user = userOf(kc, userName, rawUser);
  }
  // client-go reads these when the client is made, not at the first request.
  if (cluster.caFile) checkReadable(cluster.caFile, `cluster ${cluster.name}: certificate-authority`);
  if (user.certFile) checkReadable(user.certFile, `kubeconfig user ${user.name}: client-certificate`);
  if (user.keyFile) checkReadable(user.keyFile, `kubeconfig user ${user.name}: client-key`);
  if (user.tokenFile) checkReadable(user.tokenFile, `kubeconfig user ${user.name}: tokenFile`);
  const server = normaliseServer(master ?? clusterServer ?? '');
  return clientConfig(server, source, cluster, user, user.plugin ? kc : undefined, opts.clock ?? realClock);
}

function clientConfig(
  server: string,
  source: ClientConfig['source'],
  cluster: KubeCluster,
  user: KubeUser,
  pluginKubeconfig: Kubeconfig | undefined,
  clock: Pick<Clock, 'now'>,
): ClientConfig {
  const plainHttp = server.startsWith('http:');
  const token =
    user.tokenFile !== undefined ? tokenFileReader(user.tokenFile, clock) : async () => user.token;
  const plugin = pluginKubeconfig && pluginCredentials(pluginKubeconfig, server);
  return {
    server,
    source,
    tokenFile: user.tokenFile,
    plainHttp,
    cluster,
    user,
    applyTo: async (opts) => {
      if (!plainHttp) {
        const ca =
          cluster.caData ?? (cluster.caFile !== undefined ? readFileSync(cluster.caFile) : undefined);
        if (ca) opts.ca = ca;
        if (cluster.insecureSkipTLSVerify) opts.rejectUnauthorized = false;
        if (cluster.tlsServerName !== undefined) opts.servername = cluster.tlsServerName;
        const cert = user.certData ?? (user.certFile !== undefined ? readFileSync(user.certFile) : undefined);
        const key = user.keyData ?? (user.keyFile !== undefined ? readFileSync(user.keyFile) : undefined);
        if (cert) opts.cert = cert;
        if (key) opts.key = key;
      }
      const headers: Record<string, string> = {};
      const bearer = await token();
      if (bearer !== undefined) headers.Authorization = `Bearer ${bearer}`;
      if (user.username !== undefined || user.password !== undefined)
        opts.auth = `${user.username ?? ''}:${user.password ?? ''}`;
      if (plugin) await plugin(opts, headers);
      opts.headers = { ...(opts.headers as Record<string, string> | undefined), ...headers };
    },
  };
}

/** The token in a file, trimmed (client-go trims it), re-read at most once a minute. */
function tokenFileReader(path: string, clock: Pick<Clock, 'now'>): () => Promise<string | undefined> {
  let cached: { token: string; at: number } | undefined;
  return async () => {
    const now = clock.now();
    if (cached === undefined || now - cached.at >= TOKEN_FILE_TTL_MS) {
      try {
        cached = { token: readFileSync(path, 'utf8').trim(), at: now };
      } catch (err) {
        // client-go goes on with the last good token; without one the request goes out unauthenticated.
        if (cached === undefined) throw invalid(`cannot read token file ${path}: ${errorMessage(err)}`, err);
      }
    }
    return cached.token;
  };
}

/** exec and auth-provider users: client-node runs the plugin (it caches and refreshes credentials). */
function pluginCredentials(
  kc: Kubeconfig,
  server: string,
): (opts: HttpsRequestOptions, headers: Record<string, string>) => Promise<void> {
  let loaded: Promise<{ applyToHTTPSOptions(o: HttpsRequestOptions): Promise<void> }> | undefined;
  return async (opts, headers) => {
    loaded ??= import('@kubernetes/client-node').then(({ KubeConfig }) => {
      const lib = new KubeConfig();
      lib.loadFromString(readFileSync(kc.path, 'utf8'));
      lib.makePathsAbsolute(dirname(kc.path));
      // client-node refuses http:// unless skipTLSVerify is set, which means nothing without TLS.
      const current = lib.getCurrentCluster();
      if (current && server.startsWith('http:')) {
        lib.clusters = lib.clusters.map((c) => (c === current ? { ...c, server, skipTLSVerify: true } : c));
      }
      return lib;
    });
    const fromPlugin: HttpsRequestOptions = {};
    await (await loaded).applyToHTTPSOptions(fromPlugin);
    const auth = (fromPlugin.headers as Record<string, unknown> | undefined)?.Authorization;
    if (typeof auth === 'string') headers.Authorization = auth.trim();
    if (fromPlugin.cert) opts.cert = fromPlugin.cert;
    if (fromPlugin.key) opts.key = fromPlugin.key;
  };
}
