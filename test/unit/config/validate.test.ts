import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { newDefaultConfig, platformApplyDefaults } from '../../../src/config/defaults.ts';
import type { ProxyConfig } from '../../../src/config/types.ts';
import { validateConfig } from '../../../src/config/validate.ts';

function errorsOf(edit: (c: ProxyConfig) => void): string[] {
  const c = newDefaultConfig();
  platformApplyDefaults(c);
  edit(c);
  return validateConfig(c).map((e) => e.message);
}

describe('validateConfig: upstream messages under v1alpha1 field names', () => {
  test('the defaults are valid', () =>
    assert.deepEqual(
      errorsOf(() => {}),
      [],
    ));

  const cases: [string, (c: ProxyConfig) => void, string[]][] = [
    [
      'iptables.masqueradeBit',
      (c) => (c.iptables.masqueradeBit = 40),
      ['KubeProxyConfiguration.iptables.masqueradeBit: Invalid value: 40: must be within the range [0, 31]'],
    ],
    [
      'nftables.masqueradeBit (nftables mode only)',
      (c) => {
        c.mode = 'nftables';
        c.nftables.masqueradeBit = -1;
      },
      ['KubeProxyConfiguration.nftables.masqueradeBit: Invalid value: -1: must be within the range [0, 31]'],
    ],
    [
      'oomScoreAdj',
      (c) => (c.linux.oomScoreAdj = 1001),
      ['KubeProxyConfiguration.oomScoreAdj: Invalid value: 1001: must be within the range [-1000, 1000]'],
    ],
    [
      'sync periods name the mode section',
      (c) => (c.syncPeriodMs = -1000),
      [
        'KubeProxyConfiguration.iptables.syncPeriod: Invalid value: -1s: must be greater than 0',
        'KubeProxyConfiguration.iptables.syncPeriod: Invalid value: 1s: must be greater than or equal to KubeProxyConfiguration.iptables.minSyncPeriod',
      ],
    ],
    [
      'sync periods name the mode section (nftables)',
      (c) => {
        c.mode = 'nftables';
        c.syncPeriodMs = -1000;
      },
      [
        'KubeProxyConfiguration.nftables.syncPeriod: Invalid value: -1s: must be greater than 0',
        'KubeProxyConfiguration.nftables.syncPeriod: Invalid value: 1s: must be greater than or equal to KubeProxyConfiguration.nftables.minSyncPeriod',
      ],
    ],
    [
      'minSyncPeriod',
      (c) => (c.minSyncPeriodMs = -5000),
      [
        'KubeProxyConfiguration.iptables.minSyncPeriod: Invalid value: -5s: must be greater than or equal to 0',
      ],
    ],
    [
      'conntrack',
      (c) => {
        c.linux.conntrack.maxPerCore = -1;
        c.linux.conntrack.udpTimeoutMs = -1000;
      },
      [
        'KubeProxyConfiguration.conntrack.maxPerCore: Invalid value: -1: must be greater than or equal to 0',
        'KubeProxyConfiguration.conntrack.udpTimeout: Invalid value: -1s: must be greater than or equal to 0',
      ],
    ],
    [
      'mode',
      (c) => (c.mode = 'userspace'),
      [
        'KubeProxyConfiguration.mode: Invalid value: "userspace": must be iptables, ipvs, nftables or blank (blank means the best-available proxy [currently iptables])',
      ],
    ],
    [
      'bind addresses',
      (c) => {
        c.bindAddress = 'node-a';
        c.healthzBindAddress = '0.0.0.0';
        c.metricsBindAddress = '1.2.3:99999';
      },
      [
        'KubeProxyConfiguration.bindAddress: Invalid value: "node-a": not a valid textual representation of an IP address',
        'KubeProxyConfiguration.healthzBindAddress: Invalid value: "0.0.0.0": must be IP:port',
        'KubeProxyConfiguration.metricsBindAddress: Invalid value: "1.2.3": must be a valid IP',
        'KubeProxyConfiguration.metricsBindAddress: Invalid value: "99999": must be a valid port',
      ],
    ],
    ['an empty metrics address disables the server', (c) => (c.metricsBindAddress = ''), []],
    [
      'nodePortAddresses',
      (c) => (c.nodePortAddresses = ['198.18.0.0/15', 'primary']),
      [
        "KubeProxyConfiguration.nodePortAddresses[1]: Invalid value: \"primary\": can't use both 'primary' and CIDRs",
      ],
    ],
    [
      'nodePortAddresses CIDRs',
      (c) => (c.nodePortAddresses = ['198.18.0.1']),
      ['KubeProxyConfiguration.nodePortAddresses[0]: Invalid value: "198.18.0.1": must be a valid CIDR'],
    ],
    [
      'detectLocalMode',
      (c) => (c.detectLocalMode = 'Magic'),
      [
        'KubeProxyConfiguration.detectLocalMode: Unsupported value: "Magic": supported values: "ClusterCIDR", "NodeCIDR", "BridgeInterface", "InterfaceNamePrefix", ""',
      ],
    ],
    [
      'detectLocal interface',
      (c) => (c.detectLocalMode = 'BridgeInterface'),
      ['KubeProxyConfiguration.detectLocal.bridgeInterface: Invalid value: "": must not be empty'],
    ],
    [
      'clusterCIDR pair',
      (c) => (c.detectLocal.clusterCIDRs = ['198.18.0.0/16', '198.19.0.0/16']),
      [
        'KubeProxyConfiguration.clusterCIDR: Invalid value: []string{"198.18.0.0/16", "198.19.0.0/16"}: must be a either a single CIDR or dual-stack pair of CIDRs (e.g. [10.100.0.0/16, fde4:8dba:82e1::/48]',
      ],
    ],
    [
      'clusterCIDR',
      (c) => (c.detectLocal.clusterCIDRs = ['198.18.0.1']),
      [
        'KubeProxyConfiguration.clusterCIDR[0]: Invalid value: "198.18.0.1": must be a valid CIDR block (e.g. 10.100.0.0/16 or fde4:8dba:82e1::/48)',
      ],
    ],
    [
      'ipvs timeouts only in ipvs mode',
      (c) => {
        c.mode = 'ipvs';
        c.ipvs.tcpTimeoutMs = -1000;
      },
      ['KubeProxyConfiguration.ipvs.tcpTimeout: Invalid value: -1s: must be greater than or equal to 0'],
    ],
    [
      'clientConnection.burst',
      (c) => (c.clientConnection.burst = -1),
      [
        'KubeProxyConfiguration.clientConnection.burst: Invalid value: -1: must be greater than or equal to 0',
      ],
    ],
    [
      'logging.format',
      (c) => (c.logging.format = 'yaml'),
      ['KubeProxyConfiguration.logging.format: Invalid value: "yaml": Unsupported log format'],
    ],
    [
      'portRange',
      (c) => (c.portRange = '30000-20000'),
      [
        'KubeProxyConfiguration.portRange: Invalid value: "30000-20000": must be a valid port range (e.g. 300-2000)',
      ],
    ],
    [
      'showHiddenMetricsForVersion accepts the previous minor',
      (c) => (c.showHiddenMetricsForVersion = '1.34'),
      [],
    ],
  ];
  for (const [name, edit, want] of cases) test(name, () => assert.deepEqual(errorsOf(edit), want));
});
