import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EndpointSlice, Service } from '../../../src/model/k8s.ts';
import {
  decodeObject,
  ENDPOINT_SLICES,
  nodeResource,
  PROXY_LABEL_SELECTOR,
  SERVICE_CIDRS,
  SERVICE_FIELD_SELECTOR,
  SERVICES,
} from '../../../src/sources/kubernetes/resources.ts';

test('selectors: what upstream kube-proxy filters on the server', () => {
  assert.equal(
    PROXY_LABEL_SELECTOR,
    '!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless',
  );
  assert.equal(SERVICE_FIELD_SELECTOR, 'spec.clusterIP!=None');
  assert.equal(SERVICES.path, '/api/v1/services');
  assert.equal(SERVICES.labelSelector, PROXY_LABEL_SELECTOR);
  assert.equal(SERVICES.fieldSelector, SERVICE_FIELD_SELECTOR);
  assert.equal(ENDPOINT_SLICES.path, '/apis/discovery.k8s.io/v1/endpointslices');
  assert.equal(ENDPOINT_SLICES.labelSelector, PROXY_LABEL_SELECTOR);
  assert.equal(ENDPOINT_SLICES.fieldSelector, undefined);
  assert.equal(SERVICE_CIDRS.path, '/apis/networking.k8s.io/v1/servicecidrs');
  assert.equal(SERVICE_CIDRS.optional, true);
  const node = nodeResource('node-a');
  assert.equal(node.path, '/api/v1/nodes');
  assert.equal(node.fieldSelector, 'metadata.name=node-a');
  assert.equal(node.labelSelector, undefined);
});

test('decode: list items get apiVersion/kind, managedFields go, annotations stay untouched', () => {
  const raw = {
    metadata: {
      name: 'web-1',
      namespace: 'default',
      resourceVersion: '7',
      managedFields: [{ manager: 'kubectl' }],
      annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': '2026-11-26T09:00:00Z' },
      labels: { 'kubernetes.io/service-name': 'web' },
    },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['198.18.0.5'], conditions: { ready: true } }],
    ports: [{ name: '', port: 80, protocol: 'TCP' }],
  };
  const r = decodeObject(ENDPOINT_SLICES, raw);
  assert.ok(r.ok);
  const s = (r as { object: EndpointSlice }).object;
  assert.equal(s.apiVersion, 'discovery.k8s.io/v1');
  assert.equal(s.kind, 'EndpointSlice');
  assert.equal((s.metadata as Record<string, unknown>).managedFields, undefined);
  assert.equal(
    s.metadata?.annotations?.['endpoints.kubernetes.io/last-change-trigger-time'],
    '2026-11-26T09:00:00Z',
  );
});

test('decode: nulls read as absent, as Go decodes them', () => {
  const r = decodeObject(SERVICES, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'default', labels: null },
    spec: { clusterIP: '198.19.16.10', externalIPs: null, ports: [{ port: 80 }] },
  });
  assert.ok(r.ok);
  const svc = (r as { object: Service }).object;
  assert.equal('labels' in (svc.metadata ?? {}), false);
  assert.equal('externalIPs' in (svc.spec ?? {}), false);
});

test('decode: wrong kinds, wrong types and nameless objects are rejected with a reason', () => {
  const reason = (r: ReturnType<typeof decodeObject>) => (r.ok ? '' : r.reason);
  assert.match(
    reason(decodeObject(SERVICES, { kind: 'Pod', metadata: { name: 'x' } })),
    /kind "Pod", want Service/,
  );
  assert.match(
    reason(decodeObject(SERVICES, { metadata: { name: 'x' }, spec: { ports: [{ port: '80' }] } })),
    /spec\.ports\[0\]\.port: expected integer, got string/,
  );
  assert.match(reason(decodeObject(SERVICES, { metadata: {} })), /metadata\.name is missing/);
  assert.match(reason(decodeObject(SERVICES, 'x')), /not a JSON object/);
});
