// The v1alpha1 field tree: every field of KubeProxyConfiguration with its Go type, which drives
// strict decoding (unknown fields), type checks and the Go-style error texts.

export type FieldType =
  | { readonly t: 'string' | 'bool' | 'int32' | 'uint32' | 'float32' | 'duration' | 'quantity' }
  /** component-base TimeOrMetaDuration: a Go duration string or integer nanoseconds. */
  | { readonly t: 'timeOrDuration' }
  | { readonly t: 'list'; readonly of: FieldType }
  | { readonly t: 'map'; readonly of: FieldType }
  | { readonly t: 'struct'; readonly name: string; readonly fields: Readonly<Record<string, FieldType>> };

const S = { t: 'string' } as const;
const B = { t: 'bool' } as const;
const I32 = { t: 'int32' } as const;
const U32 = { t: 'uint32' } as const;
const F32 = { t: 'float32' } as const;
const D = { t: 'duration' } as const;
const Q = { t: 'quantity' } as const;
const list = (of: FieldType): FieldType => ({ t: 'list', of });
const map = (of: FieldType): FieldType => ({ t: 'map', of });
const struct = (name: string, fields: Record<string, FieldType>): FieldType => ({
  t: 'struct',
  name,
  fields,
});

const outputRouting = (name: string) => struct(name, { splitStream: B, infoBufferSize: Q });

export const CONFIG_SCHEMA = struct('KubeProxyConfiguration', {
  apiVersion: S,
  kind: S,
  featureGates: map(B),
  clientConnection: struct('ClientConnectionConfiguration', {
    kubeconfig: S,
    acceptContentTypes: S,
    contentType: S,
    qps: F32,
    burst: I32,
  }),
  logging: struct('LoggingConfiguration', {
    format: S,
    flushFrequency: { t: 'timeOrDuration' },
    verbosity: U32,
    vmodule: list(struct('VModuleItem', { filePattern: S, verbosity: U32 })),
    options: struct('FormatOptions', {
      text: outputRouting('TextOptions'),
      json: outputRouting('JSONOptions'),
    }),
  }),
  hostnameOverride: S,
  bindAddress: S,
  healthzBindAddress: S,
  metricsBindAddress: S,
  bindAddressHardFail: B,
  enableProfiling: B,
  showHiddenMetricsForVersion: S,
  mode: S,
  iptables: struct('KubeProxyIPTablesConfiguration', {
    masqueradeBit: I32,
    masqueradeAll: B,
    localhostNodePorts: B,
    syncPeriod: D,
    minSyncPeriod: D,
  }),
  ipvs: struct('KubeProxyIPVSConfiguration', {
    syncPeriod: D,
    minSyncPeriod: D,
    scheduler: S,
    excludeCIDRs: list(S),
    strictARP: B,
    tcpTimeout: D,
    tcpFinTimeout: D,
    udpTimeout: D,
  }),
  nftables: struct('KubeProxyNFTablesConfiguration', {
    masqueradeBit: I32,
    masqueradeAll: B,
    syncPeriod: D,
    minSyncPeriod: D,
  }),
  winkernel: struct('KubeProxyWinkernelConfiguration', {
    networkName: S,
    sourceVip: S,
    enableDSR: B,
    rootHnsEndpointName: S,
    forwardHealthCheckVip: B,
  }),
  detectLocalMode: S,
  detectLocal: struct('DetectLocalConfiguration', { bridgeInterface: S, interfaceNamePrefix: S }),
  clusterCIDR: S,
  nodePortAddresses: list(S),
  oomScoreAdj: I32,
  conntrack: struct('KubeProxyConntrackConfiguration', {
    maxPerCore: I32,
    min: I32,
    tcpEstablishedTimeout: D,
    tcpCloseWaitTimeout: D,
    tcpBeLiberal: B,
    udpTimeout: D,
    udpStreamTimeout: D,
  }),
  configSyncPeriod: D,
  portRange: S,
  windowsRunAsService: B,
});

/** The Go type name used in "cannot unmarshal X into Go struct field … of type T" messages. */
export function goTypeName(f: FieldType): string {
  switch (f.t) {
    case 'list':
      return `[]${goTypeName(f.of)}`;
    case 'map':
      return `map[string]${goTypeName(f.of)}`;
    case 'struct':
      return f.name;
    case 'duration':
    case 'timeOrDuration':
    case 'quantity':
      return 'string';
    default:
      return f.t;
  }
}
