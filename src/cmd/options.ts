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
import { parseFlagsWithWarnings } from './flag-parser.ts';
import { applyFlags, FLAGS, GivenFlags } from './flags.ts';

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
  // What the configuration implies rather than states (everything else is read from `config`).
  readonly hostnameOverride: string;
  /** The mark bit of the mode: nftables.masqueradeBit in nftables mode, else iptables.masqueradeBit. */
  readonly masqueradeBit: number;
  /** iptables mode: NodePorts on 127.0.0.1 (upstream default true). */
  readonly localhostNodePorts: boolean;
  readonly detectLocalMode: DetectLocalMode;
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

function invalidConfig(message: string): KubeProxyError {
  return new KubeProxyError('KP_ERR_INVALID_CONFIG', message);
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
  const { values, deprecations } = parseFlagsWithWarnings(FLAGS, argv);
  const f = new GivenFlags(values);
  const warnings: string[] = [...deprecations];
  const nonEmpty = (v: string | undefined) => (v !== undefined && v !== '' ? v : undefined);
  const configFile = nonEmpty(f.get('config'));
  const writeConfigTo = nonEmpty(f.get('write-config-to'));
  let config: ProxyConfig;
  let lines: ReadonlyMap<string, number> = new Map();
  if (configFile !== undefined) {
    ({ config, lines } = loadConfigFile(configFile, deps, warnings));
    applyFlags(values, 'logging', config);
    const configFlags = new Set(FLAGS.filter((flag) => flag.scope === 'config').map((flag) => flag.name));
    const ignored = f.names().filter((k) => configFlags.has(k));
    if (ignored.length > 0)
      warnings.push(`Flags ignored because --config is set: ${ignored.map((k) => `--${k}`).join(', ')}`);
  } else {
    config = newDefaultConfig();
    applyFlags(values, 'config', config);
    applyFlags(values, 'logging', config);
    if (writeConfigTo === undefined) {
      // addressFromDeprecatedFlags: port 0 disables the server, otherwise the port is appended.
      const port = (p: number | undefined, addr: string, def: number) => {
        const n = p ?? def;
        return n === 0 ? '' : appendPortIfNeeded(addr, n);
      };
      config.healthzBindAddress = port(f.get('healthz-port'), config.healthzBindAddress, 10256);
      config.metricsBindAddress = port(f.get('metrics-port'), config.metricsBindAddress, 10249);
    }
  }
  const notes = platformApplyDefaults(config);
  const hostnameOverride = nonEmpty(f.get('hostname-override'));
  if (hostnameOverride !== undefined) {
    const h = hostnameOverride.trim();
    if (h === '')
      throw new KubeProxyError('KP_ERR_INVALID_FLAG', 'failed complete: empty hostname-override is invalid');
    config.hostnameOverride = h.toLowerCase();
  }
  const errors = validateConfig(config);
  if (errors.length > 0) {
    const msgs = withLines(errors, configFile, lines);
    throw invalidConfig(msgs.length === 1 ? msgs[0]! : `[${msgs.join(', ')}]`);
  }
  return {
    config,
    configFile,
    writeConfigTo,
    master: f.get('master') ?? '',
    initOnly: f.get('init-only') ?? false,
    warnings,
    notes,
    hostnameOverride: config.hostnameOverride.trim().toLowerCase(),
    masqueradeBit:
      (config.mode === 'nftables' ? config.nftables.masqueradeBit : config.iptables.masqueradeBit) ?? 14,
    localhostNodePorts: config.iptables.localhostNodePorts ?? true,
    detectLocalMode: config.detectLocalMode as DetectLocalMode,
    loggingFormat: config.logging.format as 'text' | 'json',
    manifests: f.get('manifests'),
    dryRun: f.get('dry-run') ?? false,
    nftablesWriter: nftablesWriter(f.get('nftables-writer') ?? 'netlink'),
    kernelspaceHns: kernelspaceHns(f.get('kernelspace-hns') ?? 'windows'),
    debugExplain: f.get('debug-explain') ?? false,
    debugExplainAllowRemote: f.get('debug-explain-allow-remote') ?? false,
    cleanup: f.get('cleanup') ?? false,
    version: f.get('version') ?? false,
    help: f.get('help') ?? false,
  };
}

/** What kube-proxy-ts cannot run yet, for a configuration upstream accepts. */
export function requireImplemented(o: ProxyOptions): void {
  if (o.config.mode === 'kernelspace') {
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
  } else if (o.config.mode !== 'nftables' && o.config.mode !== 'iptables' && o.config.mode !== 'ipvs') {
    throw new KubeProxyError(
      'KP_ERR_NOT_IMPLEMENTED',
      `proxy mode "${o.config.mode}" is not implemented yet in kube-proxy-ts; use --proxy-mode=iptables, nftables or ipvs`,
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
