// kube-proxy's command-line flags (the subset implemented so far, with upstream names and
// defaults) and their resolution into the options the proxy runs with.
import { KubeProxyError } from '../errors.ts';
import { parseCIDR } from '../util/ip.ts';
import { type FlagSpec, type FlagValue, parseFlags } from './flag-parser.ts';

export const FLAGS: readonly FlagSpec[] = [
  {
    name: 'proxy-mode',
    type: 'string',
    usage:
      "Which proxy mode to use: on Linux this can be 'iptables', 'ipvs' or 'nftables' (only 'nftables' is implemented so far).",
  },
  {
    name: 'hostname-override',
    type: 'string',
    usage: 'If non-empty, will be used as the name of the Node that kube-proxy is running on.',
  },
  {
    name: 'cluster-cidr',
    type: 'string',
    usage:
      'The CIDR range of the pods in the cluster (comma-separated for dual-stack). Used with --detect-local-mode=ClusterCIDR to tell pod traffic from other traffic.',
  },
  {
    name: 'masquerade-all',
    type: 'bool',
    usage: 'SNAT all traffic sent via Service cluster IPs.',
    defaultText: 'false',
  },
  {
    name: 'iptables-masquerade-bit',
    type: 'int',
    usage:
      'The bit of the fwmark space to mark packets requiring SNAT with. Must be within the range [0, 31].',
    defaultText: '14',
  },
  {
    name: 'iptables-min-sync-period',
    type: 'duration',
    usage:
      "The minimum period between rule resyncs (e.g. '5s', '1m', '2h22m'). A value of 0 means every change is synced immediately.",
    defaultText: '1s',
  },
  {
    name: 'iptables-sync-period',
    type: 'duration',
    usage:
      "An interval (e.g. '5s', '1m', '2h22m') indicating how frequently various re-synchronizing and cleanup operations are performed. Must be greater than 0.",
    defaultText: '30s',
  },
  {
    name: 'detect-local-mode',
    type: 'string',
    usage:
      'Mode to use to detect local traffic: ClusterCIDR, NodeCIDR, BridgeInterface or InterfaceNamePrefix.',
    defaultText: 'ClusterCIDR',
  },
  {
    name: 'pod-bridge-interface',
    type: 'string',
    usage:
      'A bridge interface name. When --detect-local-mode is BridgeInterface, traffic arriving on it is local.',
  },
  {
    name: 'pod-interface-name-prefix',
    type: 'string',
    usage:
      'An interface name prefix. When --detect-local-mode is InterfaceNamePrefix, traffic arriving on matching interfaces is local.',
  },
  {
    name: 'nodeport-addresses',
    type: 'stringSlice',
    usage:
      "A list of CIDR ranges that contain valid node IPs, or alternatively, the single string 'primary'.",
    defaultText: 'primary (nftables)',
  },
  { name: 'v', shorthand: 'v', type: 'int', usage: 'number for the log level verbosity', defaultText: '0' },
  {
    name: 'logging-format',
    type: 'string',
    usage: 'Sets the log format. Permitted formats: "json", "text".',
    defaultText: 'text',
  },
  {
    name: 'manifests',
    type: 'string',
    usage:
      'kube-proxy-ts: read Services, EndpointSlices, Nodes and ServiceCIDRs from manifest files in this directory (and watch it) instead of the Kubernetes API.',
  },
  {
    name: 'dry-run',
    type: 'bool',
    usage: 'kube-proxy-ts: print the nft script the first sync would apply, then exit.',
  },
  { name: 'cleanup', type: 'bool', usage: 'If true cleanup iptables and ipvs rules and exit.' },
  { name: 'version', type: 'bool', usage: 'Print version information and quit.' },
  { name: 'help', shorthand: 'h', type: 'bool', usage: 'help for kube-proxy' },
];

export type DetectLocalMode = 'ClusterCIDR' | 'NodeCIDR' | 'BridgeInterface' | 'InterfaceNamePrefix';

export interface ProxyOptions {
  readonly mode: 'nftables';
  readonly hostnameOverride: string;
  readonly clusterCIDRs: readonly string[];
  readonly masqueradeAll: boolean;
  readonly masqueradeBit: number;
  readonly minSyncPeriodMs: number;
  readonly syncPeriodMs: number;
  readonly detectLocalMode: DetectLocalMode;
  readonly bridgeInterface: string;
  readonly interfaceNamePrefix: string;
  readonly nodePortAddresses: readonly string[];
  readonly verbosity: number;
  readonly loggingFormat: 'text' | 'json';
  readonly manifests: string | undefined;
  readonly dryRun: boolean;
  readonly cleanup: boolean;
  readonly version: boolean;
  readonly help: boolean;
}

function invalid(message: string): KubeProxyError {
  return new KubeProxyError('KP_ERR_INVALID_FLAG', message);
}

export function resolveOptions(argv: readonly string[]): ProxyOptions {
  const f = parseFlags(FLAGS, argv);
  const get = <T extends FlagValue>(name: string, def: T): T => (f.has(name) ? (f.get(name) as T) : def);
  const mode = get('proxy-mode', '');
  if (mode !== '' && mode !== 'nftables') {
    if (['iptables', 'ipvs', 'kernelspace'].includes(mode)) {
      throw new KubeProxyError(
        'KP_ERR_NOT_IMPLEMENTED',
        `proxy mode "${mode}" is not implemented yet in kube-proxy-ts; use --proxy-mode=nftables`,
      );
    }
    throw invalid(`invalid proxy mode "${mode}": must be one of iptables, ipvs, nftables`);
  }
  const clusterCIDRs = get('cluster-cidr', '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const c of clusterCIDRs)
    if (!parseCIDR(c)) throw invalid(`invalid --cluster-cidr "${c}": must be a CIDR`);
  const masqueradeBit = get('iptables-masquerade-bit', 14);
  if (masqueradeBit < 0 || masqueradeBit > 31)
    throw invalid(`--iptables-masquerade-bit ${masqueradeBit}: must be within the range [0, 31]`);
  const minSyncPeriodMs = get('iptables-min-sync-period', 1000);
  const syncPeriodMs = get('iptables-sync-period', 30_000);
  if (minSyncPeriodMs < 0) throw invalid('--iptables-min-sync-period must be greater than or equal to 0');
  if (syncPeriodMs <= 0) throw invalid('--iptables-sync-period must be greater than 0');
  const detectLocalMode: string = get<string>('detect-local-mode', 'ClusterCIDR') || 'ClusterCIDR';
  if (!['ClusterCIDR', 'NodeCIDR', 'BridgeInterface', 'InterfaceNamePrefix'].includes(detectLocalMode)) {
    throw invalid(`invalid --detect-local-mode "${detectLocalMode}"`);
  }
  const bridgeInterface = get('pod-bridge-interface', '');
  const interfaceNamePrefix = get('pod-interface-name-prefix', '');
  if (detectLocalMode === 'BridgeInterface' && bridgeInterface === '')
    throw invalid('--pod-bridge-interface is required with --detect-local-mode=BridgeInterface');
  if (detectLocalMode === 'InterfaceNamePrefix' && interfaceNamePrefix === '')
    throw invalid('--pod-interface-name-prefix is required with --detect-local-mode=InterfaceNamePrefix');
  if (detectLocalMode === 'NodeCIDR')
    throw new KubeProxyError('KP_ERR_NOT_IMPLEMENTED', '--detect-local-mode=NodeCIDR is not implemented yet');
  const nodePortAddresses = get<string[]>('nodeport-addresses', ['primary']);
  if (nodePortAddresses.includes('primary') && nodePortAddresses.length > 1) {
    throw invalid('--nodeport-addresses: "primary" must be the only entry');
  }
  for (const c of nodePortAddresses)
    if (c !== 'primary' && !parseCIDR(c)) throw invalid(`invalid --nodeport-addresses entry "${c}"`);
  const loggingFormat = get('logging-format', 'text');
  if (loggingFormat !== 'text' && loggingFormat !== 'json')
    throw invalid(`invalid --logging-format "${loggingFormat}"`);
  return {
    mode: 'nftables',
    hostnameOverride: get('hostname-override', '').trim().toLowerCase(),
    clusterCIDRs,
    masqueradeAll: get('masquerade-all', false),
    masqueradeBit,
    minSyncPeriodMs,
    syncPeriodMs,
    detectLocalMode: detectLocalMode as DetectLocalMode,
    bridgeInterface,
    interfaceNamePrefix,
    nodePortAddresses: nodePortAddresses.length ? nodePortAddresses : ['primary'],
    verbosity: get('v', 0),
    loggingFormat,
    manifests: f.has('manifests') ? (f.get('manifests') as string) : undefined,
    dryRun: get('dry-run', false),
    cleanup: get('cleanup', false),
    version: get('version', false),
    help: get('help', false),
  };
}
