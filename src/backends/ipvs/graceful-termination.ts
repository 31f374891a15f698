// Real servers leave gently (upstream's GracefulTerminationManager): a TCP real server that still
// has connections gets weight 0 — no new connections, the old ones drain — and is deleted by a
// retry every minute once IPVS counts none; UDP and SCTP ones go at once (expire_nodest_conn
// ends their flows on the next packet). An endpoint that comes back meanwhile is deleted and
// added afresh.

import { hasCode } from '../../errors.ts';
import {
  type Ipvs,
  type IpvsOp,
  type RealServer,
  realServerKey,
  type VirtualServer,
  virtualServerKey,
} from '../../kernel/ipvs/types.ts';
import type { Logger } from '../../log/logger.ts';
import type { Clock } from '../../runner/bounded-frequency-runner.ts';

export const RETRY_INTERVAL_MS = 60_000;

interface Draining {
  readonly vs: VirtualServer;
  readonly rs: RealServer;
}

/** upstream's GetUniqueRSName: "vip:port/PROTO/ip:port". */
export function drainKey(vs: VirtualServer, rs: Pick<RealServer, 'address' | 'port'>): string {
  return `${virtualServerKey(vs)}/${realServerKey(rs)}`;
}

function needsDraining(vs: VirtualServer, current: RealServer): boolean {
  return vs.protocol === 'TCP' && current.activeConns + current.inactiveConns !== 0;
}

export class GracefulTermination {
  readonly #ipvs: Ipvs;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #draining = new Map<string, Draining>();
  #timer: unknown;
  #closed = false;

  constructor(ipvs: Ipvs, log: Logger, clock: Clock) {
    this.#ipvs = ipvs;
    this.#log = log;
    this.#clock = clock;
    this.#schedule();
  }

  has(key: string): boolean {
    return this.#draining.has(key);
  }

  get size(): number {
    return this.#draining.size;
  }

  /** Virtual servers with real servers still draining (their real servers are re-read on every sync). */
  drainingServers(): Set<string> {
    return new Set([...this.#draining.values()].map((d) => virtualServerKey(d.vs)));
  }

  /**
   * The operations that remove `current` (as the kernel listed it) from `vs`: a delete, or weight
   * 0 and a place on the list while TCP connections remain.
   */
  remove(vs: VirtualServer, current: RealServer): IpvsOp {
    if (!needsDraining(vs, current)) return { op: 'delete-dest', vs, rs: current };
    this.#log.v(5, 'Adding real server to graceful delete real server list', {
      realServer: drainKey(vs, current),
    });
    this.#draining.set(drainKey(vs, current), { vs, rs: current });
    return { op: 'update-dest', vs, rs: { ...current, weight: 0 } };
  }

  /** An endpoint back while draining: the old entry goes now, and the caller adds it anew. */
  takeBack(key: string): IpvsOp | undefined {
    const d = this.#draining.get(key);
    if (!d) return undefined;
    this.#draining.delete(key);
    return { op: 'delete-dest', vs: d.vs, rs: d.rs };
  }

  /** Forgets what belonged to virtual servers that are gone. */
  forgetServer(vsKey: string): void {
    for (const [key, d] of this.#draining) if (virtualServerKey(d.vs) === vsKey) this.#draining.delete(key);
  }

  /** One retry round: deletes the draining real servers that have no connections left. */
  async retry(): Promise<void> {
    const byServer = new Map<string, Draining[]>();
    for (const d of this.#draining.values()) {
      const k = virtualServerKey(d.vs);
      byServer.set(k, [...(byServer.get(k) ?? []), d]);
    }
    const ops: IpvsOp[] = [];
    for (const [vsKey, list] of byServer) {
      let current: RealServer[];
      try {
        current = await this.#ipvs.realServers(list[0]!.vs);
      } catch (err) {
        if (hasCode(err, 'KP_ERR_IPVS_NOT_FOUND')) this.forgetServer(vsKey);
        else this.#log.error('Error in deleting real server', { virtualServer: vsKey, err });
        continue;
      }
      const byKey = new Map(current.map((rs) => [realServerKey(rs), rs]));
      for (const d of list) {
        const now = byKey.get(realServerKey(d.rs));
        const key = drainKey(d.vs, d.rs);
        if (!now) {
          this.#draining.delete(key);
          continue;
        }
        if (needsDraining(d.vs, now)) continue;
        ops.push({ op: 'delete-dest', vs: d.vs, rs: now });
        this.#draining.delete(key);
        this.#log.info('Removed real server from graceful delete real server list', { realServer: key });
      }
    }
    for (const f of await this.#ipvs.apply(ops))
      this.#log.error('Error in deleting real server', { err: f.error });
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.retry()
        .catch((err: unknown) => this.#log.error('Try flush graceful termination list error', { err }))
        .finally(() => this.#schedule());
    }, RETRY_INTERVAL_MS);
    (this.#timer as { unref?: () => void } | undefined)?.unref?.();
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
  }
}
