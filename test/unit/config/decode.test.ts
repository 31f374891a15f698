import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { decodeConfig } from '../../../src/config/decode.ts';
import { platformApplyDefaults, setDefaults, toInternal } from '../../../src/config/defaults.ts';
import { KubeProxyError } from '../../../src/errors.ts';

const HEAD = 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n';

function decodeFails(text: string, message: string | RegExp) {
  assert.throws(
    () => decodeConfig(text, 'cfg.yaml'),
    (err: unknown) => {
      assert.ok(err instanceof KubeProxyError, String(err));
      assert.equal(err.code, 'KP_ERR_INVALID_CONFIG');
      if (typeof message === 'string') assert.equal(err.message, message);
      else assert.match(err.message, message);
      return true;
    },
  );
}

describe('decodeConfig', () => {
  test("kubeadm's kube-proxy ConfigMap (deploy/configmap.yaml) decodes strictly", () => {
    const cm = parse(readFileSync(new URL('../../../deploy/configmap.yaml', import.meta.url), 'utf8'));
    const d = decodeConfig(cm.data['config.conf'], 'config.conf');
    assert.deepEqual(d.strictIssues, []);
    const c = toInternal(setDefaults(d.config));
    // kubeadm writes mode: "", which platformApplyDefaults turns into iptables, as upstream.
    assert.equal(c.mode, '');
    platformApplyDefaults(c);
    assert.equal(c.mode, 'iptables');
    assert.equal(c.clientConnection.kubeconfig, '/var/lib/kube-proxy/kubeconfig.conf');
    assert.equal(c.clientConnection.qps, 5);
    assert.equal(c.clientConnection.burst, 10);
    assert.equal(c.syncPeriodMs, 30_000);
    assert.equal(c.minSyncPeriodMs, 1000);
    assert.equal(c.healthzBindAddress, '0.0.0.0:10256');
    assert.equal(c.metricsBindAddress, '127.0.0.1:10249');
    assert.deepEqual(c.detectLocal.clusterCIDRs, ['10.244.0.0/16']);
    assert.equal(c.linux.conntrack.maxPerCore, 32768);
    assert.equal(c.linux.oomScoreAdj, -999);
    assert.equal(c.logging.flushFrequencyMs, 5000);
  });

  test('unknown fields are strictness issues with their line; the rest decodes', () => {
    const d = decodeConfig(
      `${HEAD}mode: nftables\nconntrak:\n  maxPerCore: 0\niptables:\n  masqueradeBitt: 3\n`,
      'c',
    );
    assert.deepEqual(d.strictIssues, [
      { message: 'unknown field "conntrak"', line: 4 },
      { message: 'unknown field "iptables.masqueradeBitt"', line: 7 },
    ]);
    assert.equal(d.config.mode, 'nftables');
    assert.equal(d.config.conntrack, undefined);
  });

  test('duplicate fields are strictness issues; the last value wins (lenient decoding)', () => {
    const d = decodeConfig(`${HEAD}mode: iptables\nmode: nftables\n`, 'c');
    assert.deepEqual(d.strictIssues, [{ message: 'duplicate field "mode"', line: 4 }]);
    assert.equal(d.config.mode, 'nftables');
  });

  test('field names are case-sensitive, as in Kubernetes decoding', () => {
    const d = decodeConfig(`${HEAD}Mode: nftables\n`, 'c');
    assert.deepEqual(d.strictIssues, [{ message: 'unknown field "Mode"', line: 3 }]);
  });

  test('type errors are fatal and name the field and line', () => {
    decodeFails(
      `${HEAD}iptables:\n  masqueradeBit: "14"\n`,
      'failed to decode: cfg.yaml:4: json: cannot unmarshal string into Go struct field KubeProxyConfiguration.iptables.masqueradeBit of type int32',
    );
    decodeFails(
      `${HEAD}oomScoreAdj: 1.5\n`,
      /cfg.yaml:3: .*cannot unmarshal number 1.5 .*oomScoreAdj of type int32/,
    );
    decodeFails(
      `${HEAD}nodePortAddresses: primary\n`,
      /cfg.yaml:3: .*cannot unmarshal string .*nodePortAddresses of type \[\]string/,
    );
    decodeFails(`${HEAD}conntrack: 5\n`, /cfg.yaml:3: .*conntrack of type KubeProxyConntrackConfiguration/);
    decodeFails(`${HEAD}featureGates:\n  Foo: maybe\n`, /cfg.yaml:4: .*featureGates.Foo of type bool/);
  });

  test('durations are Go durations', () => {
    decodeFails(`${HEAD}\n\nnftables:\n  syncPeriod: 30\n`, /cfg.yaml:6: .*of type string/);
    decodeFails(
      `${HEAD}nftables:\n  syncPeriod: 5x\n`,
      'failed to decode: cfg.yaml:4: nftables.syncPeriod: time: invalid duration "5x"',
    );
    const d = decodeConfig(`${HEAD}nftables:\n  syncPeriod: 1m30s\n  minSyncPeriod: 250ms\n`, 'c');
    assert.deepEqual(d.config.nftables, { syncPeriod: 90_000, minSyncPeriod: 250 });
  });

  test('YAML 1.1 booleans, null pointers and JSON files', () => {
    const d = decodeConfig(
      `${HEAD}enableProfiling: yes\noomScoreAdj: null\nconntrack:\n  maxPerCore: ~\n`,
      'c',
    );
    assert.equal(d.config.enableProfiling, true);
    assert.equal(d.config.oomScoreAdj, undefined);
    assert.equal(d.config.conntrack?.maxPerCore, undefined);
    const j = decodeConfig(
      '{"apiVersion":"kubeproxy.config.k8s.io/v1alpha1","kind":"KubeProxyConfiguration","mode":"nftables"}',
      'c.json',
    );
    assert.equal(j.config.mode, 'nftables');
  });

  test('kind and apiVersion must be KubeProxyConfiguration v1alpha1', () => {
    decodeFails('mode: nftables\n', /Object 'Kind' is missing/);
    decodeFails(
      'apiVersion: kubeproxy.config.k8s.io/v1beta1\nkind: KubeProxyConfiguration\n',
      /no kind "KubeProxyConfiguration" is registered for version "kubeproxy.config.k8s.io\/v1beta1"/,
    );
    decodeFails('apiVersion: v1\nkind: ConfigMap\n', /cfg.yaml:2: no kind "ConfigMap"/);
  });

  test('YAML syntax errors give the line', () => {
    decodeFails(`${HEAD}mode: [nftables\n`, /failed to decode: cfg.yaml:\d+: yaml: /);
  });

  test('lines of present fields are recorded for validation messages', () => {
    const d = decodeConfig(`${HEAD}nodePortAddresses:\n  - 10.0.0.0/8\n  - bogus\n`, 'c');
    assert.equal(d.lines.get('nodePortAddresses'), 3);
    assert.equal(d.lines.get('nodePortAddresses[1]'), 5);
  });
});
