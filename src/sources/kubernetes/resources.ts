// What kube-proxy lists and watches, with upstream's selectors (cmd/kube-proxy/app/server.go of
// 1.33-1.35), and how API objects are checked before delivery.
import type { EndpointSlice, KubeObject, Node, Service, ServiceCIDR } from '../../model/k8s.ts';
import { LABEL_HEADLESS, LABEL_SERVICE_PROXY_NAME } from '../../model/k8s.ts';
import { describeFieldErrors, validateObject } from '../../model/validation.ts';
import { isJsonObject, type JsonValue } from '../manifests/json-value.ts';
import { KINDS, type ManifestKind } from '../manifests/kinds.ts';
import { checkShape, formatPath } from '../manifests/shape.ts';

/** Services and slices meant for another proxy, and headless ones, are filtered by the server. */
export const PROXY_LABEL_SELECTOR = `!${LABEL_SERVICE_PROXY_NAME},!${LABEL_HEADLESS}`;
/** Headless Services have nothing to proxy. */
export const SERVICE_FIELD_SELECTOR = 'spec.clusterIP!=None';

export interface ResourceSpec<T extends KubeObject> {
  /** For logs: "services". */
  readonly name: string;
  readonly kind: ManifestKind;
  readonly apiVersion: string;
  /** Collection path across all namespaces. */
  readonly path: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** Not served by every cluster (404): treated as empty and retried, without blocking the sync. */
  readonly optional?: boolean;
  /** Phantom, for type inference only. */
  readonly _type?: T;
}

export const SERVICES: ResourceSpec<Service> = {
  name: 'services',
  kind: 'Service',
  apiVersion: 'v1',
  path: '/api/v1/services',
  labelSelector: PROXY_LABEL_SELECTOR,
  fieldSelector: SERVICE_FIELD_SELECTOR,
};

export const ENDPOINT_SLICES: ResourceSpec<EndpointSlice> = {
  name: 'endpointslices',
  kind: 'EndpointSlice',
  apiVersion: 'discovery.k8s.io/v1',
  path: '/apis/discovery.k8s.io/v1/endpointslices',
  labelSelector: PROXY_LABEL_SELECTOR,
};

export const SERVICE_CIDRS: ResourceSpec<ServiceCIDR> = {
  name: 'servicecidrs',
  kind: 'ServiceCIDR',
  apiVersion: 'networking.k8s.io/v1',
  path: '/apis/networking.k8s.io/v1/servicecidrs',
  labelSelector: PROXY_LABEL_SELECTOR,
  optional: true,
};

/** This node only (upstream NodeManager's informer). */
export function nodeResource(nodeName: string): ResourceSpec<Node> {
  return {
    name: 'node',
    kind: 'Node',
    apiVersion: 'v1',
    path: '/api/v1/nodes',
    fieldSelector: `metadata.name=${nodeName}`,
  };
}

export type DecodeResult<T> = { ok: true; object: T } | { ok: false; reason: string };

/**
 * Checks an API object's field types (as decoding into Go structs would) and values (as
 * kube-apiserver validates them, src/model/validation.ts), and fills in the
 * apiVersion and kind that list items lack. managedFields are dropped, as upstream does; every
 * other field, annotations included (endpoints.kubernetes.io/last-change-trigger-time), passes
 * through untouched.
 */
export function decodeObject<T extends KubeObject>(spec: ResourceSpec<T>, raw: unknown): DecodeResult<T> {
  if (!isJsonObject(raw as JsonValue)) return { ok: false, reason: 'not a JSON object' };
  const value = raw as Record<string, JsonValue>;
  if (value.kind !== undefined && value.kind !== spec.kind) {
    return { ok: false, reason: `kind ${JSON.stringify(value.kind)}, want ${spec.kind}` };
  }
  value.apiVersion ??= spec.apiVersion;
  value.kind ??= spec.kind;
  const md = value.metadata;
  if (isJsonObject(md)) delete md.managedFields;
  const info = KINDS.get(spec.kind);
  if (!info) return { ok: false, reason: `unknown kind ${spec.kind}` };
  const violation = checkShape(value, info.shape);
  if (violation) return { ok: false, reason: `${formatPath(violation.path)}: ${violation.message}` };
  const name = isJsonObject(md) ? md.name : undefined;
  if (typeof name !== 'string' || name === '') return { ok: false, reason: 'metadata.name is missing' };
  // kube-apiserver validated it, but a server of another version may still send surprises: the
  // same checks as for manifests, less those kube-apiserver applies only to new values.
  const typed = value as unknown as T & (Service | EndpointSlice | Node | ServiceCIDR);
  const errors = validateObject(spec.kind, typed, 'served');
  if (errors.length > 0) return { ok: false, reason: describeFieldErrors(errors) };
  return { ok: true, object: typed };
}
