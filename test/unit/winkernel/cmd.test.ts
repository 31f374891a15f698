// kernelspace mode from the command line: the Windows flags parse and reach the configuration on
// every platform, the mode is refused on Linux unless it runs against the model, and a dry run
// against the model prints the load balancers the first sync created.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { requireImplemented, resolveOptions } from '../../../src/cmd/options.ts';
import { hasCode } from '../../../src/errors.ts';

const run = promisify(execFile);
const BIN = new URL('../../../bin/kube-proxy-ts', import.meta.url).pathname;

describe('kernelspace mode on the command line', () => {
  it('parses the Windows flags into the winkernel configuration', () => {
    const o = resolveOptions([
      '--proxy-mode=kernelspace',
      '--kernelspace-hns=model',
      '--network-name=vxlan0',
      '--source-vip=198.18.101.2',
      '--enable-dsr',
      '--root-hnsendpoint-name=cbr1',
      '--forward-healthcheck-vip=true',
    ]);
    assert.equal(o.config.mode, 'kernelspace');
    assert.equal(o.kernelspaceHns, 'model');
    assert.deepEqual(o.config.winkernel, {
      networkName: 'vxlan0',
      sourceVip: '198.18.101.2',
      enableDSR: true,
      rootHnsEndpointName: 'cbr1',
      forwardHealthCheckVip: true,
    });
    assert.doesNotThrow(() => requireImplemented(o));
  });

  it('reads the winkernel section of a config file, and ignores the flags then', () => {
    const o = resolveOptions(['--config=/k.yaml', '--network-name=ignored'], {
      readFile: () =>
        [
          'apiVersion: kubeproxy.config.k8s.io/v1alpha1',
          'kind: KubeProxyConfiguration',
          'mode: kernelspace',
          'winkernel:',
          '  networkName: flannel.4096',
          '  sourceVip: 198.18.101.2',
          '  enableDSR: true',
          '',
        ].join('\n'),
    });
    assert.equal(o.config.winkernel.networkName, 'flannel.4096');
    assert.equal(o.config.winkernel.enableDSR, true);
    assert.ok(o.warnings.some((w) => w.includes('--network-name')));
  });

  it('refuses kernelspace without the model where there is no HNS, naming the way out', () => {
    const o = resolveOptions(['--proxy-mode=kernelspace']);
    if (process.platform === 'win32') return assert.doesNotThrow(() => requireImplemented(o));
    assert.throws(
      () => requireImplemented(o),
      (e: unknown) =>
        hasCode(e, 'KP_ERR_NOT_IMPLEMENTED') && /--kernelspace-hns=model/.test((e as Error).message),
    );
  });

  it('refuses --windows-service and a bad --kernelspace-hns', () => {
    assert.throws(
      () =>
        requireImplemented(
          resolveOptions(['--proxy-mode=kernelspace', '--kernelspace-hns=model', '--windows-service']),
        ),
      (e: unknown) => hasCode(e, 'KP_ERR_NOT_IMPLEMENTED') && /HostProcess/.test((e as Error).message),
    );
    assert.throws(
      () => resolveOptions(['--kernelspace-hns=hyperv']),
      (e: unknown) => hasCode(e, 'KP_ERR_INVALID_FLAG') && /--kernelspace-hns/.test((e as Error).message),
    );
  });

  it('--dry-run against the model prints the load balancers of the first sync', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kpts-win-'));
    try {
      writeFileSync(
        join(dir, 'web.yaml'),
        [
          'apiVersion: v1',
          'kind: Service',
          'metadata: {name: web, namespace: default}',
          'spec:',
          '  type: NodePort',
          '  clusterIP: 198.19.16.10',
          '  ipFamilies: [IPv4]',
          '  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080, protocol: TCP}]',
          '---',
          'apiVersion: discovery.k8s.io/v1',
          'kind: EndpointSlice',
          'metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}',
          'addressType: IPv4',
          'ports: [{name: http, port: 8080, protocol: TCP}]',
          'endpoints:',
          '- {addresses: [198.18.1.10], nodeName: node-a}',
          '- {addresses: [198.18.2.10], nodeName: node-b}',
          '',
        ].join('\n'),
      );
      const { stdout } = await run(BIN, [
        '--proxy-mode=kernelspace',
        '--kernelspace-hns=model',
        '--network-name=cbr0',
        '--dry-run',
        `--manifests=${dir}`,
        '--hostname-override=node-a',
        '--bind-address=198.19.0.2',
        '-v=0',
      ]);
      const doc = JSON.parse(stdout) as {
        loadBalancers: {
          FrontendVIPs?: string[];
          PortMappings: { ExternalPort: number; InternalPort: number; Flags?: number }[];
          HostComputeEndpoints: string[];
        }[];
        endpoints: { ID: string; Flags?: number; IpConfigurations: { IpAddress: string }[] }[];
      };
      const frontends = doc.loadBalancers.map(
        (lb) =>
          `${lb.FrontendVIPs?.[0] ?? 'node'}:${lb.PortMappings[0]!.ExternalPort}->${lb.PortMappings[0]!.InternalPort}`,
      );
      assert.deepEqual(frontends.sort(), ['198.19.16.10:80->8080', 'node:30080->8080']);
      // The local pod is the CNI's endpoint; the other node's pod got a remote endpoint.
      const byIP = new Map(doc.endpoints.map((e) => [e.IpConfigurations[0]!.IpAddress, e]));
      assert.equal(byIP.get('198.18.1.10')?.Flags, undefined);
      assert.equal(byIP.get('198.18.2.10')?.Flags, 1);
      for (const lb of doc.loadBalancers) assert.equal(lb.HostComputeEndpoints.length, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
