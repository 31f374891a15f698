// A ProxyHandlers that keeps what it was told as the proxy's view of the cluster, and notes every
// event that does not fit that view (an add of a known object, an update or delete of an unknown
// one): a source that relists wrongly shows up here.
import { setTimeout as sleep } from 'node:timers/promises';
import type { EndpointSlice, KubeObject, Node, Service } from '../../src/model/k8s.ts';
import type { ProxyHandlers } from '../../src/sources/handlers.ts';
import type { ManualClock } from '../support/manual-clock.ts';

export function keyOf(o: KubeObject): string {
  const md = o.metadata ?? {};
  return md.namespace ? `${md.namespace}/${md.name}` : `${md.name}`;
}

export class Recorder implements ProxyHandlers {
  readonly services = new Map<string, Service>();
  readonly slices = new Map<string, EndpointSlice>();
  node: Node | undefined;
  cidrs: string[] | undefined;
  readonly events: string[] = [];
  readonly violations: string[] = [];
  servicesSynced = 0;
  slicesSynced = 0;
  nodeSynced = 0;
  cidrChanges = 0;
  /** Every update's (old, new) pair had different resourceVersions. */
  noopUpdates = 0;

  #add<T extends KubeObject>(map: Map<string, T>, kind: string, o: T): void {
    const k = keyOf(o);
    if (map.has(k)) this.violations.push(`add of known ${kind} ${k}`);
    map.set(k, o);
    this.events.push(`add ${kind} ${k}`);
  }

  #update<T extends KubeObject>(map: Map<string, T>, kind: string, old: T, o: T): void {
    const k = keyOf(o);
    const known = map.get(k);
    if (!known) this.violations.push(`update of unknown ${kind} ${k}`);
    else if (known.metadata?.resourceVersion !== old.metadata?.resourceVersion) {
      this.violations.push(`update of ${kind} ${k}: old is not what was delivered`);
    }
    if (old.metadata?.resourceVersion === o.metadata?.resourceVersion) this.noopUpdates++;
    map.set(k, o);
    this.events.push(`update ${kind} ${k}`);
  }

  #delete<T extends KubeObject>(map: Map<string, T>, kind: string, o: T): void {
    const k = keyOf(o);
    if (!map.delete(k)) this.violations.push(`delete of unknown ${kind} ${k}`);
    this.events.push(`delete ${kind} ${k}`);
  }

  onServiceAdd(s: Service): void {
    this.#add(this.services, 'Service', s);
  }
  onServiceUpdate(o: Service, s: Service): void {
    this.#update(this.services, 'Service', o, s);
  }
  onServiceDelete(s: Service): void {
    this.#delete(this.services, 'Service', s);
  }
  onServicesSynced(): void {
    this.servicesSynced++;
    this.events.push('servicesSynced');
  }
  onEndpointSliceAdd(e: EndpointSlice): void {
    this.#add(this.slices, 'EndpointSlice', e);
  }
  onEndpointSliceUpdate(o: EndpointSlice, e: EndpointSlice): void {
    this.#update(this.slices, 'EndpointSlice', o, e);
  }
  onEndpointSliceDelete(e: EndpointSlice): void {
    this.#delete(this.slices, 'EndpointSlice', e);
  }
  onEndpointSlicesSynced(): void {
    this.slicesSynced++;
    this.events.push('endpointSlicesSynced');
  }
  onNodeAdd(n: Node): void {
    if (this.node) this.violations.push(`add of known Node ${keyOf(n)}`);
    this.node = n;
    this.events.push(`add Node ${keyOf(n)}`);
  }
  onNodeUpdate(_o: Node, n: Node): void {
    if (!this.node) this.violations.push(`update of unknown Node ${keyOf(n)}`);
    this.node = n;
    this.events.push(`update Node ${keyOf(n)}`);
  }
  onNodeDelete(n: Node): void {
    if (!this.node) this.violations.push(`delete of unknown Node ${keyOf(n)}`);
    this.node = undefined;
    this.events.push(`delete Node ${keyOf(n)}`);
  }
  onNodeSynced(): void {
    this.nodeSynced++;
    this.events.push('nodeSynced');
  }
  onServiceCIDRsChanged(cidrs: string[]): void {
    this.cidrs = cidrs;
    this.cidrChanges++;
    this.events.push(`cidrs ${cidrs.join(',')}`);
  }

  /** key -> resourceVersion, for comparison with a list from the API. */
  versions(kind: 'services' | 'slices'): Map<string, string> {
    const map = kind === 'services' ? this.services : this.slices;
    return new Map([...map].map(([k, o]) => [k, o.metadata?.resourceVersion ?? '']));
  }
}

export async function waitFor(
  cond: () => boolean,
  timeoutMs: number,
  what: string | (() => string),
  between: () => Promise<void> = () => sleep(20),
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`,
      );
    }
    await between();
  }
}

/**
 * waitFor, moving a manual clock on by stepMs at each look, so that work the clock holds back
 * (backoff, retries) goes on; the bound is real time.
 */
export function advanceUntil(
  clock: ManualClock,
  cond: () => boolean,
  timeoutMs: number,
  what: string | (() => string),
  stepMs = 250,
): Promise<void> {
  return waitFor(cond, timeoutMs, what, async () => {
    await clock.advance(stepMs);
    await sleep(20);
  });
}
