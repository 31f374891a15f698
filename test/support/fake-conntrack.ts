// An in-memory conntrack table for the proxier's stale UDP flow cleanup: flows are listed per
// family and deleted by filter as `conntrack -D` would (a filter without origDst matches any
// destination, as for node ports).
import type { FlowFilter, UDPFlow } from '../../src/conntrack/stale-flows.ts';
import type { Conntrack } from '../../src/kernel/conntrack.ts';
import type { IPFamily } from '../../src/util/ip.ts';

export function flowMatches(flow: UDPFlow, f: FlowFilter): boolean {
  return (
    (f.origDst === undefined || flow.origDst === f.origDst) &&
    flow.origDport === f.origDport &&
    flow.replySrc === f.replySrc &&
    flow.replySport === f.replySport
  );
}

export class FakeConntrack implements Conntrack {
  readonly #flows = new Map<IPFamily, UDPFlow[]>();
  /** Every deletion asked for, in order. */
  readonly deletions: { family: IPFamily; filter: FlowFilter }[] = [];

  add(family: IPFamily, ...flows: UDPFlow[]): void {
    this.#flows.set(family, [...(this.#flows.get(family) ?? []), ...flows]);
  }

  flows(family: IPFamily): UDPFlow[] {
    return [...(this.#flows.get(family) ?? [])];
  }

  async listUDP(family: IPFamily): Promise<UDPFlow[]> {
    return this.flows(family);
  }

  async deleteUDP(family: IPFamily, filter: FlowFilter): Promise<number> {
    this.deletions.push({ family, filter });
    const before = this.flows(family);
    const kept = before.filter((f) => !flowMatches(f, filter));
    this.#flows.set(family, kept);
    return before.length - kept.length;
  }
}
