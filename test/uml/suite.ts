// Which test files run inside the guest, and with which environment: the two parameters of
// kernel-suite.test.ts. Today the kernel suite in iptables mode with iptables-legacy (the only
// variant the stock UML kernel serves); IPVS mode switches GUEST_SUITE_ENV to
// KPTS_TEST_PROXY_MODE=ipvs and extends the list.

/** The mode the guest's files run in (test/harness/mode.ts reads these). */
export const GUEST_SUITE_ENV: Readonly<Record<string, string>> = {
  KPTS_TEST_PROXY_MODE: 'iptables',
  KPTS_TEST_IPTABLES_VARIANT: 'legacy',
};

export interface GuestSuiteFile {
  /** Repository-relative. */
  file: string;
  /** Set: the file does not run in the guest, for this reason. */
  excluded?: string;
}

const NO_NFT = 'the stock UML kernel has no nftables for IP (NF_TABLES_IPV4/IPV6 off)';

export const GUEST_SUITE_FILES: readonly GuestSuiteFile[] = [
  {
    file: 'test/kernel/cleanup.test.ts',
    // Its --cleanup cases plant nftables tables (`nft add table ip kube-proxy`) and fail at that
    // step; the other two pass in the guest. IPVS mode's --cleanup needs the guest: split the nft part.
    excluded: `plants nftables tables to see --cleanup remove them: ${NO_NFT}`,
  },
  { file: 'test/kernel/cluster-ip-general.test.ts' },
  { file: 'test/kernel/clusterip.test.ts' },
  { file: 'test/kernel/default-mode.test.ts' },
  { file: 'test/kernel/dry-run.test.ts' },
  { file: 'test/kernel/dynamic-changes.test.ts' },
  { file: 'test/kernel/endpoint-updates.test.ts' },
  { file: 'test/kernel/explain-service.test.ts' },
  { file: 'test/kernel/explain.test.ts' },
  { file: 'test/kernel/external-traffic-policy.test.ts' },
  { file: 'test/kernel/iptables-flush.test.ts' },
  {
    file: 'test/kernel/iptables-runner.test.ts',
    // Its legacy half passes in the guest, and on the host too.
    excluded: `half its cases drive iptables-nft: ${NO_NFT}`,
  },
  { file: 'test/kernel/loadbalancer.test.ts' },
  { file: 'test/kernel/masquerade.test.ts' },
  { file: 'test/kernel/nodeports.test.ts' },
  { file: 'test/kernel/reject-and-drop.test.ts' },
  { file: 'test/kernel/traffic-policy-and-terminating.test.ts' },
  { file: 'test/kernel/nft-netlink-equivalence.test.ts', excluded: `nftables only: ${NO_NFT}` },
  {
    file: 'test/kernel/nftables-drift.test.ts',
    excluded: `runs nftables mode whatever the pass's mode: ${NO_NFT}`,
  },
];

/**
 * Every wait of the kernel tests is this many times longer in the guest (test/harness/wait.ts):
 * one slow CPU, 50-200 ms per process spawn, ~0.5 s per Node.js start; iptables mode's first full
 * sync took 10-24 s there (README.md).
 */
export const GUEST_TIME_SCALE = 8;
