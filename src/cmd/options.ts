// Resolving flags and the config file into the options kube-proxy-ts runs with, with upstream's
// precedence (cmd/kube-proxy/app/options.go Complete): without --config every flag applies; with
// --config the file replaces all configuration flags, except that logging flags that were set and a
// non-empty --hostname-override still win. --cleanup, --init-only, --write-config-to and --master
// always apply.
import { readFileSync } from 'node:fs';
import { decodeConfig, strictDecodingError } from '../config/decode.ts';
import {
  appendPortIfNeeded,
  newDefaultConfig,
  platformApplyDefaults,
  setDefaults,
  toInternal,
} from '../config/defaults.ts';
import type { ProxyConfig } from '../config/types.ts';
import { type FieldError, validateConfig } from '../config/validate.ts';
import { errorMessage, KubeProxyError } from '../errors.ts';
import { type FlagValue, parseFlagsWithWarnings } from './flag-parser.ts';
import { CONFIG_FLAGS, FLAGS } from './flags.ts';

export { FLAGS };

export type DetectLocalMode = 'ClusterCIDR' | 'NodeCIDR' | 'BridgeInterface' | 'InterfaceNamePrefix';

export interface ProxyOptions {
  /** The resolved internal configuration (after platform defaults), as /configz shows it. */
  readonly config: ProxyConfig;
  readonly configFile: string | undefined;
  readonly writeConfigTo: string | undefined;
  readonly master: string;
  readonly initOnly: boolean;
  /** Log lines to emit once the logger exists: lenient decoding, ignored and deprecated flags. */
  readonly warnings: readonly string[];
  readonly notes: readonly string[];
  // Derived from config, for the proxier wiring.
  readonly mode: string;
  readonly hostnameOverride: string;
  readonly clusterCIDRs: readonly string[];
  readonly masqueradeAll: boolean;
  readonly masqueradeBit: number;
  /** iptables mode: NodePorts on 127.0.0.1 (upstream default true). */
  readonly localhostNodePorts: boolean;
  readonly minSyncPeriodMs: number;
  readonly syncPeriodMs: number;
  readonly detectLocalMode: DetectLocalMode;
  readonly bridgeInterface: string;
  readonly interfaceNamePrefix: string;
  readonly nodePortAddresses: readonly string[];
  readonly verbosity: number;
  readonly loggingFormat: 'text' | 'json';
  // kube-proxy-ts additions and one-shot actions.
  readonly manifests: string | undefined;
  readonly dryRun: boolean;
  /** How nftables transactions reach the kernel. */
  readonly nftablesWriter: 'netlink' | 'cli';
  /** kernelspace mode: the Host Networking Service of Windows, or the in-memory model. */
  readonly kernelspaceHns: 'windows' | 'model';
  /** /debug/explain/ on the metrics server, and whether non-loopback clients may use it. */
  readonly debugExplain: boolean;
  readonly debugExplainAllowRemote: boolean;
  readonly cleanup: boolean;
  readonly version: boolean | 'raw';
  readonly help: boolean;
}

export interface ResolveDeps {
  readonly readFile?: (path: string) => string;
}

type Flags = Map<string, FlagValue>;

function invalidConfig(message: string): KubeProxyError {
  return new KubeProxyError('KP_ERR_INVALID_CONFIG', message);
}

/** Applies logging flags that were set onto a logging configuration. */
function applyLoggingFlags(f: Flags, c: ProxyConfig): void {
  const l = c.logging;
  if (f.has('v')) l.verbosity = f.get('v') as number;
  if (f.has('logging-format')) l.format = f.get('logging-format') as string;
  if (f.has('log-flush-frequency')) l.flushFrequencyMs = f.get('log-flush-frequency') as number;
  if (f.has('log-text-split-stream')) l.options.text.splitStream = f.get('log-text-split-stream') as boolean;
  if (f.has('log-json-split-stream')) l.options.json.splitStream = f.get('log-json-split-stream') as boolean;
  if (f.has('log-text-info-buffer-size'))
    l.options.text.infoBufferSize = f.get('log-text-info-buffer-size') as string;
  if (f.has('log-json-info-buffer-size'))
    l.options.json.infoBufferSize = f.get('log-json-info-buffer-size') as string;
  if (f.has('vmodule')) {
    const items = (f.get('vmodule') as string).split(',').filter((s) => s !== '');
    l.vmodule = [
      ...items.map((s) => {
        const [filePattern = '', v = '0'] = s.split('=');
        return { filePattern, verbosity: Number(v) };
      }),
      ...l.vmodule,
    ];
  }
}

/** Flags bound to config fields, applied onto the default configuration (no --config). */
function applyConfigFlags(f: Flags, c: ProxyConfig): void {
  const set = <T extends FlagValue>(name: string, apply: (v: T) => void) => {
    if (f.has(name)) apply(f.get(name) as T);
  };
  set<Record<string, boolean>>('feature-gates', (v) => Object.assign(c.featureGates, v));
  set<string>('kubeconfig', (v) => (c.clientConnection.kubeconfig = v));
  set<string>('kube-api-content-type', (v) => (c.clientConnection.contentType = v));
  set<number>('kube-api-burst', (v) => (c.clientConnection.burst = v));
  set<number>('kube-api-qps', (v) => (c.clientConnection.qps = v));
  set<string>('bind-address', (v) => (c.bindAddress = v));
  set<string>('healthz-bind-address', (v) => (c.healthzBindAddress = v));
  set<string>('metrics-bind-address', (v) => (c.metricsBindAddress = v));
  set<boolean>('bind-address-hard-fail', (v) => (c.bindAddressHardFail = v));
  set<boolean>('profiling', (v) => (c.enableProfiling = v));
  set<string>('show-hidden-metrics-for-version', (v) => (c.showHiddenMetricsForVersion = v));
  set<string>('proxy-mode', (v) => (c.mode = v));
  set<number>('iptables-masquerade-bit', (v) => (c.iptables.masqueradeBit = v));
  set<boolean>('masquerade-all', (v) => (c.linux.masqueradeAll = v));
  set<boolean>('iptables-localhost-nodeports', (v) => (c.iptables.localhostNodePorts = v));
  set<string>('ipvs-scheduler', (v) => (c.ipvs.scheduler = v));
  set<string[]>('ipvs-exclude-cidrs', (v) => (c.ipvs.excludeCIDRs = v));
  set<boolean>('ipvs-strict-arp', (v) => (c.ipvs.strictARP = v));
  set<number>('ipvs-tcp-timeout', (v) => (c.ipvs.tcpTimeoutMs = v));
  set<number>('ipvs-tcpfin-timeout', (v) => (c.ipvs.tcpFinTimeoutMs = v));
  set<number>('ipvs-udp-timeout', (v) => (c.ipvs.udpTimeoutMs = v));
  set<string>('detect-local-mode', (v) => (c.detectLocalMode = v));
  set<string>('pod-bridge-interface', (v) => (c.detectLocal.bridgeInterface = v));
  set<string>('pod-interface-name-prefix', (v) => (c.detectLocal.interfaceNamePrefix = v));
  set<string[]>('nodeport-addresses', (v) => (c.nodePortAddresses = v));
  set<number>('oom-score-adj', (v) => (c.linux.oomScoreAdj = v));
  // Windows flags (upstream addOSFlags in init_windows.go); they parse on every platform here.
  set<boolean>('windows-service', (v) => (c.windowsRunAsService = v));
  set<string>('source-vip', (v) => (c.winkernel.sourceVip = v));
  set<string>('network-name', (v) => (c.winkernel.networkName = v));
  set<boolean>('enable-dsr', (v) => (c.winkernel.enableDSR = v));
  set<string>('root-hnsendpoint-name', (v) => (c.winkernel.rootHnsEndpointName = v));
  set<boolean>('forward-healthcheck-vip', (v) => (c.winkernel.forwardHealthCheckVip = v));
  const ct = c.linux.conntrack;
  set<number>('conntrack-max-per-core', (v) => (ct.maxPerCore = v));
  set<number>('conntrack-min', (v) => (ct.min = v));
  set<number>('conntrack-tcp-timeout-established', (v) => (ct.tcpEstablishedTimeoutMs = v));
  set<number>('conntrack-tcp-timeout-close-wait', (v) => (ct.tcpCloseWaitTimeoutMs = v));
  set<boolean>('conntrack-tcp-be-liberal', (v) => (ct.tcpBeLiberal = v));
  set<number>('conntrack-udp-timeout', (v) => (ct.udpTimeoutMs = v));
  set<number>('conntrack-udp-timeout-stream', (v) => (ct.udpStreamTimeoutMs = v));
  set<number>('config-sync-period', (v) => (c.configSyncPeriodMs = v));
  // processV1Alpha1Flags: the iptables periods apply to every mode but ipvs, the ipvs ones to ipvs.
  const ipvs = c.mode === 'ipvs';
  set<number>(ipvs ? 'ipvs-sync-period' : 'iptables-sync-period', (v) => (c.syncPeriodMs = v));
  set<number>(ipvs ? 'ipvs-min-sync-period' : 'iptables-min-sync-period', (v) => (c.minSyncPeriodMs = v));
  // kube-proxy-ts accepts spaces around the commas and ignores empty entries (upstream splits only).
  set<string>('cluster-cidr', (v) => {
    c.detectLocal.clusterCIDRs = v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  });
}

function withLines(
  errors: readonly FieldError[],
  file: string | undefined,
  lines: ReadonlyMap<string, number>,
) {
  return errors.map((e) => {
    if (file === undefined) return e.message;
    // The nearest enclosing field that was written in the file gives the line.
    let path = e.path;
    while (path !== '' && !lines.has(path)) path = path.replace(/(\[\d+\]|\.?[^.[]+)$/, '');
    const line = lines.get(path);
    return line !== undefined ? `${file}:${line}: ${e.message}` : `${file}: ${e.message}`;
  });
}

function loadConfigFile(file: string, deps: ResolveDeps, warnings: string[]) {
  let text: string;
  try {
    text = (deps.readFile ?? ((p) => readFileSync(p, 'utf8')))(file);
  } catch (err) {
    throw invalidConfig(`failed complete: open ${file}: ${errorMessage(err)}`);
  }
  const decoded = decodeConfig(text, file);
  if (decoded.strictIssues.length > 0)
    warnings.push(
      `Using lenient decoding as strict decoding failed: ${strictDecodingError(decoded.strictIssues, file)}`,
    );
  return { config: toInternal(setDefaults(decoded.config)), lines: decoded.lines };
}

export function resolveOptions(argv: readonly string[], deps: ResolveDeps = {}): ProxyOptions {
  const { values: f, deprecations } = parseFlagsWithWarnings(FLAGS, argv);
  const warnings: string[] = [...deprecations];
  const configFile = f.has('config') && f.get('config') !== '' ? (f.get('config') as string) : undefined;
  const writeConfigTo =
    f.has('write-config-to') && f.get('write-config-to') !== ''
      ? (f.get('write-config-to') as string)
      : undefined;
  let config: ProxyConfig;
  let lines: ReadonlyMap<string, number> = new Map();
  if (configFile !== undefined) {
    ({ config, lines } = loadConfigFile(configFile, deps, warnings));
    applyLoggingFlags(f, config);
    const ignored = [...f.keys()].filter((k) => CONFIG_FLAGS.has(k));
    if (ignored.length > 0)
      warnings.push(`Flags ignored because --config is set: ${ignored.map((k) => `--${k}`).join(', ')}`);
  } else {
    config = newDefaultConfig();
    applyConfigFlags(f, config);
    applyLoggingFlags(f, config);
    if (writeConfigTo === undefined) {
      // addressFromDeprecatedFlags: port 0 disables the server, otherwise the port is appended.
      const port = (name: string, addr: string, def: number) => {
        const p = f.has(name) ? (f.get(name) as number) : def;
        return p === 0 ? '' : appendPortIfNeeded(addr, p);
      };
      config.healthzBindAddress = port('healthz-port', config.healthzBindAddress, 10256);
      config.metricsBindAddress = port('metrics-port', config.metricsBindAddress, 10249);
    }
  }
  const notes = platformApplyDefaults(config);
  if (f.has('hostname-override') && f.get('hostname-override') !== '') {
    const h = (f.get('hostname-override') as string).trim();
    if (h === '')
      throw new KubeProxyError('KP_ERR_INVALID_FLAG', 'failed complete: empty hostname-override is invalid');
    config.hostnameOverride = h.toLowerCase();
  }
  const errors = validateConfig(config);
  if (errors.length > 0) {
    const msgs = withLines(errors, configFile, lines);
    throw invalidConfig(msgs.length === 1 ? msgs[0]! : `[${msgs.join(', ')}]`);
  }
  const bool = (name: string) => (f.get(name) as boolean | undefined) ?? false;
  return {
    config,
    configFile,
    writeConfigTo,
    master: (f.get('master') as string | undefined) ?? '',
    initOnly: bool('init-only'),
    warnings,
    notes,
    mode: config.mode,
    hostnameOverride: config.hostnameOverride.trim().toLowerCase(),
    clusterCIDRs: config.detectLocal.clusterCIDRs,
    masqueradeAll: config.linux.masqueradeAll,
    masqueradeBit:
      (config.mode === 'nftables' ? config.nftables.masqueradeBit : config.iptables.masqueradeBit) ?? 14,
    localhostNodePorts: config.iptables.localhostNodePorts ?? true,
    minSyncPeriodMs: config.minSyncPeriodMs,
    syncPeriodMs: config.syncPeriodMs,
    detectLocalMode: config.detectLocalMode as DetectLocalMode,
    bridgeInterface: config.detectLocal.bridgeInterface,
    interfaceNamePrefix: config.detectLocal.interfaceNamePrefix,
    nodePortAddresses: config.nodePortAddresses,
    verbosity: config.logging.verbosity,
    loggingFormat: config.logging.format as 'text' | 'json',
    manifests: f.has('manifests') ? (f.get('manifests') as string) : undefined,
    dryRun: bool('dry-run'),
    nftablesWriter: nftablesWriter(
      f.has('nftables-writer') ? (f.get('nftables-writer') as string) : 'netlink',
    ),
    kernelspaceHns: kernelspaceHns(
      f.has('kernelspace-hns') ? (f.get('kernelspace-hns') as string) : 'windows',
    ),
    debugExplain: bool('debug-explain'),
    debugExplainAllowRemote: bool('debug-explain-allow-remote'),
    cleanup: bool('cleanup'),
    version: (f.get('version') as boolean | 'raw' | undefined) ?? false,
    help: bool('help'),
  };
}

/** What kube-proxy-ts cannot run yet, for a configuration upstream accepts. */
export function requireImplemented(o: ProxyOptions): void {
  if (o.mode === 'kernelspace') {
    if (o.config.windowsRunAsService)
      throw new KubeProxyError(
        'KP_ERR_NOT_IMPLEMENTED',
        '--windows-service (windowsRunAsService) is not implemented in kube-proxy-ts: run it as a HostProcess container (deploy/windows/)',
      );
    if (o.kernelspaceHns === 'windows' && process.platform !== 'win32')
      throw new KubeProxyError(
        'KP_ERR_NOT_IMPLEMENTED',
        `kernelspace mode programs the Windows Host Networking Service, which ${process.platform} does not have; use --kernelspace-hns=model to run it against the in-memory HNS model`,
      );
  } else if (o.mode !== 'nftables' && o.mode !== 'iptables' && o.mode !== 'ipvs') {
    throw new KubeProxyError(
      'KP_ERR_NOT_IMPLEMENTED',
      `proxy mode "${o.mode}" is not implemented yet in kube-proxy-ts; use --proxy-mode=iptables, nftables or ipvs`,
    );
  }
  // The pod CIDRs come from this node's Node object, which only the Kubernetes API source waits for.
  if (o.detectLocalMode === 'NodeCIDR' && o.manifests !== undefined) {
    throw new KubeProxyError(
      'KP_ERR_NOT_IMPLEMENTED',
      '--detect-local-mode=NodeCIDR needs the Kubernetes API source (no --manifests)',
    );
  }
}

function kernelspaceHns(value: string): 'windows' | 'model' {
  if (value === 'windows' || value === 'model') return value;
  throw new KubeProxyError(
    'KP_ERR_INVALID_FLAG',
    `invalid argument ${JSON.stringify(value)} for "--kernelspace-hns" flag: must be "windows" or "model"`,
  );
}

function nftablesWriter(value: string): 'netlink' | 'cli' {
  if (value === 'netlink' || value === 'cli') return value;
  throw new KubeProxyError(
    'KP_ERR_INVALID_FLAG',
    `invalid argument ${JSON.stringify(value)} for "--nftables-writer" flag: must be "netlink" or "cli"`,
  );
}
