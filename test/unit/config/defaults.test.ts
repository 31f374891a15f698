import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { configzBody } from '../../../src/config/configz.ts';
import { decodeConfig } from '../../../src/config/decode.ts';
import {
  newDefaultConfig,
  platformApplyDefaults,
  setDefaults,
  toInternal,
} from '../../../src/config/defaults.ts';
import { encodeConfigYAML } from '../../../src/config/encode.ts';

const HEAD = 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n';
const fromText = (text: string) => {
  const c = toInternal(setDefaults(decodeConfig(HEAD + text, 'c').config));
  platformApplyDefaults(c);
  return c;
};

describe('defaults (SetDefaults_KubeProxyConfiguration + platformApplyDefaults)', () => {
  test('upstream defaults', () => {
    const c = newDefaultConfig();
    const notes = platformApplyDefaults(c);
    assert.deepEqual(notes, ['Using iptables proxy'], 'an empty mode is reported');
    assert.equal(c.mode, 'iptables');
    // iptables mode keeps an empty list: NodePorts on every local address, as upstream.
    assert.deepEqual(c.nodePortAddresses, []);
    const nft = newDefaultConfig();
    nft.mode = 'nftables';
    platformApplyDefaults(nft);
    assert.deepEqual(nft.nodePortAddresses, ['primary']);
    assert.equal(c.detectLocalMode, 'ClusterCIDR');
    assert.equal(c.bindAddress, '0.0.0.0');
    assert.equal(c.healthzBindAddress, '0.0.0.0:10256');
    assert.equal(c.metricsBindAddress, '127.0.0.1:10249');
    assert.equal(c.syncPeriodMs, 30_000);
    assert.equal(c.minSyncPeriodMs, 1000);
    assert.equal(c.configSyncPeriodMs, 15 * 60_000);
    assert.equal(c.iptables.masqueradeBit, 14);
    assert.equal(c.nftables.masqueradeBit, 14);
    assert.equal(c.iptables.localhostNodePorts, true);
    assert.equal(c.linux.oomScoreAdj, -999);
    assert.deepEqual(c.linux.conntrack, {
      maxPerCore: 32768,
      min: 131072,
      tcpEstablishedTimeoutMs: 24 * 3600_000,
      tcpCloseWaitTimeoutMs: 3600_000,
      tcpBeLiberal: false,
      udpTimeoutMs: 0,
      udpStreamTimeoutMs: 0,
    });
    assert.deepEqual(c.clientConnection, {
      kubeconfig: '',
      acceptContentTypes: '',
      contentType: 'application/vnd.kubernetes.protobuf',
      qps: 5,
      burst: 10,
    });
  });

  test('an IPv6 bindAddress moves the server defaults to IPv6', () => {
    const c = fromText('bindAddress: "fd00::1"\n');
    assert.equal(c.healthzBindAddress, '[::]:10256');
    assert.equal(c.metricsBindAddress, '[::1]:10249');
  });

  test('a port is appended to bare server addresses', () => {
    const c = fromText('healthzBindAddress: 198.18.0.1\nmetricsBindAddress: "fd00::5"\n');
    assert.equal(c.healthzBindAddress, '198.18.0.1:10256');
    assert.equal(c.metricsBindAddress, '[fd00::5]:10249');
  });

  test('the mode picks the section sync periods and masqueradeAll come from', () => {
    const text =
      'iptables:\n  syncPeriod: 10s\n  masqueradeAll: true\nnftables:\n  syncPeriod: 20s\n  minSyncPeriod: 2s\n';
    const nft = fromText(`mode: nftables\n${text}`);
    assert.deepEqual([nft.syncPeriodMs, nft.minSyncPeriodMs, nft.linux.masqueradeAll], [20_000, 2000, false]);
    const ipt = fromText(`mode: iptables\n${text}`);
    assert.deepEqual([ipt.syncPeriodMs, ipt.minSyncPeriodMs, ipt.linux.masqueradeAll], [10_000, 1000, true]);
    // An empty mode converts like iptables and runs as iptables, as upstream.
    const empty = fromText(text);
    assert.deepEqual([empty.mode, empty.syncPeriodMs, empty.linux.masqueradeAll], ['iptables', 10_000, true]);
  });

  test('zero values default, as in Go (minSyncPeriod 0s means 1s); explicit 0 pointers stay', () => {
    const c = fromText(
      'mode: nftables\nnftables:\n  minSyncPeriod: 0s\nconntrack:\n  maxPerCore: 0\n  tcpEstablishedTimeout: 0s\n',
    );
    assert.equal(c.minSyncPeriodMs, 1000);
    assert.equal(c.linux.conntrack.maxPerCore, 0);
    assert.equal(c.linux.conntrack.tcpEstablishedTimeoutMs, 0);
  });

  test('nodePortAddresses default to primary only in nftables mode', () => {
    assert.deepEqual(fromText('mode: iptables\n').nodePortAddresses, []);
    assert.deepEqual(fromText('mode: nftables\nnodePortAddresses: [198.18.0.0/15]\n').nodePortAddresses, [
      '198.18.0.0/15',
    ]);
  });

  test('--write-config-to output decodes strictly back to the same configuration', () => {
    const c = fromText(
      'mode: nftables\nclusterCIDR: 198.18.0.0/16,fd00:1::/64\nnftables:\n  syncPeriod: 45s\n  masqueradeAll: true\nfeatureGates:\n  Foo: true\n',
    );
    const text = encodeConfigYAML(c);
    assert.match(text, /^apiVersion: kubeproxy.config.k8s.io\/v1alpha1\nbindAddress: 0.0.0.0\n/);
    assert.match(
      text,
      /\nnftables:\n {2}masqueradeAll: true\n {2}masqueradeBit: 14\n {2}minSyncPeriod: 1s\n {2}syncPeriod: 45s\n/,
    );
    assert.match(text, /\niptables:\n(.*\n)* {2}syncPeriod: 0s\n/);
    const d = decodeConfig(text, 'written.yaml');
    assert.deepEqual(d.strictIssues, []);
    const back = toInternal(setDefaults(d.config));
    platformApplyDefaults(back);
    assert.deepEqual(back, c);
  });

  test('/configz carries the internal configuration under Go field names', () => {
    const c = fromText('mode: nftables\n');
    const body = configzBody(c) as Record<string, Record<string, unknown>>;
    const kp = body['kubeproxy.config.k8s.io']!;
    assert.equal(kp.Mode, 'nftables');
    assert.equal(kp.SyncPeriod, '30s');
    assert.equal(kp.HealthzBindAddress, '0.0.0.0:10256');
    assert.deepEqual((kp.Linux as Record<string, unknown>).OOMScoreAdj, -999);
  });
});
