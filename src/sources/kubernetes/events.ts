// The "Starting" event for this node that upstream kube-proxy records once it runs (birthCry):
// events.k8s.io/v1, reportingController kube-proxy, action StartKubeProxy, reason Starting. Falls
// back to a core v1 Event when events.k8s.io is not served.
import { errorMessage } from '../../errors.ts';
import type { Logger } from '../../log/logger.ts';
import { type Clock, realClock, sleep } from '../../util/clock.ts';
import { type ApiClient, ApiStatusError, isNotFound } from './api-client.ts';

export const REPORTING_CONTROLLER = 'kube-proxy';

/** metav1.MicroTime: RFC 3339 with microseconds. */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Events of cluster-scoped objects live in "default"; names are <object>.<unix nanos in hex>. */
export function eventName(nodeName: string, d: Date): string {
  return `${nodeName}.${(BigInt(d.getTime()) * 1_000_000n).toString(16)}`;
}

export function startingEvent(nodeName: string, hostname: string, now: Date): Record<string, unknown> {
  return {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: { name: eventName(nodeName, now), namespace: 'default' },
    eventTime: microTime(now),
    reportingController: REPORTING_CONTROLLER,
    reportingInstance: `${REPORTING_CONTROLLER}-${hostname}`,
    action: 'StartKubeProxy',
    reason: 'Starting',
    type: 'Normal',
    note: '',
    regarding: { apiVersion: 'v1', kind: 'Node', name: nodeName },
  };
}

export function startingCoreEvent(nodeName: string, hostname: string, now: Date): Record<string, unknown> {
  const ts = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: eventName(nodeName, now), namespace: 'default' },
    involvedObject: { apiVersion: 'v1', kind: 'Node', name: nodeName },
    reason: 'Starting',
    message: '',
    type: 'Normal',
    source: { component: REPORTING_CONTROLLER, host: nodeName },
    firstTimestamp: ts,
    lastTimestamp: ts,
    count: 1,
    eventTime: microTime(now),
    action: 'StartKubeProxy',
    reportingComponent: REPORTING_CONTROLLER,
    reportingInstance: `${REPORTING_CONTROLLER}-${hostname}`,
  };
}

export interface PostEventOptions {
  client: Pick<ApiClient, 'postJson'>;
  nodeName: string;
  hostname: string;
  logger: Logger;
  signal: AbortSignal;
  /** client-go's broadcaster: 12 tries, 10 s apart. */
  tries?: number;
  retryDelayMs?: number;
  /** The event's time and the waits between tries. */
  clock?: Clock;
}

/** Records the Starting event, retrying in the background; never throws. Resolves with success. */
export async function recordStartingEvent(opts: PostEventOptions): Promise<boolean> {
  const tries = opts.tries ?? 12;
  const clock = opts.clock ?? realClock;
  let useCore = false;
  for (let i = 0; i < tries && !opts.signal.aborted; i++) {
    const t = clock.date();
    try {
      if (useCore) {
        await opts.client.postJson(
          '/api/v1/namespaces/default/events',
          startingCoreEvent(opts.nodeName, opts.hostname, t),
          { signal: opts.signal, timeoutMs: 30_000 },
        );
      } else {
        await opts.client.postJson(
          '/apis/events.k8s.io/v1/namespaces/default/events',
          startingEvent(opts.nodeName, opts.hostname, t),
          { signal: opts.signal, timeoutMs: 30_000 },
        );
      }
      opts.logger.v(2, 'Recorded event', { reason: 'Starting', node: opts.nodeName });
      return true;
    } catch (err) {
      if (opts.signal.aborted) return false;
      if (!useCore && isNotFound(err)) {
        useCore = true;
        i--;
        continue;
      }
      const permanent =
        err instanceof ApiStatusError && (err.status === 403 || err.status === 422 || err.status === 400);
      opts.logger.warn('Cannot record the Starting event', {
        node: opts.nodeName,
        err: errorMessage(err),
      });
      if (permanent) return false;
      try {
        await sleep(opts.retryDelayMs ?? 10_000, opts.signal, clock);
      } catch {
        return false;
      }
    }
  }
  return false;
}
