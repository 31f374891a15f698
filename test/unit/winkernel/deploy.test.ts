// deploy/windows/: the HostProcess DaemonSet and its configuration, as the proxy reads it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { resolveOptions } from '../../../src/cmd/options.ts';

// biome-ignore lint/suspicious/noExplicitAny: manifest trees are walked freely
type Obj = Record<string, any>;

const text = readFileSync(
  new URL('../../../deploy/windows/kube-proxy-windows.yaml', import.meta.url),
  'utf8',
);
const docs = parseAllDocuments(text).map((d) => {
  assert.deepEqual(d.errors, []);
  return d.toJS() as Obj;
});

describe('deploy/windows', () => {
  it('is a ConfigMap and a HostProcess DaemonSet on Windows nodes', () => {
    assert.deepEqual(
      docs.map((d) => d.kind),
      ['ConfigMap', 'DaemonSet'],
    );
    const ds = docs[1]!;
    const spec = ds.spec.template.spec;
    assert.deepEqual(ds.spec.selector.matchLabels, ds.spec.template.metadata.labels);
    assert.equal(spec.hostNetwork, true);
    assert.deepEqual(spec.nodeSelector, { 'kubernetes.io/os': 'windows' });
    assert.deepEqual(spec.securityContext.windowsOptions, {
      hostProcess: true,
      runAsUserName: 'NT AUTHORITY\\SYSTEM',
    });
    assert.equal(spec.serviceAccountName, 'kube-proxy');
    const [c] = spec.containers;
    assert.deepEqual(c.command.slice(-2), ['-Command', '& "$env:CONTAINER_SANDBOX_MOUNT_POINT/start.ps1"']);
    assert.equal(
      c.env.find((e: Obj) => e.name === 'NODE_NAME').valueFrom.fieldRef.fieldPath,
      'spec.nodeName',
    );
    const volumes = spec.volumes.map((v: Obj) => v.configMap.name).sort();
    assert.deepEqual(volumes, ['kube-proxy', 'kube-proxy-windows']);
  });

  it('carries a configuration the proxy accepts: kernelspace mode and the winkernel section', () => {
    const conf = docs[0]!.data['config.conf'] as string;
    const o = resolveOptions(['--config=/var/lib/kube-proxy-windows/config.conf'], { readFile: () => conf });
    assert.deepEqual(o.warnings, []);
    assert.equal(o.config.mode, 'kernelspace');
    assert.equal(o.config.winkernel.networkName, 'cbr0');
    assert.equal(o.config.winkernel.rootHnsEndpointName, 'cbr0');
    assert.equal(o.config.clientConnection.kubeconfig, '/var/lib/kube-proxy/kubeconfig.conf');
  });
});
