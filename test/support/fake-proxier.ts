// An nftables proxier wired to the in-memory nftables, a silent logger and a manual clock, so tests
// drive syncs explicitly.

import { NftablesProxier, type ProxierOptions } from '../../src/backends/nftables/proxier.ts';
import { FakeNftables } from '../../src/kernel/nft/fake.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { detectLocalByCIDR, NO_LOCAL_DETECTOR } from '../../src/proxy/local-detector.ts';
import type { Clock } from '../../src/runner/bounded-frequency-runner.ts';
import type { IPFamily } from '../../src/util/ip.ts';
import { NODE_IP, NODE_NAME, node, POD_CIDR, SERVICE_CIDR } from './fixtures.ts';
import { NftTracer } from './nft-tracer.ts';

/** A clock whose timers never fire on their own: tests call syncProxyRules() themselves. */
export const frozenClock: Clock = { now: () => 0, setTimeout: () => ({}), clearTimeout: () => {} };

export interface FakeProxier {
  readonly proxier: NftablesProxier;
  readonly nft: FakeNftables;
  tracer(nodeIPs?: string[]): NftTracer;
}

export function newFakeProxier(
  overrides: Partial<Omit<ProxierOptions, 'nft'>> & { podCIDR?: string | null; nft?: FakeNftables } = {},
): FakeProxier {
  const family: IPFamily = overrides.family ?? 'IPv4';
  const nft = overrides.nft ?? new FakeNftables();
  const podCIDR = overrides.podCIDR === undefined ? POD_CIDR : overrides.podCIDR;
  const proxier = new NftablesProxier({
    family,
    hostname: NODE_NAME,
    logger: silentLogger,
    minSyncPeriodMs: 0,
    syncPeriodMs: 30_000,
    masqueradeAll: false,
    masqueradeBit: 14,
    localDetector: podCIDR === null ? NO_LOCAL_DETECTOR : detectLocalByCIDR(podCIDR),
    nodePortAddresses: ['primary'],
    localAddresses: () => [NODE_IP],
    clock: frozenClock,
    ...overrides,
    nft,
  });
  proxier.onNodeAdd(node(NODE_NAME, [NODE_IP]));
  proxier.onServiceCIDRsChanged([SERVICE_CIDR]);
  const fam = family === 'IPv4' ? 'ip' : 'ip6';
  return { proxier, nft, tracer: (nodeIPs = [NODE_IP]) => new NftTracer(nft, fam, nodeIPs) };
}
