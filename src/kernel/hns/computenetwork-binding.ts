// koffi bindings of computenetwork.dll (HCN v2), vmcompute.dll (HNSCall) and ole32.dll
// (CoTaskMemFree). Imported only by openWindowsHcn() on Windows: koffi itself is loaded by the
// dynamic import below, so that no other platform loads a native library for this mode.
// Every result and error record string HCN returns is allocated with CoTaskMemAlloc; it is read,
// then freed, before the call returns.
import { guidToBytes } from './documents.ts';
import { HcnError } from './errors.ts';
import type { ComputeNetworkApi, HcnHandle, HcnObjectType } from './ffi-client.ts';

type NativeFn = ((...args: unknown[]) => unknown) & {
  async: (...argsThenCallback: unknown[]) => void;
};

// Out-parameters are `void **`: strings come back as CoTaskMem pointers that are read and freed
// here, handles as opaque pointers. HRESULT is a LONG, 32 bits on Windows; REFGUID a 16-byte GUID.
const OUT = '_Out_ void **';

/** The C prototypes of computenetwork.dll (and vmcompute.dll's HNSCall), in koffi's syntax. */
export const DECLARATIONS = {
  HcnEnumerateNetworks: `int32 __stdcall HcnEnumerateNetworks(const char16_t *query, ${OUT}networks, ${OUT}errorRecord)`,
  HcnEnumerateEndpoints: `int32 __stdcall HcnEnumerateEndpoints(const char16_t *query, ${OUT}endpoints, ${OUT}errorRecord)`,
  HcnEnumerateLoadBalancers: `int32 __stdcall HcnEnumerateLoadBalancers(const char16_t *query, ${OUT}loadBalancers, ${OUT}errorRecord)`,
  HcnOpenNetwork: `int32 __stdcall HcnOpenNetwork(const void *id, ${OUT}network, ${OUT}errorRecord)`,
  HcnOpenEndpoint: `int32 __stdcall HcnOpenEndpoint(const void *id, ${OUT}endpoint, ${OUT}errorRecord)`,
  HcnOpenLoadBalancer: `int32 __stdcall HcnOpenLoadBalancer(const void *id, ${OUT}loadBalancer, ${OUT}errorRecord)`,
  HcnQueryNetworkProperties: `int32 __stdcall HcnQueryNetworkProperties(void *network, const char16_t *query, ${OUT}properties, ${OUT}errorRecord)`,
  HcnQueryEndpointProperties: `int32 __stdcall HcnQueryEndpointProperties(void *endpoint, const char16_t *query, ${OUT}properties, ${OUT}errorRecord)`,
  HcnQueryLoadBalancerProperties: `int32 __stdcall HcnQueryLoadBalancerProperties(void *loadBalancer, const char16_t *query, ${OUT}properties, ${OUT}errorRecord)`,
  HcnCloseNetwork: 'int32 __stdcall HcnCloseNetwork(void *network)',
  HcnCloseEndpoint: 'int32 __stdcall HcnCloseEndpoint(void *endpoint)',
  HcnCloseLoadBalancer: 'int32 __stdcall HcnCloseLoadBalancer(void *loadBalancer)',
  HcnCreateEndpoint: `int32 __stdcall HcnCreateEndpoint(void *network, const void *id, const char16_t *settings, ${OUT}endpoint, ${OUT}errorRecord)`,
  HcnCreateLoadBalancer: `int32 __stdcall HcnCreateLoadBalancer(const void *id, const char16_t *settings, ${OUT}loadBalancer, ${OUT}errorRecord)`,
  HcnModifyLoadBalancer: `int32 __stdcall HcnModifyLoadBalancer(void *loadBalancer, const char16_t *settings, ${OUT}errorRecord)`,
  HcnDeleteEndpoint: `int32 __stdcall HcnDeleteEndpoint(const void *id, ${OUT}errorRecord)`,
  HcnDeleteLoadBalancer: `int32 __stdcall HcnDeleteLoadBalancer(const void *id, ${OUT}errorRecord)`,
  HNSCall: `int32 __stdcall HNSCall(const char16_t *method, const char16_t *path, const char16_t *request, ${OUT}response)`,
} as const;

export const CO_TASK_MEM_FREE = 'void __stdcall CoTaskMemFree(void *pv)';

export async function bindComputeNetwork(): Promise<ComputeNetworkApi> {
  const { default: koffi } = await import('koffi');
  const hcn = koffi.load('computenetwork.dll');
  const vmcompute = koffi.load('vmcompute.dll');
  const ole32 = koffi.load('ole32.dll');
  const coTaskMemFree = ole32.func(CO_TASK_MEM_FREE) as NativeFn;

  const fns = Object.fromEntries(
    Object.entries(DECLARATIONS).map(([name, decl]) => [
      name,
      (name === 'HNSCall' ? vmcompute : hcn).func(decl) as NativeFn,
    ]),
  ) as Record<keyof typeof DECLARATIONS, NativeFn>;
  const enumerate: Record<HcnObjectType, NativeFn> = {
    Network: fns.HcnEnumerateNetworks,
    Endpoint: fns.HcnEnumerateEndpoints,
    LoadBalancer: fns.HcnEnumerateLoadBalancers,
  };
  const open: Record<HcnObjectType, NativeFn> = {
    Network: fns.HcnOpenNetwork,
    Endpoint: fns.HcnOpenEndpoint,
    LoadBalancer: fns.HcnOpenLoadBalancer,
  };
  const query: Record<HcnObjectType, NativeFn> = {
    Network: fns.HcnQueryNetworkProperties,
    Endpoint: fns.HcnQueryEndpointProperties,
    LoadBalancer: fns.HcnQueryLoadBalancerProperties,
  };
  const close: Record<HcnObjectType, NativeFn> = {
    Network: fns.HcnCloseNetwork,
    Endpoint: fns.HcnCloseEndpoint,
    LoadBalancer: fns.HcnCloseLoadBalancer,
  };
  const createEndpoint = fns.HcnCreateEndpoint;
  const createLoadBalancer = fns.HcnCreateLoadBalancer;
  const modifyLoadBalancer = fns.HcnModifyLoadBalancer;
  const del: Record<'Endpoint' | 'LoadBalancer', NativeFn> = {
    Endpoint: fns.HcnDeleteEndpoint,
    LoadBalancer: fns.HcnDeleteLoadBalancer,
  };
  const hnsCall = fns.HNSCall;

  /** Reads a CoTaskMem wide string and frees it; "" for NULL. */
  const take = (ptr: unknown): string => {
    if (ptr === null || ptr === undefined) return '';
    try {
      return koffi.decode(ptr, 'char16_t', -1) as string;
    } finally {
      coTaskMemFree(ptr);
    }
  };
  /** hcsshim's checkForErrors: a failed HRESULT or a non-empty error record is an error. */
  const check = (name: string, hr: unknown, errorRecord: unknown[]): void => {
    const record = take(errorRecord[0]);
    const code = Number(hr);
    if (code < 0 || record !== '') throw new HcnError(name, code, record);
  };
  const zeroGuid = Buffer.alloc(16);
  // HNS calls take milliseconds to seconds: they run on koffi's worker threads, so that the health
  // server and the watches keep being served meanwhile.
  const call = (fn: NativeFn, ...args: unknown[]) =>
    new Promise<unknown>((resolve, reject) => {
      fn.async(...args, (err: unknown, result: unknown) => (err ? reject(err) : resolve(result)));
    });

  return {
    async enumerate(type, q) {
      const out: unknown[] = [null];
      const err: unknown[] = [null];
      const hr = await call(enumerate[type], q, out, err);
      try {
        check(`HcnEnumerate${type}s`, hr, err);
      } catch (e) {
        take(out[0]);
        throw e;
      }
      return take(out[0]);
    },
    async open(type, id) {
      const out: unknown[] = [null];
      const err: unknown[] = [null];
      check(`HcnOpen${type}`, await call(open[type], guidToBytes(id), out, err), err);
      return out[0];
    },
    async queryProperties(type, handle: HcnHandle, q) {
      const out: unknown[] = [null];
      const err: unknown[] = [null];
      const hr = await call(query[type], handle, q, out, err);
      try {
        check(`HcnQuery${type}Properties`, hr, err);
      } catch (e) {
        take(out[0]);
        throw e;
      }
      return take(out[0]);
    },
    async close(type, handle) {
      const hr = Number(await call(close[type], handle));
      if (hr < 0) throw new HcnError(`HcnClose${type}`, hr);
    },
    async createEndpoint(network, settings) {
      const out: unknown[] = [null];
      const err: unknown[] = [null];
      check('HcnCreateEndpoint', await call(createEndpoint, network, zeroGuid, settings, out, err), err);
      return out[0];
    },
    async createLoadBalancer(settings) {
      const out: unknown[] = [null];
      const err: unknown[] = [null];
      check('HcnCreateLoadBalancer', await call(createLoadBalancer, zeroGuid, settings, out, err), err);
      return out[0];
    },
    async modifyLoadBalancer(handle, settings) {
      const err: unknown[] = [null];
      check('HcnModifyLoadBalancer', await call(modifyLoadBalancer, handle, settings, err), err);
    },
    async delete(type, id) {
      const err: unknown[] = [null];
      check(`HcnDelete${type}`, await call(del[type], guidToBytes(id), err), err);
    },
    async hnsCall(method, path, request) {
      const out: unknown[] = [null];
      const hr = Number(await call(hnsCall, method, path, request, out));
      const response = take(out[0]);
      if (hr < 0) throw new HcnError('HNSCall', hr, response);
      return response;
    },
    unload() {
      hcn.unload();
      vmcompute.unload();
      ole32.unload();
    },
  };
}
