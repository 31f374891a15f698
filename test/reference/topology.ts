// The namespace topology of the differential harness: the sandbox node of src/sandbox/topology.ts,
// which already has what upstream's packet-flow fixtures assume (upstream-kube-proxy.md §3b,
// re-addressed as in test/README.md): a second node IP (198.19.1.2), the external (198.19.100.2) and
// blocked (198.19.100.130) clients, client routes for external/LB IPs via the node, and a remote
// node with its own pods. On top of it:
//
//   - the "pod" client (198.18.0.2) and a marker pod (198.18.1.250, see differential.ts);
//   - one echo server per (backend, port), named "<ip>:<port>", so an answer says which endpoint took
//     the flow in upstream's notation ("10.180.0.1:80");
//   - icmp_ratemask=0 and a large icmp_msgs_per_sec/burst on the node: the sandbox turns off the
//     per-peer ICMP limit, but the per-namespace global one (icmp_msgs_burst, 50) would turn a
//     burst of REJECTed samples into silent drops.
//
// Everything lives in the sandbox's namespaces, which it deletes on close(), on failure during
// set-up, and on process exit/signals.
import { join } from 'node:path';
import type { FlowResult } from '../../src/sandbox/flows.ts';
import { LineProcess } from '../../src/sandbox/process.ts';
import { REPO_ROOT } from '../../src/sandbox/proxy.ts';
import { createSandbox, type PodPort, type Sandbox } from '../../src/sandbox/topology.ts';

export const NODE_IP = '198.19.0.2';
export const NODE_IP_2 = '198.19.1.2';
export const POD_CLIENT_IP = '198.18.0.2';
export const EXT_CLIENT_IP = '198.19.100.2';
export const BLOCKED_CLIENT_IP = '198.19.100.130';
export const CLUSTER_CIDR = '198.18.0.0/16';
/** A local pod the harness uses to see when the proxy has caught up (see differential.ts). */
export const MARKER_POD_IP = '198.18.1.250';
export const MARKER_PORT = 8080;

const ECHO_SCRIPT = join(REPO_ROOT, 'src', 'sandbox', 'echo-server.ts');

/**
 * Who sends a flow: upstream's `pod`, `node`, `ext` and `blk`, or any sandbox location ("client",
 * "remote", a pod name) with an optional source address to bind.
 */
export type Source = 'pod' | 'node' | 'ext' | 'blk' | { where: string; src?: string };

export interface SourcedFlow {
  proto: 'tcp' | 'udp';
  dst: string;
  port: number;
  /** Source port to bind (UDP); default: the kernel's choice. */
  sport?: number;
  timeoutMs?: number;
}

export interface RefTopologySpec {
  /** Endpoint IPs on this node's pod bridge (198.18.0.0/16). */
  localBackends: string[];
  /** Endpoint IPs on the remote node. */
  remoteBackends: string[];
  /** What every backend listens on. */
  ports: PodPort[];
  /** Namespace prefix (src/sandbox/cleanup.ts rules). Default "kref". */
  prefix?: string;
  /**
   * One echo process per (backend, port) (default), or one per backend answering on every port with
   * the same "<ip>:<port>" name (`--port-suffix`): a third of the processes for three ports.
   */
  echo?: 'per-port' | 'per-pod';
  /** An echo server named "host" in the node namespace: answers what no proxy rule rewrote. */
  hostPorts?: PodPort[];
  /** Probes in flight at once per source (default 250). */
  probeConcurrency?: number;
  /**
   * The same for IPv6 sources (default: probeConcurrency). The node's ICMPv6 errors are charged to
   * one kernel socket per CPU until transmitted (~128 KiB of send buffer): a burst of a few hundred
   * REJECTed probes at once loses the rest ("Icmp6OutErrors"), which reads as DROP.
   */
  probeConcurrencyV6?: number;
}

/** The sandbox pod name of a backend (a flow Source's `where`). */
export function backendName(podIP: string): string {
  return `b-${podIP}`;
}

export class RefTopology {
  readonly sandbox: Sandbox;
  readonly spec: RefTopologySpec;
  private readonly children = new Set<LineProcess>();
  private closing: Promise<void> | undefined;

  private constructor(sandbox: Sandbox, spec: RefTopologySpec) {
    this.sandbox = sandbox;
    this.spec = spec;
  }

  static async create(spec: RefTopologySpec): Promise<RefTopology> {
    const all = [...spec.localBackends, ...spec.remoteBackends];
    for (const b of all) {
      if ([POD_CLIENT_IP, MARKER_POD_IP].includes(b)) throw new Error(`backend ${b}: address is reserved`);
    }
    // No echo servers from the sandbox (ports: []): ours are per port, named "<ip>:<port>".
    const sandbox = await createSandbox({
      prefix: spec.prefix ?? 'kref',
      ...(spec.hostPorts ? { hostPorts: spec.hostPorts } : {}),
      pods: [
        { name: 'pod', ip: POD_CLIENT_IP, ports: [] },
        { name: 'marker', ip: MARKER_POD_IP, ports: [] },
        ...spec.localBackends.map((b) => ({
          name: backendName(b),
          ip: b,
          ports: [],
          node: 'local' as const,
        })),
        ...spec.remoteBackends.map((b) => ({
          name: backendName(b),
          ip: b,
          ports: [],
          node: 'remote' as const,
        })),
      ],
    });
    const topo = new RefTopology(sandbox, spec);
    try {
      await topo.setUp();
    } catch (err) {
      await topo.close();
      throw err;
    }
    return topo;
  }

  get nodeNs(): string {
    return this.sandbox.nodeNs;
  }

  /** Sandbox location and bound address for a flow source. */
  resolve(source: Source): { where: string; src?: string } {
    switch (source) {
      case 'pod':
        return { where: 'pod', src: POD_CLIENT_IP };
      case 'node':
        return { where: 'node', src: NODE_IP };
      case 'ext':
        return { where: 'client', src: EXT_CLIENT_IP };
      case 'blk':
        return { where: 'client', src: BLOCKED_CLIENT_IP };
      default:
        return source;
    }
  }

  /** Runs flows concurrently from one source in one probe process. */
  probe(from: Source, flows: readonly SourcedFlow[]): Promise<FlowResult[]> {
    const { where, src } = this.resolve(from);
    return this.sandbox.probe(
      where,
      flows.map((f) => ({ ...f, ...(src ? { src } : {}) })),
      {
        concurrency:
          (src?.includes(':') ? this.spec.probeConcurrencyV6 : undefined) ??
          this.spec.probeConcurrency ??
          250,
      },
    );
  }

  private async setUp(): Promise<void> {
    // The client answers traffic no rule rewrote and nothing routes (an unallocated address of an
    // unrouted ServiceCIDR, say) with ICMP errors: unlimited too, or the outcome depends on what the
    // token bucket held at the time.
    await this.sandbox.exec('client', 'sysctl', [
      '-qw',
      'net.ipv4.icmp_ratelimit=0',
      'net.ipv6.icmp.ratelimit=0',
      'net.ipv4.icmp_ratemask=0',
      'net.ipv6.icmp.ratemask=0',
      'net.ipv4.icmp_msgs_per_sec=100000',
      'net.ipv4.icmp_msgs_burst=100000',
    ]);
    await this.sandbox.exec('node', 'sysctl', [
      '-qw',
      'net.ipv4.icmp_ratemask=0',
      'net.ipv6.icmp.ratemask=0',
      // Per namespace too: ip6tables REJECTs of a burst of probes (hundreds at once) were still
      // lost to this token bucket, ratemask notwithstanding (seen in iptables mode, IPv6).
      'net.ipv4.icmp_msgs_per_sec=100000',
      'net.ipv4.icmp_msgs_burst=100000',
    ]);
    const backends = [...this.spec.localBackends, ...this.spec.remoteBackends];
    await Promise.all([
      ...(this.spec.echo === 'per-pod'
        ? backends.map((b) => this.startEcho(backendName(b), b, this.spec.ports, ['--port-suffix']))
        : backends.flatMap((b) =>
            this.spec.ports.map((p) => this.startEcho(backendName(b), `${b}:${p.port}`, [p])),
          )),
      this.startEcho('marker', `marker:${MARKER_PORT}`, [{ protocol: 'TCP', port: MARKER_PORT }]),
    ]);
  }

  private async startEcho(
    pod: string,
    name: string,
    ports: readonly PodPort[],
    extra: readonly string[] = [],
  ): Promise<void> {
    const echo = new LineProcess(`echo ${name}`, 'ip', [
      'netns',
      'exec',
      this.sandbox.ns(pod),
      process.execPath,
      ECHO_SCRIPT,
      '--name',
      name,
      ...extra,
      ...ports.flatMap((p) => [`--${p.protocol.toLowerCase()}`, String(p.port)]),
    ]);
    this.children.add(echo);
    await echo.waitForLine(/^ready$/, 15_000);
  }

  /** Stops our echo servers, then the sandbox (every process and namespace). Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        await Promise.all(
          [...this.children].map((c) => {
            c.child.stdin?.end();
            return c.stop(2000);
          }),
        );
      } finally {
        for (const c of this.children) c.killSync();
        await this.sandbox.close();
      }
    })();
    return this.closing;
  }
}
