// Data-plane cost of a big ruleset: new TCP connections per second from the client namespace
// through one ClusterIP to one pod, with N services programmed by the real kube-proxy-ts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSandbox } from '../src/sandbox/topology.ts';
import { syntheticService, syntheticSlice } from './synthetic.ts';

const REPO = new URL('..', import.meta.url).pathname;

export interface DataPlaneResult {
  readonly services: number;
  readonly connectionsPerSecond: number;
  readonly errors: number;
}

export async function measureDataPlane(
  services: number,
  seconds: number,
  mode: 'nftables' | 'iptables' = 'nftables',
): Promise<DataPlaneResult> {
  const dir = mkdtempSync(join(tmpdir(), 'kpbench-dp-'));
  const sandbox = await createSandbox({
    prefix: 'kpbdp',
    pods: [{ name: 'backend', ip: '198.18.1.10', ports: [{ protocol: 'TCP', port: 8080 }] }],
  });
  try {
    // The measured service takes synthetic service 0's place; the rest are only rules.
    const target = syntheticService(0);
    target.spec = { clusterIP: '198.19.16.10', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] };
    const items: object[] = [
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'ServiceCIDR',
        metadata: { name: 'kubernetes' },
        spec: { cidrs: ['198.19.0.0/16'] },
      },
      {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: 'node-a' },
        status: { addresses: [{ type: 'InternalIP', address: '198.19.0.2' }] },
      },
      target,
      {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          namespace: target.metadata!.namespace,
          name: 'target',
          labels: { 'kubernetes.io/service-name': target.metadata!.name! },
        },
        addressType: 'IPv4',
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
        endpoints: [{ addresses: ['198.18.1.10'], nodeName: 'node-a' }],
      },
    ];
    writeFileSync(join(dir, 'cluster.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
    // The manifests source refuses files over 16 MiB: 2,000 services a file keeps well below.
    for (let start = 1; start < services; start += 2000) {
      const chunk: object[] = [];
      for (let i = start; i < Math.min(services, start + 2000); i++)
        chunk.push(syntheticService(i), syntheticSlice(i, 4));
      writeFileSync(
        join(dir, `services-${start}.json`),
        JSON.stringify({ apiVersion: 'v1', kind: 'List', items: chunk }),
      );
    }
    const proxy = sandbox.startProxy([
      '--proxy-mode',
      mode,
      '--manifests',
      dir,
      '--hostname-override',
      'node-a',
      '--cluster-cidr',
      '198.18.0.0/16',
      '-v=2',
    ]);
    try {
      const t0 = performance.now();
      await proxy.waitForLog(/SyncProxyRules complete.*ipFamily="IPv4"/, 600_000);
      if (process.env.DP_DEBUG) console.error(`programmed after ${Math.round(performance.now() - t0)} ms`);
      const r = await sandbox.exec('client', join(REPO, 'node_modules/.bin/node'), [
        join(REPO, 'bench/conn-rate.ts'),
        '--host',
        '198.19.16.10',
        '--port',
        '80',
        '--seconds',
        String(seconds),
      ]);
      const out = JSON.parse(r.stdout) as { connections: number; errors: number; seconds: number };
      return { services, connectionsPerSecond: out.connections / out.seconds, errors: out.errors };
    } finally {
      await proxy.stop();
    }
  } finally {
    await sandbox.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
