import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FLAGS, type ProxyOptions, requireImplemented, resolveOptions } from '../../../src/cmd/options.ts';
import { type ErrorCode, KubeProxyError } from '../../../src/errors.ts';

function fails(argv: string[], code: ErrorCode, message?: RegExp) {
  assert.throws(
    () => resolveOptions(argv),
    (err: unknown) => {
      assert.ok(err instanceof KubeProxyError, String(err));
      assert.equal(err.code, code);
      if (message) assert.match(err.message, message);
      return true;
    },
  );
}

/** The options with the configuration fields the rows name under their runtime names. */
function view(o: ProxyOptions) {
  const c = o.config;
  return {
    ...o,
    mode: c.mode,
    clusterCIDRs: c.detectLocal.clusterCIDRs,
    masqueradeAll: c.linux.masqueradeAll,
    minSyncPeriodMs: c.minSyncPeriodMs,
    syncPeriodMs: c.syncPeriodMs,
    bridgeInterface: c.detectLocal.bridgeInterface,
    interfaceNamePrefix: c.detectLocal.interfaceNamePrefix,
    nodePortAddresses: c.nodePortAddresses,
    verbosity: c.logging.verbosity,
  };
}
type View = ReturnType<typeof view>;

describe('resolveOptions', () => {
  test('defaults match upstream kube-proxy (iptables mode)', () => {
    const o = resolveOptions([]);
    // The runtime values, read from the resolved config (view()) and the options. An empty mode is
    // iptables, as upstream.
    const want: Partial<View> = {
      mode: 'iptables',
      hostnameOverride: '',
      clusterCIDRs: [],
      masqueradeAll: false,
      masqueradeBit: 14,
      minSyncPeriodMs: 1000,
      syncPeriodMs: 30_000,
      detectLocalMode: 'ClusterCIDR',
      bridgeInterface: '',
      interfaceNamePrefix: '',
      nodePortAddresses: [],
      localhostNodePorts: true,
      verbosity: 0,
      loggingFormat: 'text',
      manifests: undefined,
      dryRun: false,
      cleanup: false,
      version: false,
      help: false,
    };
    for (const [k, v] of Object.entries(want)) assert.deepEqual(view(o)[k as keyof View], v, k);
  });

  const cases: [argv: string[], want: Partial<View>][] = [
    [['--proxy-mode=nftables'], { mode: 'nftables' }],
    [['--proxy-mode='], { mode: 'iptables' }],
    [['--proxy-mode=iptables', '--iptables-localhost-nodeports=false'], { localhostNodePorts: false }],
    [['--hostname-override', '  Node-A  '], { hostnameOverride: 'node-a' }],
    [['--cluster-cidr=198.18.0.0/16'], { clusterCIDRs: ['198.18.0.0/16'] }],
    [
      ['--cluster-cidr=198.18.0.0/16, fd00:10:244::/56'],
      { clusterCIDRs: ['198.18.0.0/16', 'fd00:10:244::/56'] },
    ],
    [['--cluster-cidr=,,'], { clusterCIDRs: [] }],
    [['--masquerade-all'], { masqueradeAll: true }],
    [['--masquerade-all=false'], { masqueradeAll: false }],
    // Upstream's nftables proxier uses nftables.masqueradeBit, which has no flag: the iptables flag
    // only affects iptables/ipvs (it still parses and is validated).
    [['--proxy-mode=nftables', '--iptables-masquerade-bit=0'], { masqueradeBit: 14 }],
    [['--iptables-masquerade-bit=0'], { masqueradeBit: 0 }],
    [['--iptables-masquerade-bit=31'], { masqueradeBit: 31 }],
    [['--iptables-min-sync-period=0'], { minSyncPeriodMs: 0 }],
    [['--iptables-min-sync-period=100ms'], { minSyncPeriodMs: 100 }],
    [['--iptables-sync-period=1m'], { syncPeriodMs: 60_000 }],
    [['--detect-local-mode='], { detectLocalMode: 'ClusterCIDR' }],
    [
      ['--detect-local-mode=BridgeInterface', '--pod-bridge-interface=cbr0'],
      { detectLocalMode: 'BridgeInterface', bridgeInterface: 'cbr0' },
    ],
    [
      ['--detect-local-mode=InterfaceNamePrefix', '--pod-interface-name-prefix=veth'],
      { detectLocalMode: 'InterfaceNamePrefix', interfaceNamePrefix: 'veth' },
    ],
    [['--nodeport-addresses=198.18.0.0/15,fd00::/64'], { nodePortAddresses: ['198.18.0.0/15', 'fd00::/64'] }],
    [['--nodeport-addresses='], { nodePortAddresses: [] }],
    [['--proxy-mode=nftables', '--nodeport-addresses='], { nodePortAddresses: ['primary'] }],
    [['-v=4'], { verbosity: 4 }],
    [['-v', '4'], { verbosity: 4 }],
    [['--v=4'], { verbosity: 4 }],
    [['--logging-format=json'], { loggingFormat: 'json' }],
    [['--manifests=/etc/kp'], { manifests: '/etc/kp' }],
    [['--manifests='], { manifests: '' }],
    [['--dry-run'], { dryRun: true }],
    [['--cleanup'], { cleanup: true }],
    [['--version'], { version: true }],
    [['--version=raw'], { version: 'raw' }],
    [['-h'], { help: true }],
  ];
  for (const [argv, want] of cases) {
    test(JSON.stringify(argv), () => {
      const o = resolveOptions(argv);
      for (const [k, v] of Object.entries(want)) assert.deepEqual(view(o)[k as keyof View], v, k);
    });
  }

  // Validation is upstream's (KubeProxyConfiguration.* messages, KP_ERR_INVALID_CONFIG); modes and
  // detect-local modes kube-proxy-ts lacks are valid configuration and refused at run time
  // (requireImplemented), so that --cleanup and --write-config-to work with them.
  const errors: [argv: string[], code: ErrorCode, message?: RegExp][] = [
    [['--proxy-mode=userspace'], 'KP_ERR_INVALID_CONFIG', /mode: Invalid value: "userspace"/],
    [['--cluster-cidr=198.18.0.0'], 'KP_ERR_INVALID_CONFIG', /clusterCIDR\[0\]: Invalid value: "198.18.0.0"/],
    [['--cluster-cidr=198.18.0.0/16,bogus'], 'KP_ERR_INVALID_CONFIG', /"bogus"/],
    [['--iptables-masquerade-bit=32'], 'KP_ERR_INVALID_CONFIG', /\[0, 31\]/],
    [['--iptables-masquerade-bit=-1'], 'KP_ERR_INVALID_CONFIG'],
    [['--iptables-min-sync-period=-1s'], 'KP_ERR_INVALID_CONFIG'],
    [['--iptables-sync-period=0'], 'KP_ERR_INVALID_CONFIG', /greater than 0/],
    [['--iptables-sync-period=-5s'], 'KP_ERR_INVALID_CONFIG'],
    [['--iptables-sync-period=5'], 'KP_ERR_INVALID_FLAG', /time: invalid duration/],
    [['--detect-local-mode=Magic'], 'KP_ERR_INVALID_CONFIG', /Magic/],
    [['--detect-local-mode=BridgeInterface'], 'KP_ERR_INVALID_CONFIG', /detectLocal.bridgeInterface/],
    [['--detect-local-mode=InterfaceNamePrefix'], 'KP_ERR_INVALID_CONFIG', /detectLocal.interfaceNamePrefix/],
    [['--nodeport-addresses=primary,198.18.0.0/15'], 'KP_ERR_INVALID_CONFIG', /primary/],
    [['--nodeport-addresses=198.18.0.1'], 'KP_ERR_INVALID_CONFIG'],
    [['--logging-format=yaml'], 'KP_ERR_INVALID_CONFIG', /yaml/],
    [['--no-such-flag'], 'KP_ERR_INVALID_FLAG', /unknown flag: --no-such-flag/],
    [['--v=x'], 'KP_ERR_INVALID_FLAG'],
    [['--hostname-override=  '], 'KP_ERR_INVALID_FLAG', /empty hostname-override is invalid/],
    [['--bind-address=node'], 'KP_ERR_INVALID_FLAG', /"node" is not a valid IP address/],
    [['--healthz-bind-address=1.2.3.4:x'], 'KP_ERR_INVALID_FLAG', /"x" is not a valid number/],
    [['--oom-score-adj=-1001'], 'KP_ERR_INVALID_CONFIG', /oomScoreAdj: Invalid value: -1001/],
    [['--feature-gates=A'], 'KP_ERR_INVALID_FLAG', /missing bool value for A/],
  ];
  for (const [argv, code, message] of errors) {
    test(`rejects ${JSON.stringify(argv)} (${code})`, () => fails(argv, code, message));
  }

  for (const [argv, msg] of [
    [['--proxy-mode=kernelspace', '--windows-service'], /--windows-service .* is not implemented/],
    [['--detect-local-mode=NodeCIDR', '--manifests=/tmp'], /NodeCIDR needs the Kubernetes API source/],
  ] as const) {
    test(`requireImplemented refuses ${JSON.stringify(argv)}`, () => {
      const o = resolveOptions(argv);
      assert.throws(
        () => requireImplemented(o),
        (e: unknown) =>
          e instanceof KubeProxyError && e.code === 'KP_ERR_NOT_IMPLEMENTED' && msg.test(e.message),
      );
    });
  }

  test('NodeCIDR is accepted with the Kubernetes API source (pod CIDRs come from the Node)', () => {
    assert.doesNotThrow(() => requireImplemented(resolveOptions(['--detect-local-mode=NodeCIDR'])));
  });

  test('every flag has a unique name and shorthand, and usage text', () => {
    const names = FLAGS.map((f) => f.name);
    assert.equal(new Set(names).size, names.length);
    const shorts = FLAGS.flatMap((f) => (f.shorthand ? [f.shorthand] : []));
    assert.equal(new Set(shorts).size, shorts.length);
    for (const f of FLAGS) assert.ok(f.usage.length > 0, f.name);
  });
});
