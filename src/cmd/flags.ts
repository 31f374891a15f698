// Every Linux flag of upstream kube-proxy 1.35 (cmd/kube-proxy/app/options.go, component-base
// logging flags, verflag), with upstream's names, types and help text, plus the kube-proxy-ts
// additions (--manifests, --dry-run, ...). Each entry is the one place a flag is described: its
// name, type, default and help (parsing and --help), and where its value goes, the way upstream's
// AddFlags binds each flag to its configuration field in one line.
import type { ProxyConfig } from '../config/types.ts';
import type { FlagSpec, FlagType, FlagValue } from './flag-parser.ts';

/** The value the parser produces for each flag type. */
export interface FlagValues {
  bool: boolean;
  string: string;
  int: number;
  int32: number;
  float32: number;
  duration: number;
  stringSlice: string[];
  mapStringBool: Record<string, boolean>;
  ip: string;
  ipPort: string;
  version: boolean | 'raw';
}

type Scalar = string | number | boolean | undefined | readonly unknown[];

/** The dotted paths of the configuration's fields ("linux.conntrack.min"). */
type ConfigPath<T = ProxyConfig> = {
  [K in keyof T & string]: T[K] extends Scalar ? K : T[K] extends object ? `${K}.${ConfigPath<T[K]>}` : never;
}[keyof T & string];

type FieldType<T, P extends string> = P extends `${infer K}.${infer Rest}`
  ? K extends keyof T
    ? FieldType<T[K], Rest>
    : never
  : P extends keyof T
    ? T[P]
    : never;

/** The configuration fields a value of type V can be written to. */
type FieldFor<V> = { [P in ConfigPath]: V extends FieldType<ProxyConfig, P> ? P : never }[ConfigPath];

interface FlagOf<T extends FlagType> extends FlagSpec {
  readonly type: T;
  /**
   * 'config': a configuration flag; without --config it sets its field, with --config the file
   * replaces it (and it is reported as ignored). 'logging': copied onto the logging configuration
   * whenever it is set, --config or not (copyLogsFromFlags). Absent: a command-line flag that
   * resolveOptions reads itself (one-shot actions, kube-proxy-ts additions).
   */
  readonly scope?: 'config' | 'logging';
  /** The internal configuration field the value is written to. */
  readonly field?: FieldFor<FlagValues[T]>;
  /** Instead of a field: how the value is applied; runs after every field is set, so it may read them. */
  readonly apply?: (c: ProxyConfig, value: FlagValues[T]) => void;
}

export type Flag = { [T in FlagType]: FlagOf<T> }[FlagType];

/**
 * processV1Alpha1Flags: the iptables periods apply to every mode but ipvs, the ipvs ones to ipvs.
 * `ipvs`: whether the flag is one of the ipvs ones.
 */
function syncPeriod(
  ipvs: boolean,
  field: 'syncPeriodMs' | 'minSyncPeriodMs',
): (c: ProxyConfig, v: number) => void {
  return (c, v) => {
    if ((c.mode === 'ipvs') === ipvs) c[field] = v;
  };
}

const IGNORED = ' This parameter is ignored if a config file is specified by --config.';
const WIN = ' (Windows kernelspace mode)';

const TABLE = [
  {
    name: 'bind-address',
    type: 'ip',
    typeName: 'ip',
    defaultText: '0.0.0.0',
    usage: `Overrides kube-proxy's idea of what its node's primary IP is. Note that the name is a historical artifact, and kube-proxy does not actually bind any sockets to this IP.${IGNORED}`,
    scope: 'config',
    field: 'bindAddress',
  },
  {
    name: 'bind-address-hard-fail',
    type: 'bool',
    usage: 'If true kube-proxy will treat failure to bind to a port as fatal and exit',
    scope: 'config',
    field: 'bindAddressHardFail',
  },
  {
    name: 'boot-id-file',
    type: 'string',
    defaultText: '/proc/sys/kernel/random/boot_id',
    usage:
      'Comma-separated list of files to check for boot-id. Use the first one that exists. (accepted and ignored)',
  },
  { name: 'cleanup', type: 'bool', usage: 'If true cleanup iptables and ipvs rules and exit.' },
  {
    name: 'cluster-cidr',
    type: 'string',
    usage: `The CIDR range of the pods in the cluster. (For dual-stack clusters, this can be a comma-separated dual-stack pair of CIDR ranges.). When --detect-local-mode is set to ClusterCIDR, kube-proxy will consider traffic to be local if its source IP is in this range. (Otherwise it is not used.)${IGNORED}`,
    scope: 'config',
    // kube-proxy-ts accepts spaces around the commas and ignores empty entries (upstream splits only).
    apply: (c, v) => {
      c.detectLocal.clusterCIDRs = v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    },
  },
  { name: 'config', type: 'string', usage: 'The path to the configuration file.' },
  {
    name: 'config-sync-period',
    type: 'duration',
    defaultText: '15m0s',
    usage: 'How often configuration from the apiserver is refreshed.  Must be greater than 0.',
    scope: 'config',
    field: 'configSyncPeriodMs',
  },
  {
    name: 'conntrack-max-per-core',
    type: 'int32',
    defaultText: '32768',
    usage:
      'Maximum number of NAT connections to track per CPU core (0 to leave the limit as-is and ignore conntrack-min).',
    scope: 'config',
    field: 'linux.conntrack.maxPerCore',
  },
  {
    name: 'conntrack-min',
    type: 'int32',
    defaultText: '131072',
    usage:
      'Minimum number of conntrack entries to allocate, regardless of conntrack-max-per-core (set conntrack-max-per-core=0 to leave the limit as-is).',
    scope: 'config',
    field: 'linux.conntrack.min',
  },
  {
    name: 'conntrack-tcp-be-liberal',
    type: 'bool',
    usage: 'Enable liberal mode for tracking TCP packets by setting nf_conntrack_tcp_be_liberal to 1',
    scope: 'config',
    field: 'linux.conntrack.tcpBeLiberal',
  },
  {
    name: 'conntrack-tcp-timeout-close-wait',
    type: 'duration',
    defaultText: '1h0m0s',
    usage: 'NAT timeout for TCP connections in the CLOSE_WAIT state',
    scope: 'config',
    field: 'linux.conntrack.tcpCloseWaitTimeoutMs',
  },
  {
    name: 'conntrack-tcp-timeout-established',
    type: 'duration',
    defaultText: '24h0m0s',
    usage: 'Idle timeout for established TCP connections (0 to leave as-is)',
    scope: 'config',
    field: 'linux.conntrack.tcpEstablishedTimeoutMs',
  },
  {
    name: 'conntrack-udp-timeout',
    type: 'duration',
    usage: 'Idle timeout for UNREPLIED UDP connections (0 to leave as-is)',
    scope: 'config',
    field: 'linux.conntrack.udpTimeoutMs',
  },
  {
    name: 'conntrack-udp-timeout-stream',
    type: 'duration',
    usage: 'Idle timeout for ASSURED UDP connections (0 to leave as-is)',
    scope: 'config',
    field: 'linux.conntrack.udpStreamTimeoutMs',
  },
  {
    name: 'detect-local-mode',
    type: 'string',
    typeName: 'LocalMode',
    usage: `Mode to use to detect local traffic.${IGNORED}`,
    scope: 'config',
    field: 'detectLocalMode',
  },
  {
    name: 'dry-run',
    type: 'bool',
    usage: 'kube-proxy-ts: print the nft script the first sync would apply, then exit.',
  },
  {
    name: 'enable-dsr',
    type: 'bool',
    usage: `If true make kube-proxy apply DSR policies for service VIP${WIN}`,
    scope: 'config',
    field: 'winkernel.enableDSR',
  },
  {
    name: 'feature-gates',
    type: 'mapStringBool',
    typeName: 'mapStringBool',
    usage: `A set of key=value pairs that describe feature gates for alpha/experimental features.${IGNORED}`,
    scope: 'config',
    apply: (c, v) => Object.assign(c.featureGates, v),
  },
  {
    name: 'forward-healthcheck-vip',
    type: 'bool',
    usage: `If true forward service VIP for health check port${WIN}`,
    scope: 'config',
    field: 'winkernel.forwardHealthCheckVip',
  },
  {
    name: 'healthz-bind-address',
    type: 'ipPort',
    typeName: 'ipport',
    defaultText: '0.0.0.0:10256',
    usage: `The IP address and port for the health check server to serve on, defaulting to "0.0.0.0:10256".${IGNORED}`,
    scope: 'config',
    field: 'healthzBindAddress',
  },
  {
    name: 'healthz-port',
    type: 'int32',
    defaultText: '10256',
    deprecated:
      'This flag is deprecated and will be removed in a future release. Please use --healthz-bind-address instead.',
    usage: 'The port to bind the health check server. Use 0 to disable.',
    // addressFromDeprecatedFlags in resolveOptions: the port goes into healthzBindAddress.
    scope: 'config',
  },
  { name: 'help', shorthand: 'h', type: 'bool', usage: 'help for kube-proxy' },
  {
    name: 'hostname-override',
    type: 'string',
    usage:
      "If non-empty, will be used as the name of the Node that kube-proxy is running on. If unset, the node name is assumed to be the same as the node's hostname.",
  },
  {
    name: 'init-only',
    type: 'bool',
    usage:
      'If true, perform any initialization steps that must be done with full root privileges, and then exit. After doing this, you can run kube-proxy again with only the CAP_NET_ADMIN capability.',
  },
  {
    name: 'iptables-localhost-nodeports',
    type: 'bool',
    defaultText: 'true',
    usage:
      'If false, kube-proxy will disable the legacy behavior of allowing NodePort services to be accessed via localhost. (Applies only to iptables mode and IPv4; localhost NodePorts are never allowed with other proxy modes or with IPv6.)',
    scope: 'config',
    field: 'iptables.localhostNodePorts',
  },
  {
    name: 'iptables-masquerade-bit',
    type: 'int32',
    defaultText: '14',
    usage:
      'If using the iptables or ipvs proxy mode, the bit of the fwmark space to mark packets requiring SNAT with.  Must be within the range [0, 31].',
    scope: 'config',
    field: 'iptables.masqueradeBit',
  },
  {
    name: 'iptables-min-sync-period',
    type: 'duration',
    defaultText: '1s',
    usage:
      "The minimum period between iptables rule resyncs (e.g. '5s', '1m', '2h22m'). A value of 0 means every Service or EndpointSlice change will result in an immediate iptables resync.",
    scope: 'config',
    apply: syncPeriod(false, 'minSyncPeriodMs'),
  },
  {
    name: 'iptables-sync-period',
    type: 'duration',
    defaultText: '30s',
    usage:
      "An interval (e.g. '5s', '1m', '2h22m') indicating how frequently various re-synchronizing and cleanup operations are performed. Must be greater than 0.",
    scope: 'config',
    apply: syncPeriod(false, 'syncPeriodMs'),
  },
  {
    name: 'ipvs-exclude-cidrs',
    type: 'stringSlice',
    typeName: 'strings',
    usage:
      'A comma-separated list of CIDRs which the ipvs proxier should not touch when cleaning up IPVS rules.',
    scope: 'config',
    field: 'ipvs.excludeCIDRs',
  },
  {
    name: 'ipvs-min-sync-period',
    type: 'duration',
    usage:
      "The minimum period between IPVS rule resyncs (e.g. '5s', '1m', '2h22m'). A value of 0 means every Service or EndpointSlice change will result in an immediate IPVS resync.",
    scope: 'config',
    apply: syncPeriod(true, 'minSyncPeriodMs'),
  },
  {
    name: 'ipvs-scheduler',
    type: 'string',
    usage: 'The ipvs scheduler type when proxy mode is ipvs',
    scope: 'config',
    field: 'ipvs.scheduler',
  },
  {
    name: 'ipvs-strict-arp',
    type: 'bool',
    usage: 'Enable strict ARP by setting arp_ignore to 1 and arp_announce to 2',
    scope: 'config',
    field: 'ipvs.strictARP',
  },
  {
    name: 'ipvs-sync-period',
    type: 'duration',
    defaultText: '30s',
    usage:
      "An interval (e.g. '5s', '1m', '2h22m') indicating how frequently various re-synchronizing and cleanup operations are performed. Must be greater than 0.",
    scope: 'config',
    apply: syncPeriod(true, 'syncPeriodMs'),
  },
  {
    name: 'ipvs-tcp-timeout',
    type: 'duration',
    usage: "The timeout for idle IPVS TCP connections, 0 to leave as-is. (e.g. '5s', '1m', '2h22m').",
    scope: 'config',
    field: 'ipvs.tcpTimeoutMs',
  },
  {
    name: 'ipvs-tcpfin-timeout',
    type: 'duration',
    usage:
      "The timeout for IPVS TCP connections after receiving a FIN packet, 0 to leave as-is. (e.g. '5s', '1m', '2h22m').",
    scope: 'config',
    field: 'ipvs.tcpFinTimeoutMs',
  },
  {
    name: 'ipvs-udp-timeout',
    type: 'duration',
    usage: "The timeout for IPVS UDP packets, 0 to leave as-is. (e.g. '5s', '1m', '2h22m').",
    scope: 'config',
    field: 'ipvs.udpTimeoutMs',
  },
  {
    name: 'kernelspace-hns',
    type: 'string',
    usage:
      'kube-proxy-ts: where kernelspace mode programs load balancers: "windows" (the Host Networking Service through computenetwork.dll, the default; Windows only) or "model" (an in-memory HNS with one L2Bridge network named by --network-name; for --dry-run and tests on any platform).',
  },
  {
    name: 'kube-api-burst',
    type: 'int32',
    defaultText: '10',
    usage: 'Burst to use while talking with kubernetes apiserver',
    scope: 'config',
    field: 'clientConnection.burst',
  },
  {
    name: 'kube-api-content-type',
    type: 'string',
    defaultText: '"application/vnd.kubernetes.protobuf"',
    usage: 'Content type of requests sent to apiserver.',
    scope: 'config',
    field: 'clientConnection.contentType',
  },
  {
    name: 'kube-api-qps',
    type: 'float32',
    defaultText: '5',
    usage: 'QPS to use while talking with kubernetes apiserver',
    scope: 'config',
    field: 'clientConnection.qps',
  },
  {
    name: 'kubeconfig',
    type: 'string',
    usage:
      'Path to kubeconfig file with authorization information (the master location can be overridden by the master flag).',
    scope: 'config',
    field: 'clientConnection.kubeconfig',
  },
  {
    name: 'log-flush-frequency',
    type: 'duration',
    defaultText: '5s',
    usage: 'Maximum number of seconds between log flushes',
    scope: 'logging',
    field: 'logging.flushFrequencyMs',
  },
  {
    name: 'log-json-info-buffer-size',
    type: 'string',
    typeName: 'quantity',
    usage:
      '[Alpha] In JSON format with split output streams, the info messages can be buffered for a while to increase performance. The default value of zero bytes disables buffering. The size can be specified as number of bytes (512), multiples of 1000 (1K), multiples of 1024 (2Ki), or powers of those (3M, 4G, 5Mi, 6Gi). Enable the LoggingAlphaOptions feature gate to use this.',
    scope: 'logging',
    field: 'logging.options.json.infoBufferSize',
  },
  {
    name: 'log-json-split-stream',
    type: 'bool',
    usage:
      '[Alpha] In JSON format, write error messages to stderr and info messages to stdout. The default is to write a single stream to stdout. Enable the LoggingAlphaOptions feature gate to use this.',
    scope: 'logging',
    field: 'logging.options.json.splitStream',
  },
  {
    name: 'log-text-info-buffer-size',
    type: 'string',
    typeName: 'quantity',
    usage:
      '[Alpha] In text format with split output streams, the info messages can be buffered for a while to increase performance. The default value of zero bytes disables buffering. The size can be specified as number of bytes (512), multiples of 1000 (1K), multiples of 1024 (2Ki), or powers of those (3M, 4G, 5Mi, 6Gi). Enable the LoggingAlphaOptions feature gate to use this.',
    scope: 'logging',
    field: 'logging.options.text.infoBufferSize',
  },
  {
    name: 'log-text-split-stream',
    type: 'bool',
    usage:
      '[Alpha] In text format, write error messages to stderr and info messages to stdout. The default is to write a single stream to stdout. Enable the LoggingAlphaOptions feature gate to use this.',
    scope: 'logging',
    field: 'logging.options.text.splitStream',
  },
  {
    name: 'logging-format',
    type: 'string',
    defaultText: '"text"',
    usage: 'Sets the log format. Permitted formats: "json" (gated by LoggingBetaOptions), "text".',
    scope: 'logging',
    field: 'logging.format',
  },
  {
    name: 'machine-id-file',
    type: 'string',
    defaultText: '/etc/machine-id,/var/lib/dbus/machine-id',
    usage:
      'Comma-separated list of files to check for machine-id. Use the first one that exists. (accepted and ignored)',
  },
  {
    name: 'debug-explain',
    type: 'bool',
    usage:
      'kube-proxy-ts: serve /debug/explain/service and /debug/explain/packet on the metrics server (for `kube-proxy-ts explain service`), to loopback clients only unless --debug-explain-allow-remote is set.',
  },
  {
    name: 'debug-explain-allow-remote',
    type: 'bool',
    usage:
      'kube-proxy-ts: with --debug-explain, answer explain requests from any address the metrics server listens on, not only from loopback.',
  },
  {
    name: 'network-name',
    type: 'string',
    usage: `The name of the cluster network.${WIN}`,
    scope: 'config',
    field: 'winkernel.networkName',
  },
  {
    name: 'nftables-writer',
    type: 'string',
    usage:
      'kube-proxy-ts: how nftables rules reach the kernel: "netlink" (one nf_tables batch on a netlink socket, the default) or "cli" (the nft binary, as upstream).',
  },
  {
    name: 'manifests',
    type: 'string',
    usage:
      'kube-proxy-ts: read Services, EndpointSlices, Nodes and ServiceCIDRs from manifest files in this directory (and watch it) instead of the Kubernetes API.',
  },
  {
    name: 'masquerade-all',
    type: 'bool',
    usage:
      'SNAT all traffic sent via Service cluster IPs. This may be required with some CNI plugins. Only supported on Linux.',
    scope: 'config',
    field: 'linux.masqueradeAll',
  },
  {
    name: 'master',
    type: 'string',
    usage: 'The address of the Kubernetes API server (overrides any value in kubeconfig)',
  },
  {
    name: 'metrics-bind-address',
    type: 'ipPort',
    typeName: 'ipport',
    defaultText: '127.0.0.1:10249',
    usage: `The IP address and port for the metrics server to serve on, defaulting to "127.0.0.1:10249". (Set to "0.0.0.0:10249" / "[::]:10249" to bind on all interfaces.) Set empty to disable.${IGNORED}`,
    scope: 'config',
    field: 'metricsBindAddress',
  },
  {
    name: 'metrics-port',
    type: 'int32',
    defaultText: '10249',
    deprecated:
      'This flag is deprecated and will be removed in a future release. Please use --metrics-bind-address instead.',
    usage: 'The port to bind the metrics server. Use 0 to disable.',
    // addressFromDeprecatedFlags in resolveOptions: the port goes into metricsBindAddress.
    scope: 'config',
  },
  {
    name: 'nodeport-addresses',
    type: 'stringSlice',
    typeName: 'strings',
    usage: `A list of CIDR ranges that contain valid node IPs, or alternatively, the single string 'primary'. If set to a list of CIDRs, connections to NodePort services will only be accepted on node IPs in one of the indicated ranges. If set to 'primary', NodePort services will only be accepted on the node's primary IP(s) according to the Node object. If unset, NodePort connections will be accepted on all local IPs.${IGNORED}`,
    scope: 'config',
    field: 'nodePortAddresses',
  },
  {
    name: 'oom-score-adj',
    type: 'int32',
    defaultText: '-999',
    usage: `The oom-score-adj value for kube-proxy process. Values must be within the range [-1000, 1000].${IGNORED}`,
    scope: 'config',
    field: 'linux.oomScoreAdj',
  },
  {
    name: 'pod-bridge-interface',
    type: 'string',
    usage:
      'A bridge interface name. When --detect-local-mode is set to BridgeInterface, kube-proxy will consider traffic to be local if it originates from this bridge.',
    scope: 'config',
    field: 'detectLocal.bridgeInterface',
  },
  {
    name: 'pod-interface-name-prefix',
    type: 'string',
    usage:
      'An interface name prefix. When --detect-local-mode is set to InterfaceNamePrefix, kube-proxy will consider traffic to be local if it originates from any interface whose name begins with this prefix.',
    scope: 'config',
    field: 'detectLocal.interfaceNamePrefix',
  },
  {
    name: 'profiling',
    type: 'bool',
    usage: `If true enables profiling via web interface on /debug/pprof handler.${IGNORED}`,
    scope: 'config',
    field: 'enableProfiling',
  },
  {
    name: 'proxy-mode',
    type: 'string',
    typeName: 'ProxyMode',
    usage: `Which proxy mode to use: on Linux this can be 'iptables' (default), 'ipvs', or 'nftables'. On Windows the only supported value is 'kernelspace'. (kube-proxy-ts implements all four; 'ipvs' needs a kernel with IP_VS, 'kernelspace' see --kernelspace-hns; empty means iptables, as upstream.)${IGNORED}`,
    scope: 'config',
    field: 'mode',
  },
  {
    name: 'root-hnsendpoint-name',
    type: 'string',
    defaultText: 'cbr0',
    usage: `The name of the hns endpoint name for root namespace attached to l2bridge${WIN}`,
    scope: 'config',
    field: 'winkernel.rootHnsEndpointName',
  },
  {
    name: 'show-hidden-metrics-for-version',
    type: 'string',
    usage: `The previous version for which you want to show hidden metrics. Only the previous minor version is meaningful, other values will not be allowed. The format is <major>.<minor>, e.g.: '1.16'.${IGNORED}`,
    scope: 'config',
    field: 'showHiddenMetricsForVersion',
  },
  {
    name: 'source-vip',
    type: 'string',
    usage: `The IP address of the source VIP for non-DSR.${WIN}`,
    scope: 'config',
    field: 'winkernel.sourceVip',
  },
  {
    name: 'v',
    shorthand: 'v',
    type: 'int32',
    typeName: 'Level',
    usage: 'number for the log level verbosity',
    scope: 'logging',
    field: 'logging.verbosity',
  },
  {
    name: 'version',
    type: 'version',
    usage:
      '--version, --version=raw prints version information and quits; --version=vX.Y.Z... sets the reported version',
  },
  {
    name: 'vmodule',
    type: 'string',
    typeName: 'pattern=N,...',
    usage:
      'comma-separated list of pattern=N settings for file-filtered logging (only works for text log format)',
    scope: 'logging',
    apply: (c, v) => {
      const items = v.split(',').filter((s) => s !== '');
      c.logging.vmodule = [
        ...items.map((s) => {
          const [filePattern = '', verbosity = '0'] = s.split('=');
          return { filePattern, verbosity: Number(verbosity) };
        }),
        ...c.logging.vmodule,
      ];
    },
  },
  {
    name: 'windows-service',
    type: 'bool',
    usage: `Enable Windows Service Control Manager API integration${WIN}`,
    scope: 'config',
    field: 'windowsRunAsService',
  },
  {
    name: 'write-config-to',
    type: 'string',
    usage: 'If set, write the default configuration values to this file and exit.',
  },
] as const satisfies readonly Flag[];

/** Every flag, in --help order. */
export const FLAGS: readonly Flag[] = TABLE;

export type FlagName = (typeof TABLE)[number]['name'];

/** The value type of the flag named N. */
export type ValueOf<N extends FlagName> = FlagValues[Extract<(typeof TABLE)[number], { name: N }>['type']];

/** The flags that were given, read by name with the type their table entry declares. */
export class GivenFlags {
  readonly #values: ReadonlyMap<string, FlagValue>;
  constructor(values: ReadonlyMap<string, FlagValue>) {
    this.#values = values;
  }
  has(name: FlagName): boolean {
    return this.#values.has(name);
  }
  /** The parser converts each flag's text to the value of its declared type, so the type holds. */
  get<N extends FlagName>(name: N): ValueOf<N> | undefined {
    return this.#values.get(name) as ValueOf<N> | undefined;
  }
  /** The names given, in the order they were first given. */
  names(): string[] {
    return [...this.#values.keys()];
  }
}

function setField(c: ProxyConfig, path: string, value: FlagValue): void {
  const keys = path.split('.');
  let obj = c as unknown as Record<string, unknown>;
  for (const k of keys.slice(0, -1)) obj = obj[k] as Record<string, unknown>;
  obj[keys.at(-1)!] = value;
}

/**
 * Writes the given flags of a scope onto a configuration: first every `field`, then every `apply`
 * (which may read fields, as the sync periods read the mode), each in table order.
 */
export function applyFlags(
  given: ReadonlyMap<string, FlagValue>,
  scope: 'config' | 'logging',
  c: ProxyConfig,
): void {
  const flags = FLAGS.filter((f) => f.scope === scope && given.has(f.name));
  for (const f of flags) if (f.field !== undefined) setField(c, f.field, given.get(f.name)!);
  for (const f of flags) {
    // The parser made the value of f's declared type, the type f.apply takes.
    if (f.apply !== undefined) (f.apply as (c: ProxyConfig, v: FlagValue) => void)(c, given.get(f.name)!);
  }
}
