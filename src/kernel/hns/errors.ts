// Errors of the Host Networking Service, classified as hcsshim/hnslib classify them: by the
// HRESULT a computenetwork.dll call returned (HcnError), or by a search that found nothing
// (the shim's NetworkNotFoundError, EndpointNotFoundError, LoadBalancerNotFoundError).
import { errorMessage, KubeProxyError } from '../../errors.ts';

/** HRESULTs and Win32 codes (winerror.h) that change what kube-proxy does. */
export const HRESULT = {
  E_NOTIMPL: 0x80004001,
  E_FAIL: 0x80004005,
  ERROR_NOT_FOUND: 0x490,
  /** ERROR_ALREADY_EXISTS: returned by some HNS versions for a duplicate load balancer. */
  ERROR_ALREADY_EXISTS: 0xb7,
  /** RPC_S_UNKNOWN_IF: the HNS service is not running (yet). */
  RPC_S_UNKNOWN_IF: 0x6b5,
  HCN_E_NETWORK_NOT_FOUND: 0x803b0001,
  HCN_E_ENDPOINT_NOT_FOUND: 0x803b0002,
  HCN_E_PORT_ALREADY_EXISTS: 0x803b0013,
  HCN_E_INVALID_IP: 0x803b001e,
} as const;

/**
 * Go's syscall wrapper turns FACILITY_WIN32 HRESULTs (0x8007xxxx) into their Win32 code, and
 * hcsshim's Win32FromError does the same: do it here so codes compare as upstream's do.
 */
export function win32FromHResult(hr: number): number {
  const u = hr >>> 0;
  return (u & 0x1fff0000) === 0x00070000 ? u & 0xffff : u;
}

export function hex(code: number): string {
  return `0x${(code >>> 0).toString(16)}`;
}

/** A failed computenetwork.dll call. The message carries the code in hex, as hcsshim's does. */
export class HcnError extends KubeProxyError {
  readonly operation: string;
  /** The Win32 code or HRESULT, after win32FromHResult. */
  readonly hresult: number;
  readonly record: string;
  constructor(operation: string, hresult: number, record = '') {
    const code = win32FromHResult(hresult);
    super('KP_ERR_HNS', `${operation} failed: HNS error ${hex(code)}${record ? ` ${record}` : ''}`);
    this.name = 'HcnError';
    this.operation = operation;
    this.hresult = code;
    this.record = record;
  }
}

export type HnsObjectKind = 'network' | 'endpoint' | 'loadBalancer';

/** A lookup by ID or name that found nothing. */
export class HnsNotFoundError extends KubeProxyError {
  readonly kind: HnsObjectKind;
  readonly key: string;
  constructor(kind: HnsObjectKind, by: 'ID' | 'name', key: string) {
    const what = kind === 'loadBalancer' ? 'LoadBalancer' : kind === 'network' ? 'Network' : 'Endpoint';
    super('KP_ERR_NOT_FOUND', `${what} ${by} ${JSON.stringify(key)} not found`);
    this.name = 'HnsNotFoundError';
    this.kind = kind;
    this.key = key;
  }
}

function hcnCode(err: unknown): number | undefined {
  return err instanceof HcnError ? err.hresult : undefined;
}

/** hcn.IsNotFoundError: a shim lookup that found nothing, or ERROR_NOT_FOUND from HNS. */
export function isNotFound(err: unknown): boolean {
  return err instanceof HnsNotFoundError || hcnCode(err) === HRESULT.ERROR_NOT_FOUND;
}

export function isNetworkNotFound(err: unknown): boolean {
  return (
    (err instanceof HnsNotFoundError && err.kind === 'network') ||
    hcnCode(err) === HRESULT.HCN_E_NETWORK_NOT_FOUND
  );
}

export function isPortAlreadyExists(err: unknown): boolean {
  return hcnCode(err) === HRESULT.HCN_E_PORT_ALREADY_EXISTS;
}

export function isNotImplemented(err: unknown): boolean {
  return hcnCode(err) === HRESULT.E_NOTIMPL;
}

export function isInvalidIP(err: unknown): boolean {
  return hcnCode(err) === HRESULT.HCN_E_INVALID_IP;
}

/** Upstream matches "0x6b5" in the error text; the typed code says the same. */
export function isHnsNotRunning(err: unknown): boolean {
  return (
    hcnCode(err) === HRESULT.RPC_S_UNKNOWN_IF || errorMessage(err).includes(hex(HRESULT.RPC_S_UNKNOWN_IF))
  );
}

/** A load balancer with the same frontend exists already (either code HNS versions return). */
export function isPolicyAlreadyExists(err: unknown): boolean {
  if (err === undefined || err === null) return false;
  return (
    isPortAlreadyExists(err) ||
    hcnCode(err) === HRESULT.ERROR_ALREADY_EXISTS ||
    errorMessage(err).includes(hex(HRESULT.ERROR_ALREADY_EXISTS))
  );
}
