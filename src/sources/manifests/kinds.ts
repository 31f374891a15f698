// The API kinds the manifest source understands, and the JSON shape of the fields kube-proxy reads
// (mirroring src/model/k8s.ts). Fields not listed pass through unchecked.
import { isJsonObject, type JsonValue } from './json-value.ts';
import { arr, bool, int, intOrString, mapOf, obj, type Shape, str } from './shape.ts';

export type ManifestKind = 'Service' | 'EndpointSlice' | 'Node' | 'ServiceCIDR';

export interface KindInfo {
  readonly kind: ManifestKind;
  /** API group; '' is the core group ("v1"). */
  readonly group: string;
  readonly version: string;
  readonly namespaced: boolean;
  readonly shape: Shape;
}

const metadata = obj({
  name: str,
  namespace: str,
  uid: str,
  resourceVersion: str,
  labels: mapOf(str),
  annotations: mapOf(str),
  deletionTimestamp: str,
});

const service = obj({
  metadata,
  spec: obj({
    type: str,
    clusterIP: str,
    clusterIPs: arr(str),
    ipFamilies: arr(str),
    ipFamilyPolicy: str,
    ports: arr(
      obj({ name: str, protocol: str, port: int, targetPort: intOrString, nodePort: int, appProtocol: str }),
    ),
    externalIPs: arr(str),
    sessionAffinity: str,
    sessionAffinityConfig: obj({ clientIP: obj({ timeoutSeconds: int }) }),
    loadBalancerSourceRanges: arr(str),
    externalTrafficPolicy: str,
    internalTrafficPolicy: str,
    healthCheckNodePort: int,
    trafficDistribution: str,
    externalName: str,
  }),
  status: obj({ loadBalancer: obj({ ingress: arr(obj({ ip: str, hostname: str, ipMode: str })) }) }),
});

const endpointSlice = obj({
  metadata,
  addressType: str,
  endpoints: arr(
    obj({
      addresses: arr(str),
      conditions: obj({ ready: bool, serving: bool, terminating: bool }),
      hostname: str,
      nodeName: str,
      zone: str,
      hints: obj({ forZones: arr(obj({ name: str })), forNodes: arr(obj({ name: str })) }),
    }),
  ),
  ports: arr(obj({ name: str, protocol: str, port: int, appProtocol: str })),
});

const node = obj({
  metadata,
  spec: obj({
    podCIDR: str,
    podCIDRs: arr(str),
    taints: arr(obj({ key: str, value: str, effect: str })),
  }),
  status: obj({ addresses: arr(obj({ type: str, address: str })) }),
});

const serviceCIDR = obj({ metadata, spec: obj({ cidrs: arr(str) }) });

export const KINDS: ReadonlyMap<string, KindInfo> = new Map<string, KindInfo>([
  ['Service', { kind: 'Service', group: '', version: 'v1', namespaced: true, shape: service }],
  [
    'EndpointSlice',
    {
      kind: 'EndpointSlice',
      group: 'discovery.k8s.io',
      version: 'v1',
      namespaced: true,
      shape: endpointSlice,
    },
  ],
  ['Node', { kind: 'Node', group: '', version: 'v1', namespaced: false, shape: node }],
  [
    'ServiceCIDR',
    { kind: 'ServiceCIDR', group: 'networking.k8s.io', version: 'v1', namespaced: false, shape: serviceCIDR },
  ],
]);

export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.lastIndexOf('/');
  return slash < 0
    ? { group: '', version: apiVersion }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

export function objectKey(info: KindInfo, namespace: string, name: string): string {
  return info.namespaced ? `${info.kind}/${namespace}/${name}` : `${info.kind}/${name}`;
}

/** "Service default/web", for messages. */
export function objectRef(info: KindInfo, namespace: string | undefined, name: string | undefined): string {
  if (name === undefined) return info.kind;
  return info.namespaced && namespace !== undefined
    ? `${info.kind} ${namespace}/${name}`
    : `${info.kind} ${name}`;
}

/** The kind of a recognised object, or undefined for kinds (or API groups) this source ignores. */
export function recognisedKind(value: JsonValue): KindInfo | undefined {
  if (!isJsonObject(value) || typeof value.kind !== 'string') return undefined;
  const info = KINDS.get(value.kind);
  if (!info || typeof value.apiVersion !== 'string') return info;
  // A kind name from another API group (Knative's serving.knative.dev/v1 Service) is someone else's object.
  return splitApiVersion(value.apiVersion).group === info.group ? info : undefined;
}

/** The namespace an object lives in: "default" when unset, undefined when it is not a string. */
export function effectiveNamespace(metadataValue: JsonValue | undefined): string | undefined {
  if (!isJsonObject(metadataValue)) return undefined;
  const ns = metadataValue.namespace;
  if (ns === undefined || ns === null || ns === '') return 'default';
  return typeof ns === 'string' ? ns : undefined;
}

/** The keys of the objects a (possibly broken) document describes, as far as they can be told. */
export function keysIn(value: JsonValue, depth = 0): string[] {
  if (!isJsonObject(value) || typeof value.kind !== 'string') return [];
  const info = recognisedKind(value);
  if (!info) {
    if (!value.kind.endsWith('List') || !Array.isArray(value.items) || depth > 4) return [];
    return value.items.flatMap((item) => keysIn(item, depth + 1));
  }
  const md = value.metadata;
  if (!isJsonObject(md) || typeof md.name !== 'string' || md.name === '') return [];
  const ns = info.namespaced ? effectiveNamespace(md) : '';
  return ns === undefined ? [] : [objectKey(info, ns, md.name)];
}
