// Which test files run inside the guest, and with which environment: the parameters of
// guest-tests.ts. The guest is the only kernel here with IPVS, so the kernel suite runs there
// in IPVS mode (with iptables-legacy, the only variant the stock UML kernel serves), with the files
// only IPVS mode has and the differential against upstream's IPVS mode. iptables mode with
// iptables-legacy runs on the host (scripts/test.sh).

/** The mode the guest's files run in (test/harness/mode.ts reads these). */
export const GUEST_SUITE_ENV: Readonly<Record<string, string>> = {
  KPTS_TEST_PROXY_MODE: 'ipvs',
  KPTS_TEST_IPTABLES_VARIANT: 'legacy',
};

export interface GuestSuiteFile {
  /** Repository-relative. */
  file: string;
  /** Set: the file does not run in the guest, for this reason. */
  excluded?: string;
  /** Added to GUEST_SUITE_ENV for this file. */
  env?: Readonly<Record<string, string>>;
  /** Guest memory (default 1G): a control plane needs more. */
  memory?: string;
  /** The whole run, boot included (default 15 minutes). */
  timeoutMs?: number;
  /** Whether a failed run is repeated once in a new guest (default true). */
  retry?: boolean;
}

const NO_NFT = 'the stock UML kernel has no nftables for IP (NF_TABLES_IPV4/IPV6 off)';
const NOT_IPVS = (what: string) => `${what}; it runs on the host in the modes it covers`;

export const GUEST_SUITE_FILES: readonly GuestSuiteFile[] = [
  {
    file: 'test/kernel/cleanup.test.ts',
    // Its --cleanup cases plant nftables tables (`nft add table ip kube-proxy`) and fail at that step.
    excluded: `plants nftables tables to see --cleanup remove them: ${NO_NFT}`,
  },
  { file: 'test/kernel/cluster-ip-general.test.ts' },
  { file: 'test/kernel/clusterip.test.ts' },
  { file: 'test/kernel/default-mode.test.ts', excluded: NOT_IPVS('checks the default mode (iptables)') },
  { file: 'test/kernel/dry-run.test.ts' },
  { file: 'test/kernel/dynamic-changes.test.ts' },
  { file: 'test/kernel/endpoint-updates.test.ts' },
  {
    file: 'test/kernel/explain-service.test.ts',
    excluded: NOT_IPVS('explain reads nftables and iptables rulesets; it has no IPVS reader yet'),
  },
  {
    file: 'test/kernel/explain.test.ts',
    excluded: NOT_IPVS('explain traces nftables and iptables rules; it has no IPVS tracer yet'),
  },
  { file: 'test/kernel/external-traffic-policy.test.ts' },
  {
    file: 'test/kernel/iptables-flush.test.ts',
    excluded: NOT_IPVS("iptables mode's canary chains (upstream's IPVS mode has none)"),
  },
  {
    file: 'test/kernel/iptables-runner.test.ts',
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
  // IPVS mode only: virtual servers and real servers survive a restart; --cleanup removes IPVS state.
  { file: 'test/uml/guest/ipvs-restart.guest.ts' },
  { file: 'test/uml/guest/ipvs-cleanup.guest.ts' },
];

/**
 * A reference test in IPVS mode: etcd, kube-apiserver and both proxies in one 3 GiB guest (the
 * control plane starts in ~20 s there). No retry: a difference is a finding, not the guest's
 * slowness, and a second run would cost as long again.
 */
function referenceInGuest(file: string, env: Readonly<Record<string, string>>): GuestSuiteFile {
  return { file, env, memory: '3G', timeoutMs: 40 * 60_000, retry: false };
}

/** The differential against upstream kube-proxy in IPVS mode. */
export const GUEST_DIFFERENTIAL = referenceInGuest('test/reference/differential.test.ts', {
  KPTS_TEST_DIFFERENTIAL_MODES: 'ipvs',
});

/**
 * The randomised differential (issue 19) in IPVS mode, with that mode's smaller CI plan (one
 * dual-stack seed of two rounds: ModeDescription.ci in test/reference/random/modes.ts).
 */
export const GUEST_RANDOM_DIFFERENTIAL = referenceInGuest('test/reference/random-differential.test.ts', {
  KPTS_TEST_RANDOM_MODES: 'ipvs',
});

/** Every other file of the list that runs (from `index`): two halves of similar cost. */
export function half(files: readonly GuestSuiteFile[], index: 0 | 1): GuestSuiteFile[] {
  return files.filter((f) => f.excluded === undefined).filter((_, i) => i % 2 === index);
}

/**
 * Every wait of the kernel tests is this many times longer in the guest (test/harness/wait.ts):
 * one slow CPU, 50-200 ms per process spawn, ~0.5 s per Node.js start; iptables mode's first full
 * sync took 10-24 s there (README.md).
 */
export const GUEST_TIME_SCALE = 8;
