import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resolveOptions } from '../../../src/cmd/options.ts';
import { KubeProxyError } from '../../../src/errors.ts';

const FILE = '/etc/kube-proxy/config.conf';
const CONFIG = `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
hostnameOverride: From-File
clientConnection:
  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
  qps: 20
  burst: 40
clusterCIDR: 198.18.0.0/16
nftables:
  syncPeriod: 40s
logging:
  verbosity: 1
`;

const withFile = (text: string) => (argv: string[]) =>
  resolveOptions(['--config', FILE, ...argv], { readFile: () => text });

describe('flag and config file precedence (upstream Options.Complete)', () => {
  const resolve = withFile(CONFIG);

  test('the file replaces configuration flags', () => {
    const o = resolve([
      '--cluster-cidr=10.0.0.0/8',
      '--iptables-sync-period=5s',
      '--kube-api-qps=1',
      '--masquerade-all',
    ]);
    assert.deepEqual(o.config.detectLocal.clusterCIDRs, ['198.18.0.0/16']);
    assert.equal(o.config.syncPeriodMs, 40_000);
    assert.equal(o.config.clientConnection.qps, 20);
    assert.equal(o.config.linux.masqueradeAll, false);
    assert.match(
      o.warnings.join('\n'),
      /Flags ignored because --config is set: --cluster-cidr, --iptables-sync-period, --kube-api-qps, --masquerade-all/,
    );
  });

  test('logging flags that were set win over the file', () => {
    assert.equal(resolve([]).config.logging.verbosity, 1);
    assert.equal(resolve(['-v=4']).config.logging.verbosity, 4);
    assert.equal(resolve(['--logging-format=json']).loggingFormat, 'json');
  });

  test('a non-empty --hostname-override wins over the file (lowercased)', () => {
    assert.equal(resolve([]).hostnameOverride, 'from-file');
    assert.equal(resolve(['--hostname-override=Node-B']).hostnameOverride, 'node-b');
    assert.equal(resolve(['--hostname-override=']).hostnameOverride, 'from-file');
  });

  test('--master, --cleanup, --init-only, --write-config-to and kube-proxy-ts flags always apply', () => {
    const o = resolve([
      '--master=https://198.18.0.1:6443',
      '--cleanup',
      '--init-only',
      '--manifests=/m',
      '--write-config-to=/tmp/x',
    ]);
    assert.equal(o.master, 'https://198.18.0.1:6443');
    assert.equal(o.cleanup, true);
    assert.equal(o.initOnly, true);
    assert.equal(o.manifests, '/m');
    assert.equal(o.writeConfigTo, '/tmp/x');
  });

  test('the API client settings are resolved for the API source', () => {
    const o = resolve([]);
    assert.deepEqual(o.config.clientConnection, {
      kubeconfig: '/var/lib/kube-proxy/kubeconfig.conf',
      acceptContentTypes: '',
      contentType: 'application/vnd.kubernetes.protobuf',
      qps: 20,
      burst: 40,
    });
    assert.equal(o.config.configSyncPeriodMs, 15 * 60_000);
    const f = resolveOptions([
      '--kubeconfig=/k',
      '--kube-api-qps=2.5',
      '--kube-api-burst=7',
      '--kube-api-content-type=application/json',
      '--config-sync-period=1m',
    ]);
    assert.deepEqual(f.config.clientConnection, {
      kubeconfig: '/k',
      acceptContentTypes: '',
      contentType: 'application/json',
      qps: 2.5,
      burst: 7,
    });
    assert.equal(f.config.configSyncPeriodMs, 60_000);
  });

  test('lenient decoding is a warning with the field and line', () => {
    const o = withFile(`${CONFIG}conntrak:\n  min: 1\n`)([]);
    assert.equal(o.config.syncPeriodMs, 40_000);
    assert.match(
      o.warnings.join('\n'),
      /Using lenient decoding as strict decoding failed: strict decoding error: unknown field "conntrak" \(\/etc\/kube-proxy\/config.conf:14\)/,
    );
  });

  test('validation errors name the field and the file line', () => {
    assert.throws(
      () => withFile(`${CONFIG}iptables:\n  masqueradeBit: 40\n`)([]),
      (e: unknown) =>
        e instanceof KubeProxyError &&
        e.code === 'KP_ERR_INVALID_CONFIG' &&
        e.message ===
          '/etc/kube-proxy/config.conf:15: KubeProxyConfiguration.iptables.masqueradeBit: Invalid value: 40: must be within the range [0, 31]',
    );
  });

  test('a missing file is a configuration error', () => {
    assert.throws(
      () => resolveOptions(['--config=/nonexistent/kp.yaml']),
      (e: unknown) =>
        e instanceof KubeProxyError && e.code === 'KP_ERR_INVALID_CONFIG' && /nonexistent/.test(e.message),
    );
  });
});

describe('flags without --config', () => {
  test('the iptables periods apply to nftables mode, the ipvs ones to ipvs mode', () => {
    assert.equal(
      resolveOptions(['--iptables-sync-period=10s', '--ipvs-sync-period=20s']).config.syncPeriodMs,
      10_000,
    );
    const ipvs = resolveOptions([
      '--proxy-mode=ipvs',
      '--iptables-sync-period=10s',
      '--ipvs-sync-period=20s',
    ]);
    assert.equal(ipvs.config.syncPeriodMs, 20_000);
  });

  test('ipvs flags parse and are carried in the configuration', () => {
    const o = resolveOptions([
      '--ipvs-scheduler=rr',
      '--ipvs-exclude-cidrs=198.18.0.0/24,fd00::/64',
      '--ipvs-strict-arp',
      '--ipvs-tcp-timeout=5m',
      '--ipvs-tcpfin-timeout=30s',
      '--ipvs-udp-timeout=10s',
      '--ipvs-min-sync-period=1s',
    ]);
    assert.deepEqual(o.config.ipvs, {
      scheduler: 'rr',
      excludeCIDRs: ['198.18.0.0/24', 'fd00::/64'],
      strictARP: true,
      tcpTimeoutMs: 300_000,
      tcpFinTimeoutMs: 30_000,
      udpTimeoutMs: 10_000,
    });
  });

  test('server addresses: ports appended, empty disables, deprecated port flags', () => {
    const o = resolveOptions(['--healthz-bind-address=198.18.0.1', '--metrics-bind-address=']);
    assert.equal(o.config.healthzBindAddress, '198.18.0.1:10256');
    assert.equal(o.config.metricsBindAddress, '');
    const d = resolveOptions([
      '--healthz-port=0',
      '--metrics-port=9999',
      '--metrics-bind-address=198.18.0.1',
    ]);
    assert.equal(d.config.healthzBindAddress, '');
    assert.equal(d.config.metricsBindAddress, '198.18.0.1:9999');
    // As upstream: the port flag only fills in a port the address lacks.
    assert.equal(resolveOptions(['--metrics-port=9999']).config.metricsBindAddress, '127.0.0.1:10249');
    assert.match(d.warnings[0]!, /^Flag --healthz-port has been deprecated, /);
  });

  test('feature gates, conntrack and oom flags', () => {
    const o = resolveOptions([
      '--feature-gates=A=true,B=false',
      '--feature-gates',
      'C=true',
      '--conntrack-max-per-core=0',
      '--conntrack-min=1000',
      '--conntrack-tcp-timeout-established=2h',
      '--conntrack-tcp-be-liberal',
      '--conntrack-udp-timeout=30s',
      '--oom-score-adj=-500',
      '--hostname_override=Node-A',
    ]);
    assert.deepEqual(o.config.featureGates, { A: true, B: false, C: true });
    assert.equal(o.config.linux.conntrack.maxPerCore, 0);
    assert.equal(o.config.linux.conntrack.min, 1000);
    assert.equal(o.config.linux.conntrack.tcpEstablishedTimeoutMs, 7_200_000);
    assert.equal(o.config.linux.conntrack.tcpBeLiberal, true);
    assert.equal(o.config.linux.conntrack.udpTimeoutMs, 30_000);
    assert.equal(o.config.linux.oomScoreAdj, -500);
    assert.equal(o.hostnameOverride, 'node-a');
  });
});
