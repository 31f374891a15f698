// The JSON documents exchanged with computenetwork.dll and vmcompute.dll, built and parsed without
// I/O so that they are unit-tested on any platform. Encoding follows Go's encoding/json with the
// `json:",omitempty"` tags of hcsshim's hcn structs (zero numbers, empty strings and empty lists
// are left out; SchemaVersion, a struct, is always written).
import { errorMessage, KubeProxyError } from '../../errors.ts';
import {
  type HostComputeEndpoint,
  type HostComputeLoadBalancer,
  type HostComputeNetwork,
  type IpConfig,
  type LoadBalancerPortMapping,
  type Policy,
  SCHEMA_V2,
  type SchemaVersion,
  type SupportedFeatures,
} from './schema.ts';

function invalid(what: string, reason: string): KubeProxyError {
  return new KubeProxyError('KP_ERR_HNS', `invalid HNS ${what}: ${reason}`);
}

/** Field order of each hcn struct, so that documents read as hcsshim's json.Marshal writes them. */
const FIELD_ORDER: Record<string, readonly string[]> = {
  loadBalancer: [
    'ID',
    'HostComputeEndpoints',
    'SourceVIP',
    'FrontendVIPs',
    'PortMappings',
    'SchemaVersion',
    'Flags',
  ],
  portMapping: ['Protocol', 'InternalPort', 'ExternalPort', 'DistributionType', 'Flags'],
  endpoint: [
    'ID',
    'Name',
    'HostComputeNetwork',
    'HostComputeNamespace',
    'Policies',
    'IpConfigurations',
    'Dns',
    'Routes',
    'MacAddress',
    'Flags',
    'SchemaVersion',
  ],
  ipConfig: ['IpAddress', 'PrefixLength'],
  policy: ['Type', 'Settings'],
  version: ['Major', 'Minor'],
};

/** The struct kind of the fields that hold structs or lists of structs. */
const NESTED: Record<string, string> = {
  PortMappings: 'portMapping',
  IpConfigurations: 'ipConfig',
  Policies: 'policy',
  SchemaVersion: 'version',
};

function isZero(v: unknown): boolean {
  return (
    v === undefined ||
    v === null ||
    v === '' ||
    v === 0 ||
    v === false ||
    (Array.isArray(v) && v.length === 0)
  );
}

function encodeStruct(value: Record<string, unknown>, kind: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const order = FIELD_ORDER[kind] ?? [];
  for (const k of [...order, ...Object.keys(value).filter((x) => !order.includes(x))]) {
    const v = value[k];
    // Go never leaves out a struct-typed field, omitempty or not.
    if (k === 'SchemaVersion' && (kind === 'endpoint' || kind === 'loadBalancer')) {
      out[k] = encodeStruct((v ?? { Major: 0, Minor: 0 }) as Record<string, unknown>, 'version');
      continue;
    }
    if (k === 'Dns' && kind === 'endpoint') {
      out[k] = v ?? {};
      continue;
    }
    if (!(k in value)) continue;
    // Version's fields and Policy.Type have no omitempty.
    if (kind === 'version' || (kind === 'policy' && k === 'Type')) {
      out[k] = v;
      continue;
    }
    if (isZero(v)) continue;
    const nested = NESTED[k];
    if (k === 'Settings' || nested === undefined) out[k] = v;
    else if (Array.isArray(v)) out[k] = v.map((x) => encodeStruct(x as Record<string, unknown>, nested));
    else out[k] = encodeStruct(v as Record<string, unknown>, nested);
  }
  return out;
}

/** The settings of HcnCreateLoadBalancer / HcnModifyLoadBalancer. */
export function encodeLoadBalancer(lb: HostComputeLoadBalancer): string {
  return JSON.stringify(encodeStruct(lb as Record<string, unknown>, 'loadBalancer'));
}

/** The settings of HcnCreateEndpoint. */
export function encodeEndpoint(ep: HostComputeEndpoint): string {
  return JSON.stringify(encodeStruct(ep as Record<string, unknown>, 'endpoint'));
}

/** hcsshim's HostComputeQuery: the default query, optionally filtered by one field ("ID", "Name", "VirtualNetwork"). */
export function encodeQuery(filter?: Record<string, string>): string {
  const q: { SchemaVersion: SchemaVersion; Filter?: string } = { SchemaVersion: SCHEMA_V2 };
  if (filter !== undefined) q.Filter = JSON.stringify(filter);
  return JSON.stringify(q);
}

const GUID_RE = /^\{?([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})\}?$/i;

export function isGuid(s: string): boolean {
  return GUID_RE.test(s);
}

/** A GUID in Windows' memory layout (Data1..Data3 little-endian), as REFGUID arguments take it. */
export function guidToBytes(s: string): Buffer {
  const m = GUID_RE.exec(s);
  if (!m) throw invalid('GUID', JSON.stringify(s));
  const b = Buffer.alloc(16);
  b.writeUInt32LE(Number.parseInt(m[1]!, 16), 0);
  b.writeUInt16LE(Number.parseInt(m[2]!, 16), 4);
  b.writeUInt16LE(Number.parseInt(m[3]!, 16), 6);
  Buffer.from(m[4]! + m[5]!, 'hex').copy(b, 8);
  return b;
}

export function guidFromBytes(b: Uint8Array): string {
  const buf = Buffer.from(b);
  if (buf.length !== 16) throw invalid('GUID', `${buf.length} bytes`);
  const h = (n: number, w: number) => n.toString(16).padStart(w, '0');
  const tail = buf.subarray(8).toString('hex');
  return `${h(buf.readUInt32LE(0), 8)}-${h(buf.readUInt16LE(4), 4)}-${h(buf.readUInt16LE(6), 4)}-${tail.slice(0, 4)}-${tail.slice(4)}`.toUpperCase();
}

function parseJSON(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw invalid(what, errorMessage(err));
  }
}

/** The result of HcnEnumerate*: a JSON list of GUIDs (null when there are none). */
export function parseGuidList(text: string): string[] {
  const v = parseJSON(text === '' ? 'null' : text, 'ID list');
  if (v === null) return [];
  if (!Array.isArray(v)) throw invalid('ID list', 'not a list');
  return v.map((id) => {
    if (typeof id !== 'string' || !isGuid(id)) throw invalid('ID list', `bad ID ${JSON.stringify(id)}`);
    return id;
  });
}

type Obj = Record<string, unknown>;

function obj(v: unknown, what: string): Obj {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalid(what, 'not an object');
  return v as Obj;
}

function str(o: Obj, k: string, what: string): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalid(what, `${k} is not a string`);
  return v;
}

function num(o: Obj, k: string, what: string, max: number): number | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max)
    throw invalid(what, `${k} is not an integer in [0, ${max}]`);
  return v;
}

function list<T>(o: Obj, k: string, what: string, each: (v: unknown) => T): T[] | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw invalid(what, `${k} is not a list`);
  return v.map(each);
}

function schemaVersion(o: Obj, what: string): SchemaVersion | undefined {
  if (o.SchemaVersion === undefined || o.SchemaVersion === null) return undefined;
  const s = obj(o.SchemaVersion, what);
  return { Major: num(s, 'Major', what, 0xffff) ?? 0, Minor: num(s, 'Minor', what, 0xffff) ?? 0 };
}

function policies(o: Obj, what: string): Policy[] | undefined {
  return list(o, 'Policies', what, (p) => {
    const po = obj(p, what);
    const type = str(po, 'Type', what);
    if (type === undefined) throw invalid(what, 'policy without Type');
    return po.Settings === undefined ? { Type: type } : { Type: type, Settings: po.Settings };
  });
}

function strings(o: Obj, k: string, what: string): string[] | undefined {
  return list(o, k, what, (v) => {
    if (typeof v !== 'string') throw invalid(what, `${k} holds a non-string`);
    return v;
  });
}

function defined<T extends Obj>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

export function parseNetwork(text: string): HostComputeNetwork {
  const what = 'network';
  const o = obj(parseJSON(text, what), what);
  const id = str(o, 'ID', what);
  if (id === undefined) throw invalid(what, 'no ID');
  return defined({
    ID: id,
    Name: str(o, 'Name', what),
    Type: str(o, 'Type', what),
    Policies: policies(o, what),
    SchemaVersion: schemaVersion(o, what),
  });
}

export function parseEndpoint(text: string): HostComputeEndpoint {
  const what = 'endpoint';
  const o = obj(parseJSON(text, what), what);
  return defined({
    ID: str(o, 'ID', what),
    Name: str(o, 'Name', what),
    HostComputeNetwork: str(o, 'HostComputeNetwork', what),
    Policies: policies(o, what),
    IpConfigurations: list(o, 'IpConfigurations', what, (c): IpConfig => {
      const co = obj(c, what);
      return defined({
        IpAddress: str(co, 'IpAddress', what),
        PrefixLength: num(co, 'PrefixLength', what, 128),
      });
    }),
    MacAddress: str(o, 'MacAddress', what),
    Flags: num(o, 'Flags', what, 0xffffffff),
    SchemaVersion: schemaVersion(o, what),
  });
}

export function parseLoadBalancer(text: string): HostComputeLoadBalancer {
  const what = 'load balancer';
  const o = obj(parseJSON(text, what), what);
  return defined({
    ID: str(o, 'ID', what),
    HostComputeEndpoints: strings(o, 'HostComputeEndpoints', what),
    SourceVIP: str(o, 'SourceVIP', what),
    FrontendVIPs: strings(o, 'FrontendVIPs', what),
    PortMappings: list(o, 'PortMappings', what, (m): LoadBalancerPortMapping => {
      const mo = obj(m, what);
      return defined({
        Protocol: num(mo, 'Protocol', what, 255),
        InternalPort: num(mo, 'InternalPort', what, 65535),
        ExternalPort: num(mo, 'ExternalPort', what, 65535),
        DistributionType: num(mo, 'DistributionType', what, 0xffffffff),
        Flags: num(mo, 'Flags', what, 0xffffffff),
      });
    }),
    SchemaVersion: schemaVersion(o, what),
    Flags: num(o, 'Flags', what, 0xffffffff),
  });
}

/** vmcompute.dll HNSCall's answer: {Success, Error, Output}. Returns Output, throws on failure. */
export function parseHnsCallResponse(text: string): unknown {
  const what = 'HNSCall response';
  const o = obj(parseJSON(text, what), what);
  if (o.Success !== true) {
    throw new KubeProxyError('KP_ERR_HNS', `HNS failed with error : ${String(o.Error ?? '')}`);
  }
  return o.Output;
}

interface VersionRange {
  readonly min: readonly [number, number];
  readonly max: readonly [number, number];
}

const INF = Number.MAX_SAFE_INTEGER;
const from = (major: number, minor: number): VersionRange => ({ min: [major, minor], max: [INF, INF] });
const within = (major: number, minor: number): VersionRange => ({ min: [major, minor], max: [major, INF] });

/** The HNS versions each feature needs (hcn/hcnglobals.go). */
const FEATURE_VERSIONS: Record<keyof SupportedFeatures, readonly VersionRange[]> = {
  apiV2: [from(9, 2)],
  remoteSubnet: [from(9, 2)],
  dsr: [within(9, 3), from(10, 2)],
  sessionAffinity: [from(12, 0)],
  ipv6DualStack: [from(11, 10)],
  modifyLoadBalancer: [within(15, 5), from(16, 0)],
};

function inRange(major: number, minor: number, r: VersionRange): boolean {
  if (major < r.min[0] || major > r.max[0]) return false;
  if (major === r.min[0] && minor < r.min[1]) return false;
  if (major === r.max[0] && minor > r.max[1]) return false;
  return true;
}

/** hcn.GetSupportedFeatures from the version `HNSCall GET /globals/version` returns. */
export function featuresFromVersion(output: unknown): SupportedFeatures {
  const o = obj(output, 'HNS version');
  const major = num(o, 'Major', 'HNS version', INF) ?? 0;
  const minor = num(o, 'Minor', 'HNS version', INF) ?? 0;
  const has = (k: keyof SupportedFeatures) => FEATURE_VERSIONS[k].some((r) => inRange(major, minor, r));
  return {
    apiV2: has('apiV2'),
    remoteSubnet: has('remoteSubnet'),
    dsr: has('dsr'),
    sessionAffinity: has('sessionAffinity'),
    ipv6DualStack: has('ipv6DualStack'),
    modifyLoadBalancer: has('modifyLoadBalancer'),
  };
}
