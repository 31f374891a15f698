// What the proxy does with ClusterIP traffic it cannot deliver: REJECT (fail fast) for a service
// without endpoints and for an unknown port of an active ClusterIP, DROP for an address in the
// ServiceCIDR that no service holds.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Flow, FlowResult } from '../../src/sandbox/flows.ts';
import { requireKernel } from '../harness/kernel.ts';
import { byMode } from '../harness/mode.ts';
import { DNS, endpointSlice, HTTP, node, service, serviceCIDR } from '../harness/objects.ts';
import { sharedEnv } from '../harness/proxy-env.ts';

const ACTIVE_IP = '198.19.16.10';
const EMPTY_IP = '198.19.16.20';
const UNALLOCATED_IP = '198.19.16.99';
const ORIGINS = ['client', 'pod-client'];

const env = sharedEnv({
  pods: [
    { name: 'pod-a', ip: '198.18.1.10' },
    { name: 'pod-client', ip: '198.18.1.20', ports: [] },
  ],
  manifests: {
    'cluster.yaml': [serviceCIDR(), node()],
    'active.yaml': [
      service('active', ACTIVE_IP, [HTTP, DNS]),
      endpointSlice('active', ['198.18.1.10'], [HTTP, DNS]),
    ],
    // No EndpointSlice at all.
    'empty.yaml': [service('empty', EMPTY_IP, [HTTP, DNS])],
  },
});
after(() => env.close());

/** Sends each flow from every origin in one batch; returns "origin proto dst:port -> outcome" lines. */
async function outcomes(
  flows: Flow[],
): Promise<{ got: string[]; want: (o: string) => string[]; raw: FlowResult[][] }> {
  const e = await env.get();
  await e.waitForAnswer('client', { proto: 'tcp', dst: ACTIVE_IP, port: 80 });
  const raw = await Promise.all(ORIGINS.map((from) => e.sandbox.probe(from, flows)));
  const key = (from: string, f: Flow) => `${from} ${f.proto} ${f.dst}:${f.port}`;
  return {
    got: ORIGINS.flatMap((from, i) => flows.map((f, j) => `${key(from, f)} -> ${raw[i]![j]!.outcome}`)),
    want: (o) => ORIGINS.flatMap((from) => flows.map((f) => `${key(from, f)} -> ${o}`)),
    raw,
  };
}

test('a service without endpoints rejects TCP and UDP', async (t) => {
  if (!requireKernel(t, { proxy: true })) return;
  const r = await outcomes([
    { proto: 'tcp', dst: EMPTY_IP, port: 80 },
    { proto: 'udp', dst: EMPTY_IP, port: 53 },
  ]);
  assert.deepEqual(r.got, r.want('reject'), await (await env.get()).context());
});

// iptables mode does not reject unknown ports (upstream): the packet leaves the node and is lost here.
test(`an unknown port on an active ClusterIP is ${byMode({ nftables: 'rejected', iptables: 'not answered', ipvs: 'rejected' })}`, async (t) => {
  if (!requireKernel(t, { proxy: true })) return;
  const r = await outcomes([
    { proto: 'tcp', dst: ACTIVE_IP, port: 81 },
    { proto: 'udp', dst: ACTIVE_IP, port: 54 },
    // Right port number, wrong protocol.
    { proto: 'udp', dst: ACTIVE_IP, port: 80 },
  ]);
  assert.deepEqual(
    r.got,
    r.want(byMode({ nftables: 'reject', iptables: 'drop', ipvs: 'reject' })),
    await (await env.get()).context(),
  );
});

test('an unallocated address in the ServiceCIDR is dropped', async (t) => {
  if (!requireKernel(t, { proxy: true })) return;
  const r = await outcomes([
    { proto: 'tcp', dst: UNALLOCATED_IP, port: 80, timeoutMs: 700 },
    { proto: 'udp', dst: UNALLOCATED_IP, port: 53, timeoutMs: 700 },
  ]);
  assert.deepEqual(r.got, r.want('drop'), await (await env.get()).context());
});
