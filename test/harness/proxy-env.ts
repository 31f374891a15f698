// One sandbox node, a manifest directory and the proxy running against it: the fixture every
// kernel test file shares (building it costs far more than any single test). Scenarios rewrite
// the manifest files and wait for the proxy to have applied them (apply()); a proxy restart with
// other flags keeps the sandbox (restartProxy()).
import { IPV4_PLAN, IPV6_PLAN, v6Of } from '../../src/sandbox/addresses.ts';
import type { Flow } from '../../src/sandbox/flows.ts';
import type { ProxyProcess } from '../../src/sandbox/proxy.ts';
import { createSandbox, type PodPort, type PodSpec, type Sandbox } from '../../src/sandbox/topology.ts';
import { KUBELET_HINT_ARGS } from './kubelet-hint.ts';
import { ManifestDir } from './manifests.ts';
import { IPTABLES_VARIANT, NFTABLES_WRITER, PROXY_MODE, USES_IPTABLES } from './mode.ts';
import { NODE_NAME } from './objects.ts';
import { waitForAnswer } from './traffic.ts';
import { TIME_SCALE, waitFor } from './wait.ts';

/** Both families' pod CIDRs: the default --cluster-cidr. */
export const DUAL_CLUSTER_CIDR = `${IPV4_PLAN.clusterCIDR},${IPV6_PLAN.clusterCIDR}`;

export interface ProxyFlags {
  /** --cluster-cidr; null leaves the flag out (no local traffic detector). Default: both families. */
  clusterCIDR?: string | null;
  /** Appended to the standard flags. */
  extraArgs?: string[];
  /** Leave --proxy-mode out: the proxy runs its default mode. */
  defaultMode?: boolean;
}

export interface ProxyEnvOptions extends ProxyFlags {
  pods: PodSpec[];
  /** Ports of the node's own echo server ("host"), see SandboxOptions.hostPorts. */
  hostPorts?: PodPort[];
  /** File name -> objects, written before the proxy starts. */
  manifests: Record<string, object[]>;
}

function flagsKey(flags: ProxyFlags): string {
  return JSON.stringify({
    clusterCIDR: flags.clusterCIDR,
    extraArgs: flags.extraArgs ?? [],
    defaultMode: flags.defaultMode ?? false,
  });
}

export function proxyArgs(manifestDir: string, extra: string[] = [], flags: ProxyFlags = {}): string[] {
  const cidr = flags.clusterCIDR === undefined ? DUAL_CLUSTER_CIDR : flags.clusterCIDR;
  return [
    ...(flags.defaultMode ? [] : ['--proxy-mode', PROXY_MODE]),
    '--manifests',
    manifestDir,
    '--hostname-override',
    NODE_NAME,
    ...(cidr === null ? [] : ['--cluster-cidr', cidr]),
    // The binary takes upstream's flag name (the brief's --min-sync-period is not accepted).
    '--iptables-min-sync-period=100ms',
    '-v=2',
    ...(NFTABLES_WRITER === 'cli' ? ['--nftables-writer=cli'] : []),
    ...extra,
    ...(flags.extraArgs ?? []),
  ];
}

const MARKER_FILE = 'zz-sync-marker.yaml';

export class ProxyEnv {
  readonly sandbox: Sandbox;
  readonly dir: ManifestDir;
  #proxy: ProxyProcess;
  /** The flags the running proxy was started with, so useFlags() restarts only when they differ. */
  #flags: string;
  #generation = 0;

  private constructor(sandbox: Sandbox, dir: ManifestDir, proxy: ProxyProcess, flags: ProxyFlags) {
    this.sandbox = sandbox;
    this.dir = dir;
    this.#proxy = this.#watch(proxy);
    this.#flags = flagsKey(flags);
  }

  get proxy(): ProxyProcess {
    return this.#proxy;
  }

  static async start(opts: ProxyEnvOptions): Promise<ProxyEnv> {
    const dir = await ManifestDir.create();
    try {
      for (const [file, objects] of Object.entries(opts.manifests)) await dir.write(file, ...objects);
      const sandbox = await createSandbox({
        pods: opts.pods,
        ...(opts.hostPorts && { hostPorts: opts.hostPorts }),
        // The echo servers are Node.js processes: ~0.5 s each to start in the UML guest, all at once.
        readyTimeoutMs: 10_000 * TIME_SCALE,
      });
      // kubelet's hint chain tells kube-proxy which iptables variant the node uses. Every mode but
      // nftables writes iptables rules (IPVS mode too); without the hint an empty node means nft,
      // which the UML guest's kernel cannot serve (test/uml/README.md).
      if (USES_IPTABLES)
        for (const bin of ['iptables', 'ip6tables'])
          await sandbox.exec('node', `${bin}-${IPTABLES_VARIANT}`, [...KUBELET_HINT_ARGS]);
      const flags: ProxyFlags = {
        ...(opts.clusterCIDR !== undefined && { clusterCIDR: opts.clusterCIDR }),
        ...(opts.extraArgs && { extraArgs: opts.extraArgs }),
        ...(opts.defaultMode && { defaultMode: true }),
      };
      return new ProxyEnv(sandbox, dir, sandbox.startProxy(proxyArgs(dir.path, [], flags)), flags);
    } catch (err) {
      await dir.close();
      throw err;
    }
  }

  /** Rejects as soon as the proxy exits, with its output. */
  #exited(): Promise<never> {
    const p = this.#proxy.exited.then((s) => {
      throw new Error(`kube-proxy-ts exited (code ${s.code}, signal ${s.signal}):\n${this.#proxy.tail()}`);
    });
    p.catch(() => {});
    return p;
  }

  /**
   * Waits until the flow is answered (the proxy programmed the service). Fails fast, with the
   * proxy's output, when the proxy exits instead.
   */
  async waitForAnswer(from: string, flow: Flow, timeoutMs = 10_000): Promise<void> {
    try {
      await Promise.race([waitForAnswer(this.sandbox, from, flow, timeoutMs), this.#exited()]);
    } catch (err) {
      throw new Error(`${(err as Error).message}${await this.context()}`);
    }
  }

  /**
   * Writes (objects) or removes (null) manifest files, then waits until the proxy has programmed
   * them all. Tracked connections are flushed first unless told otherwise, so a scenario never
   * sees conntrack entries of the previous one.
   */
  async apply(
    files: Record<string, object[] | null>,
    opts: { flushConntrack?: boolean } = {},
  ): Promise<void> {
    for (const [file, objects] of Object.entries(files)) {
      if (objects === null) await this.dir.remove(file);
      else await this.dir.write(file, ...objects);
    }
    await this.waitForSync();
    if (opts.flushConntrack ?? true) await this.sandbox.flushConntrack();
  }

  /**
   * Writes a new generation of a marker Service (its own ClusterIP per generation, no endpoints) as
   * the last manifest file and waits until both families reject UDP to it: then the proxy has
   * synced every file written before. Until then the address is unallocated and dropped.
   */
  async waitForSync(timeoutMs = 10_000): Promise<void> {
    const gen = ++this.#generation;
    const v4 = `198.19.31.${(gen % 250) + 1}`;
    await this.dir.write(MARKER_FILE, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { namespace: 'kube-system', name: 'sync-marker' },
      spec: {
        type: 'ClusterIP',
        clusterIP: v4,
        clusterIPs: [v4, v6Of(v4)],
        ipFamilies: ['IPv4', 'IPv6'],
        ports: [{ name: 'marker', protocol: 'UDP', port: 9, targetPort: 9 }],
      },
    });
    // UDP: an ICMP error reaches a UDP socket at once (a TCP SYN over IPv6 may need a retransmit).
    const flows: Flow[] = [v4, v6Of(v4)].map((dst) => ({ proto: 'udp', dst, port: 9, timeoutMs: 250 }));
    try {
      await Promise.race([
        waitFor(
          async () => {
            const rs = await this.sandbox.probe('client', flows);
            return rs.every((r) => r.outcome === 'reject')
              ? { ok: true, value: undefined }
              : { ok: false, detail: JSON.stringify(rs) };
          },
          { timeoutMs, intervalMs: 50, what: `the proxy to program sync marker ${gen} (${v4})` },
        ),
        this.#exited(),
      ]);
    } catch (err) {
      throw new Error(`${(err as Error).message}${await this.context()}`);
    }
  }

  /** Whether the current proxy process is still running. */
  get proxyRunning(): boolean {
    return !this.#gone.has(this.#proxy);
  }

  /** Sends the proxy a signal and waits until it has exited. */
  async signalProxy(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const pid = this.#proxy.pid;
    if (pid === undefined) throw new Error('the proxy has no pid');
    process.kill(pid, signal);
    return this.#proxy.exited;
  }

  /**
   * Starts a proxy again after the previous one exited (a kill), without waiting for anything:
   * callers time the restart. `pathPrefix` puts directories first on its PATH (tool wrappers).
   */
  startProxyAgain(flags: ProxyFlags = {}, opts: { pathPrefix?: readonly string[] } = {}): ProxyProcess {
    if (!this.#gone.has(this.#proxy)) throw new Error('startProxyAgain: the previous proxy is still running');
    this.#proxy = this.#watch(this.sandbox.startProxy(proxyArgs(this.dir.path, [], flags), opts));
    this.#flags = flagsKey(flags);
    return this.#proxy;
  }

  /** Proxies that have exited. */
  readonly #gone = new WeakSet<ProxyProcess>();

  #watch(p: ProxyProcess): ProxyProcess {
    void p.exited.then(() => this.#gone.add(p));
    return p;
  }

  /** Stops the proxy and starts it again with other flags; waits for its first sync. */
  async restartProxy(flags: ProxyFlags = {}): Promise<void> {
    await this.#proxy.stop();
    this.#proxy = this.#watch(this.sandbox.startProxy(proxyArgs(this.dir.path, [], flags)));
    this.#flags = flagsKey(flags);
    await this.waitForSync(15_000);
    await this.sandbox.flushConntrack();
  }

  /** Runs the proxy with these flags: restarts it only if they differ, else waits for it to catch up. */
  async useFlags(flags: ProxyFlags): Promise<void> {
    if (flagsKey(flags) === this.#flags) await this.waitForSync();
    else await this.restartProxy(flags);
  }

  /** iptables mode: iptables-save of one table in the node namespace, with the variant under test. */
  async iptablesSave(table: 'filter' | 'nat' | 'mangle', family: 'IPv4' | 'IPv6' = 'IPv4'): Promise<string> {
    const bin = `${family === 'IPv4' ? 'iptables' : 'ip6tables'}-${IPTABLES_VARIANT}-save`;
    return (await this.sandbox.exec('node', bin, ['-t', table])).stdout;
  }

  /** IPVS mode: `ipvsadm -Ln` in the node namespace, an independent reader of the virtual servers. */
  async ipvsadm(args: string[] = ['-Ln']): Promise<string> {
    return (await this.sandbox.exec('node', 'ipvsadm', args)).stdout;
  }

  /** Proxy output and the node's ruleset, appended to assertion messages. */
  async context(): Promise<string> {
    const ipvs =
      PROXY_MODE === 'ipvs'
        ? `\n--- ipvsadm -Ln ---\n${await this.ipvsadm().catch((err: unknown) => String(err))}\n--- ipset save ---\n${await this.sandbox
            .exec('node', 'ipset', ['save'])
            .then((r) => r.stdout)
            .catch((err: unknown) => String(err))}`
        : '';
    const rules = USES_IPTABLES
      ? (
          await Promise.all(
            ['iptables', 'ip6tables'].map((bin) =>
              this.sandbox
                .exec('node', `${bin}-${IPTABLES_VARIANT}-save`, [])
                .then((r) => r.stdout)
                .catch((err: unknown) => String(err)),
            ),
          )
        ).join('\n')
      : await this.sandbox.nft(['list', 'ruleset']).catch((err: unknown) => String(err));
    return `\n--- proxy output ---\n${this.#proxy.tail(30)}\n--- node ruleset ---\n${rules}${ipvs}`;
  }

  async close(): Promise<void> {
    try {
      await this.sandbox.close();
    } finally {
      await this.dir.close();
    }
  }
}

/**
 * Builds the fixture on first use, so files whose tests all skip never touch the kernel. The
 * options may be computed then too (e.g. after probing what the kernel supports).
 */
export function sharedEnv(opts: ProxyEnvOptions | (() => Promise<ProxyEnvOptions>)): {
  get(): Promise<ProxyEnv>;
  close(): Promise<void>;
} {
  let env: Promise<ProxyEnv> | undefined;
  return {
    get: () => {
      env ??= typeof opts === 'function' ? opts().then((o) => ProxyEnv.start(o)) : ProxyEnv.start(opts);
      return env;
    },
    close: async () => {
      const e = await env?.catch(() => undefined);
      await e?.close();
    },
  };
}
