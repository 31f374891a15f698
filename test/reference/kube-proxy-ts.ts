// The differential harness's launcher for kube-proxy-ts itself: bin/kube-proxy-ts inside the node
// namespace, reading the same API server through the same kubeconfig as upstream kube-proxy.

import { register } from '../../src/sandbox/cleanup.ts';
import { run } from '../../src/sandbox/exec.ts';
import type { ExitStatus } from '../../src/sandbox/process.ts';
import { PROXY_BIN } from '../../src/sandbox/proxy.ts';
import { KUBELET_HINT_ARGS } from '../harness/kubelet-hint.ts';
import { TIME_SCALE } from '../harness/wait.ts';
import type { ProxyContext, ProxyLauncher, RunningProxy } from './differential.ts';
import { spawnWithDeathsig } from './procs.ts';

export interface LauncherOptions {
  /** Environment for the proxy process, e.g. a PATH with a slowed-down nft. */
  readonly env?: Readonly<Record<string, string>>;
  /** 'nftables' (default) or 'iptables'. */
  readonly mode?: 'nftables' | 'iptables' | 'ipvs';
  /** Shown in reports instead of "kube-proxy-ts (mode)". */
  readonly name?: string;
}

export function kubeProxyTsLauncher(
  extraArgs: readonly string[] = [],
  o: LauncherOptions = {},
): ProxyLauncher {
  const mode = o.mode ?? 'nftables';
  const name = o.name ?? `kube-proxy-ts (${mode})`;
  return {
    name,
    mode,
    start: async (ctx: ProxyContext): Promise<RunningProxy> => {
      // IPVS mode runs in the UML guest, whose kernel serves iptables-legacy only: plant kubelet's
      // hint chain there, as kubelet does on a node, so the variant detection picks legacy.
      if (mode === 'ipvs')
        await run('ip', ['netns', 'exec', ctx.nodeNs, 'iptables-legacy', ...KUBELET_HINT_ARGS], {
          allowFail: true,
        });
      const args = [
        `--proxy-mode=${mode}`,
        `--kubeconfig=${ctx.kubeconfig}`,
        `--hostname-override=${ctx.nodeName}`,
        `--cluster-cidr=${ctx.clusterCIDR}`,
        `--nodeport-addresses=${ctx.nodePortAddresses.join(',')}`,
        '-v=2',
        ...(ctx.masqueradeAll ? ['--masquerade-all'] : []),
        ...extraArgs,
      ];
      const proc = spawnWithDeathsig(`kube-proxy-ts in ${ctx.nodeNs}`, 'ip', [
        'netns',
        'exec',
        ctx.nodeNs,
        ...(o.env ? ['env', ...Object.entries(o.env).map(([k, v]) => `${k}=${v}`)] : []),
        PROXY_BIN,
        ...args,
      ]);
      const unregister = register({ teardownSync: () => proc.killSync() });
      let stopping: Promise<void> | undefined;
      return {
        name,
        exited: proc.exited as Promise<ExitStatus>,
        tail: (n) => proc.tail(n),
        stop: () => {
          stopping ??= (async () => {
            try {
              await proc.stop(5000);
              // SIGTERM leaves the rules in place, as upstream; --cleanup removes them for the next proxy.
              await run('ip', ['netns', 'exec', ctx.nodeNs, PROXY_BIN, '--cleanup'], {
                allowFail: true,
                timeoutMs: 30_000 * TIME_SCALE,
              });
            } finally {
              unregister();
            }
          })();
          return stopping;
        },
      };
    },
  };
}
