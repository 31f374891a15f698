import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatUsage, parseFlags } from '../../../src/cmd/flag-parser.ts';
import { FLAGS } from '../../../src/cmd/flags.ts';

// `kube-proxy --help` of upstream 1.35 on Linux (options.go, component-base logging flags, verflag,
// and the cadvisor flags added from goflag.CommandLine).
const UPSTREAM_FLAGS = [
  'bind-address',
  'bind-address-hard-fail',
  'boot-id-file',
  'cleanup',
  'cluster-cidr',
  'config',
  'config-sync-period',
  'conntrack-max-per-core',
  'conntrack-min',
  'conntrack-tcp-be-liberal',
  'conntrack-tcp-timeout-close-wait',
  'conntrack-tcp-timeout-established',
  'conntrack-udp-timeout',
  'conntrack-udp-timeout-stream',
  'detect-local-mode',
  'feature-gates',
  'healthz-bind-address',
  'healthz-port',
  'help',
  'hostname-override',
  'init-only',
  'iptables-localhost-nodeports',
  'iptables-masquerade-bit',
  'iptables-min-sync-period',
  'iptables-sync-period',
  'ipvs-exclude-cidrs',
  'ipvs-min-sync-period',
  'ipvs-scheduler',
  'ipvs-strict-arp',
  'ipvs-sync-period',
  'ipvs-tcp-timeout',
  'ipvs-tcpfin-timeout',
  'ipvs-udp-timeout',
  'kube-api-burst',
  'kube-api-content-type',
  'kube-api-qps',
  'kubeconfig',
  'log-flush-frequency',
  'log-json-info-buffer-size',
  'log-json-split-stream',
  'log-text-info-buffer-size',
  'log-text-split-stream',
  'logging-format',
  'machine-id-file',
  'masquerade-all',
  'master',
  'metrics-bind-address',
  'metrics-port',
  'nodeport-addresses',
  'oom-score-adj',
  'pod-bridge-interface',
  'pod-interface-name-prefix',
  'profiling',
  'proxy-mode',
  'show-hidden-metrics-for-version',
  'v',
  'version',
  'vmodule',
  'write-config-to',
];

// The flags upstream adds on Windows (cmd/kube-proxy/app/init_windows.go addOSFlags).
const UPSTREAM_WINDOWS_FLAGS = [
  'enable-dsr',
  'forward-healthcheck-vip',
  'network-name',
  'root-hnsendpoint-name',
  'source-vip',
  'windows-service',
];

describe('the flag table', () => {
  test('has every upstream Linux and Windows flag, plus only the kube-proxy-ts additions', () => {
    const names = new Set(FLAGS.map((f) => f.name));
    const upstream = [...UPSTREAM_FLAGS, ...UPSTREAM_WINDOWS_FLAGS];
    for (const n of upstream) assert.ok(names.has(n), `missing --${n}`);
    assert.deepEqual([...names].filter((n) => !upstream.includes(n)).sort(), [
      'debug-explain',
      'debug-explain-allow-remote',
      'dry-run',
      'kernelspace-hns',
      'manifests',
      'nftables-writer',
    ]);
  });

  test('every upstream flag parses with a typical value', () => {
    const sample: Record<string, string> = {
      bool: 'true',
      string: 'x',
      int: '1',
      int32: '1',
      float32: '1.5',
      duration: '1s',
      stringSlice: 'a,b',
      mapStringBool: 'A=true',
      ip: '198.18.0.1',
      ipPort: '198.18.0.1:1',
      version: 'true',
    };
    for (const f of FLAGS) {
      const m = parseFlags(FLAGS, [`--${f.name}=${sample[f.type]}`]);
      assert.ok(m.has(f.name), f.name);
    }
  });

  test('--help lists the flags with their types and hides deprecated ones', () => {
    const text = formatUsage(FLAGS);
    assert.match(text, /--feature-gates mapStringBool/);
    assert.match(text, /--healthz-bind-address ipport\s+.*\(default 0.0.0.0:10256\)/);
    assert.match(text, /-v, --v Level/);
    assert.match(text, /--version version\[=true\]/);
    assert.doesNotMatch(text, /--healthz-port/);
  });

  test('pflag details: base prefixes for ints, underscores in names, floats', () => {
    assert.equal(parseFlags(FLAGS, ['--kube-api-burst=0x10']).get('kube-api-burst'), 16);
    assert.equal(parseFlags(FLAGS, ['--kube_api_qps', '2.5']).get('kube-api-qps'), 2.5);
    assert.throws(() => parseFlags(FLAGS, ['--kube-api-burst=3000000000']), /value out of range/);
    assert.throws(
      () => parseFlags(FLAGS, ['--kube-api-qps=fast']),
      /strconv.ParseFloat: parsing "fast": invalid syntax/,
    );
    assert.throws(() => parseFlags(FLAGS, ['--feature-gates=A=maybe']), /invalid value of A: maybe/);
    assert.throws(
      () => parseFlags(FLAGS, ['--version=full']),
      /invalid argument "full" for "--version" flag/,
    );
  });
});
