// A DaemonSet's pod, as the kubelet would run it, translated into `podman run` flags: the container's
// command, args and env (fieldRef and $(VAR) expansion as the kubelet does them), its securityContext,
// host networking (the sandbox node's namespace), and its volumes: ConfigMaps as directories of their
// keys (read-only), hostPaths, and the service account's token, CA and namespace at
// /var/run/secrets/kubernetes.io/serviceaccount. Only what deploy/daemonset.yaml uses is supported;
// anything else throws, so a DaemonSet change the test cannot reproduce fails loudly.

export const SERVICE_ACCOUNT_MOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

// biome-ignore lint/suspicious/noExplicitAny: manifest trees are walked freely
type Obj = Record<string, any>;

export interface PodRuntime {
  /** The image reference to run. */
  image: string;
  /** `podman run --name`. */
  containerName: string;
  /** spec.nodeName: the node the DaemonSet's pod landed on. */
  nodeName: string;
  /** The node's network namespace (hostNetwork: true), e.g. /run/netns/<name>. */
  netnsPath: string;
  /** ConfigMap name -> a directory holding its keys as files. */
  configMaps: Readonly<Record<string, string>>;
  /** A directory holding the service account's token, ca.crt and namespace. */
  serviceAccountDir: string;
  /** Where a hostPath volume's path is on this machine (the node's file system). */
  hostPath(path: string, type: string | undefined): string;
  /** What the kubelet adds to every container's environment (KUBERNETES_SERVICE_HOST/PORT). */
  serviceEnv?: Readonly<Record<string, string>>;
  /** Name -> address entries for the container's /etc/hosts. */
  hosts?: Readonly<Record<string, string>>;
  /** Further `podman run` flags (resource limits of this machine). */
  extraArgs?: readonly string[];
}

/** The DaemonSet's single container. */
export function daemonSetContainer(ds: Obj): Obj {
  const containers = ds?.spec?.template?.spec?.containers;
  if (!Array.isArray(containers) || containers.length !== 1)
    throw new Error('the DaemonSet must have exactly one container');
  return containers[0] as Obj;
}

/** Kubernetes' $(VAR) expansion: defined variables are replaced, $$ escapes, anything else stays. */
export function expandVars(s: string, env: ReadonlyMap<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) =>
    m === '$$' ? '$' : (env.get(name!) ?? m),
  );
}

function fieldRef(path: string, ds: Obj, rt: PodRuntime): string {
  switch (path) {
    case 'spec.nodeName':
      return rt.nodeName;
    case 'metadata.namespace':
      return ds.metadata?.namespace ?? 'default';
    case 'spec.serviceAccountName':
      return ds.spec.template.spec.serviceAccountName ?? 'default';
    default:
      throw new Error(`fieldRef ${path} is not supported by the image test`);
  }
}

/** The container's environment in kubelet order: service env first, then the container's env. */
export function containerEnv(ds: Obj, rt: PodRuntime): Map<string, string> {
  const env = new Map<string, string>(Object.entries(rt.serviceEnv ?? {}));
  for (const e of (daemonSetContainer(ds).env ?? []) as Obj[]) {
    if (typeof e.value === 'string') env.set(e.name, expandVars(e.value, env));
    else if (e.valueFrom?.fieldRef) env.set(e.name, fieldRef(e.valueFrom.fieldRef.fieldPath, ds, rt));
    else if (e.value === undefined && e.valueFrom === undefined) env.set(e.name, '');
    else throw new Error(`env ${e.name}: only value and fieldRef are supported by the image test`);
  }
  return env;
}

/** `podman run` arguments (after `run`) that run the DaemonSet's container as the kubelet would. */
export function podmanRunArgs(ds: Obj, rt: PodRuntime): string[] {
  const pod = ds?.spec?.template?.spec as Obj;
  const c = daemonSetContainer(ds);
  if (pod.hostNetwork !== true) throw new Error('the image test runs host-network DaemonSets only');
  const env = containerEnv(ds, rt);
  const args = ['--name', rt.containerName, '--network', `ns:${rt.netnsPath}`, ...(rt.extraArgs ?? [])];
  for (const [k, v] of env) args.push('--env', `${k}=${v}`);
  for (const [name, ip] of Object.entries(rt.hosts ?? {})) args.push('--add-host', `${name}:${ip}`);

  const sc = (c.securityContext ?? {}) as Obj;
  for (const key of Object.keys(sc)) {
    if (!['privileged', 'capabilities', 'readOnlyRootFilesystem'].includes(key))
      throw new Error(`securityContext.${key} is not supported by the image test`);
  }
  if (sc.privileged === true) args.push('--privileged');
  for (const cap of (sc.capabilities?.add ?? []) as string[]) args.push('--cap-add', cap);
  for (const cap of (sc.capabilities?.drop ?? []) as string[]) args.push('--cap-drop', cap);
  if (sc.readOnlyRootFilesystem === true) args.push('--read-only');

  const volumes = new Map<string, Obj>(((pod.volumes ?? []) as Obj[]).map((v) => [v.name as string, v]));
  for (const m of (c.volumeMounts ?? []) as Obj[]) {
    const v = volumes.get(m.name);
    if (!v) throw new Error(`volumeMount ${m.name} names no volume`);
    if (m.subPath !== undefined) throw new Error(`volumeMount ${m.name}: subPath is not supported`);
    let source: string;
    // The kubelet mounts ConfigMap volumes read-only whatever the mount says.
    let readOnly = m.readOnly === true;
    if (v.configMap) {
      const dir = rt.configMaps[v.configMap.name];
      if (dir === undefined) throw new Error(`ConfigMap ${v.configMap.name} was not provided`);
      source = dir;
      readOnly = true;
    } else if (v.hostPath) {
      source = rt.hostPath(v.hostPath.path, v.hostPath.type);
    } else {
      throw new Error(`volume ${v.name}: only configMap and hostPath are supported by the image test`);
    }
    args.push('--volume', `${source}:${m.mountPath}${readOnly ? ':ro' : ''}`);
  }
  if (pod.automountServiceAccountToken !== false) {
    args.push('--volume', `${rt.serviceAccountDir}:${SERVICE_ACCOUNT_MOUNT}:ro`);
  }

  // command replaces the image's entrypoint and args its cmd, both with $(VAR) expanded.
  const command = ((c.command ?? []) as string[]).map((s) => expandVars(s, env));
  const cargs = ((c.args ?? []) as string[]).map((s) => expandVars(s, env));
  if (command.length > 0) args.push('--entrypoint', JSON.stringify(command));
  args.push(rt.image, ...cargs);
  return args;
}
