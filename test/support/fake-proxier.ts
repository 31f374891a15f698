// An nftables proxier wired to the in-memory nftables, a silent logger and a manual clock, so tests
// drive syncs explicitly.

import { NftablesProxier, type ProxierOptions } from '../../src/backends/nftables/proxier.ts';
import { FakeNftables } from '../../src/kernel/nft/fake.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { detectLocalByCIDR, NO_LOCAL_DETECTOR } from '../../src/proxy/local-detector.ts';
import type { Clock } from '../../src/util/clock.ts';
import type { IPFamily } from '../../src/util/ip.ts';
import { NODE_IP, NODE_NAME, node, POD_CIDR, SERVICE_CIDR } from './fixtures.ts';
import { NftTracer } from './nft-tracer.ts';

/**
 * A clock that stands still and whose timers never fire: tests call syncProxyRules() themselves
 * (a ManualClock when time must pass). Its date is the real one: change-trigger times are compared
 * with the proxier's start.
 */
export const frozenClock: Clock = {
  now: () => 0,
  date: () => new Date(),
  setTimeout: () => ({}),
  clearTimeout: () => {},
};

export interface FakeProxier {
  readonly proxier: NftablesProxier;
  readonly nft: FakeNftables;
  tracer(nodeIPs?: string[]): NftTracer;
}

/** What every fake proxier starts from: upstream's test node, pod CIDR detector and a frozen clock. */
export function fakeCoreOptions(family: IPFamily, podCIDR: string | null | undefined) {
  const cidr = podCIDR === undefined ? POD_CIDR : podCIDR;
  return {
    family,
    hostname: NODE_NAME,
    logger: silentLogger,
    minSyncPeriodMs: 0,
    syncPeriodMs: 30_000,
    masqueradeAll: false,
    masqueradeBit: 14,
    localDetector: cidr === null ? NO_LOCAL_DETECTOR : detectLocalByCIDR(cidr),
    nodePortAddresses: ['primary'],
    localAddresses: () => [NODE_IP],
    clock: frozenClock,
  };
}

/** Puts the fake on upstream's test node, with the test ServiceCIDR. */
export function joinTestNode(proxier: {
  onNodeAdd: (n: ReturnType<typeof node>) => void;
  onServiceCIDRsChanged: (c: string[]) => void;
}): void {
  proxier.onNodeAdd(node(NODE_NAME, [NODE_IP]));
  proxier.onServiceCIDRsChanged([SERVICE_CIDR]);
}

/** Marks Services and EndpointSlices synced (the informers' initial lists are in) and syncs. */
export async function markSyncedAndSync(proxier: {
  onServicesSynced(): void;
  onEndpointSlicesSynced(): void;
  syncProxyRules(): Promise<void>;
}): Promise<void> {
  proxier.onServicesSynced();
  proxier.onEndpointSlicesSynced();
  await proxier.syncProxyRules();
}

export function newFakeProxier(
  overrides: Partial<Omit<ProxierOptions, 'nft'>> & { podCIDR?: string | null; nft?: FakeNftables } = {},
): FakeProxier {
  const family: IPFamily = overrides.family ?? 'IPv4';
  const nft = overrides.nft ?? new FakeNftables();
  const proxier = new NftablesProxier({ ...fakeCoreOptions(family, overrides.podCIDR), ...overrides, nft });
  joinTestNode(proxier);
  const fam = family === 'IPv4' ? 'ip' : 'ip6';
  return { proxier, nft, tracer: (nodeIPs = [NODE_IP]) => new NftTracer(nft, fam, nodeIPs) };
}
