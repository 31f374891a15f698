// IPVS mode's kernel half (upstream pkg/proxy/ipvs): per sync, the planned virtual servers and
// real servers are reconciled with what IPVS holds (one dump of the services; real servers read
// only for the virtual servers this sync may change), the service addresses bound to kube-ipvs0,
// the ipsets brought to the plan with one `ipset restore`, and the fixed iptables rules rewritten
// with one `iptables-restore --noflush`.
import { hasCode } from '../../errors.ts';
import type { IpSets } from '../../kernel/ipset/ipset.ts';
import { restoreScript } from '../../kernel/ipset/ipset.ts';
import type { Iptables } from '../../kernel/iptables/iptables.ts';
import {
  type Ipvs,
  type IpvsOp,
  type RealServer,
  realServerKey,
  sameVirtualServer,
  type VirtualServer,
  virtualServerKey,
} from '../../kernel/ipvs/types.ts';
import type { NodeLinks } from '../../kernel/links.ts';
import type { Logger } from '../../log/logger.ts';
import type { ProxyBackend, SyncRequest, SyncResult } from '../../proxy/types.ts';
import { type Clock, realClock } from '../../runner/bounded-frequency-runner.ts';
import { type CIDR, cidrContains, type IPFamily, isLoopback, parseCIDR, parseIP } from '../../util/ip.ts';
import { drainKey, GracefulTermination } from './graceful-termination.ts';
import { DUMMY_DEVICE, JUMPS, jumpArgs, SETS, type SetName, setName } from './names.ts';
import { type Plan, planSync } from './plan.ts';
import { renderRules } from './rules.ts';

export interface IpvsBackendOptions {
  readonly family: IPFamily;
  readonly ipvs: Ipvs;
  readonly ipsets: IpSets;
  readonly links: NodeLinks;
  readonly iptables: Iptables;
  readonly logger: Logger;
  /** --ipvs-scheduler; "" means rr. */
  readonly scheduler: string;
  readonly masqueradeAll: boolean;
  readonly masqueradeBit: number;
  readonly ifNotLocal: readonly string[] | undefined;
  /** --ipvs-exclude-cidrs: virtual servers there are never deleted (another IPVS user owns them). */
  readonly excludeCIDRs: readonly string[];
  readonly clock?: Clock;
}

export class IpvsBackend implements ProxyBackend {
  readonly mode = 'ipvs' as const;
  readonly localhostNodePorts = false;
  readonly family: IPFamily;
  readonly #opts: IpvsBackendOptions;
  readonly #log: Logger;
  readonly #scheduler: string;
  readonly #exclude: CIDR[];
  readonly #graceful: GracefulTermination;
  /** The entries of our sets as the last sync left them; undefined: read them from the kernel. */
  #setEntries: Map<string, Set<string>> | undefined;
  /** The first sync after start: real servers with another weight are set back to 1 (upstream's initialSync). */
  #initialSync = true;
  /** The last restore input, for --dry-run and debugging. */
  lastRestoreInput: string | undefined;

  constructor(opts: IpvsBackendOptions) {
    this.family = opts.family;
    this.#opts = opts;
    this.#log = opts.logger;
    this.#scheduler = opts.scheduler || 'rr';
    this.#exclude = opts.excludeCIDRs
      .map((c) => parseCIDR(c))
      .filter((c): c is CIDR => c !== undefined && c.family === opts.family);
    this.#graceful = new GracefulTermination(opts.ipvs, opts.logger, opts.clock ?? realClock);
  }

  reset(): void {
    this.#setEntries = undefined;
  }

  async sync(req: SyncRequest): Promise<SyncResult> {
    const { ipvs, links, iptables } = this.#opts;
    const family = this.family;

    let state = await links.state();
    if (!state.devices.has(DUMMY_DEVICE)) {
      await links.ensureDummy(DUMMY_DEVICE);
      state = await links.state();
    }
    const ofFamily = (a: { family: IPFamily; address: string }) => {
      if (a.family !== family) return false;
      const ip = parseIP(a.address);
      return ip !== undefined && !isLoopback(ip) && !(family === 'IPv6' && /^fe[89ab]/i.test(ip.text));
    };
    const bound = new Set(
      state.addresses.filter((a) => a.dev === DUMMY_DEVICE && ofFamily(a)).map((a) => a.address),
    );
    const nodeAddresses = new Set(
      state.addresses.filter((a) => a.dev !== DUMMY_DEVICE && ofFamily(a)).map((a) => a.address),
    );
    const nodePortIPs =
      req.node.nodePortIPs === 'all'
        ? [...nodeAddresses]
        : req.node.nodePortIPs.filter((ip) => {
            const p = parseIP(ip);
            return p !== undefined && !isLoopback(p);
          });

    const plan = planSync({
      family,
      scheduler: this.#scheduler,
      nodeName: req.node.name,
      zone: req.node.zone,
      nodeIP: req.node.ips[0]?.text,
      nodePortIPs,
      nodeAddresses,
      servicePorts: req.servicePorts.values(),
      endpointsOf: (sp) => req.endpoints.get(sp.key),
    });

    // The sets and rules first, then IPVS: a new virtual server takes traffic only once the rules
    // that masquerade it are in place. (Upstream changes IPVS first; its first connections to a new
    // service can miss the masquerade while the restores are still to come.)
    const setLines = await this.#syncSets(plan);
    const rules = renderRules({
      family,
      masqueradeAll: this.#opts.masqueradeAll,
      masqueradeBit: this.#opts.masqueradeBit,
      ifNotLocal: this.#opts.ifNotLocal,
      nonEmpty: new Set([...plan.sets].filter(([, e]) => e.size > 0).map(([n]) => n)),
      noNodeAccess: plan.noNodeAccess,
    });
    // The jumps from the built-in chains are checked on full syncs (iptables-save of two tables);
    // a partial sync trusts them, as iptables mode does.
    const input = req.full || this.#initialSync ? await this.#withMissingJumps(rules) : rules;
    this.lastRestoreInput = input;
    await iptables.restore(input, { counters: true });

    const ipvsOps = await this.#ipvsOps(req, plan);
    const failures = await ipvs.apply(ipvsOps);
    for (const f of failures)
      this.#log.error('Failed to sync IPVS', { ipFamily: family, err: f.error.message });
    if (failures.length) req.requestFullSync();
    const addBind = [...plan.bindAddresses].filter((a) => !bound.has(a));
    await links.changeAddresses(DUMMY_DEVICE, addBind, []);

    const unbind = [...bound].filter((a) => !plan.bindAddresses.has(a));
    if (unbind.length) {
      this.#log.v(2, 'Removing addresses', { interface: DUMMY_DEVICE, addresses: unbind });
      await links.changeAddresses(DUMMY_DEVICE, [], unbind);
    }
    this.#initialSync = false;
    return {
      operations: ipvsOps.length + setLines + input.split('\n').length,
      endpoints: plan.endpoints,
      noLocalEndpoints: plan.noLocalEndpoints,
    };
  }

  /** Services, real servers and stale services, in the order the kernel must see them. */
  async #ipvsOps(req: SyncRequest, plan: Plan): Promise<IpvsOp[]> {
    const { ipvs } = this.#opts;
    const current = new Map<string, VirtualServer>();
    for (const vs of await ipvs.virtualServers())
      if (vs.family === this.family) current.set(virtualServerKey(vs), vs);
    const serviceOps: IpvsOp[] = [];
    const destOps: IpvsOp[] = [];
    const draining = this.#graceful.drainingServers();
    for (const [key, planned] of plan.virtualServers) {
      const applied = current.get(key);
      if (!applied) {
        this.#log.v(3, 'Adding new service', { serviceName: planned.servicePort, virtualServer: key });
        serviceOps.push({ op: 'add-service', vs: planned.vs });
      } else if (!sameVirtualServer(applied, planned.vs)) {
        this.#log.v(3, 'IPVS service was changed', { serviceName: planned.servicePort });
        serviceOps.push({ op: 'update-service', vs: planned.vs });
      }
      // Real servers are re-read where this sync may change them; an unchanged service in a
      // partial sync keeps what the kernel holds.
      const reread =
        req.full ||
        this.#initialSync ||
        !applied ||
        req.changedServices.has(planned.service) ||
        draining.has(key);
      if (!reread) continue;
      const existing = applied ? await this.#realServers(planned.vs) : [];
      destOps.push(...this.#realServerOps(planned.vs, planned.realServers, existing));
    }
    const deleteOps: IpvsOp[] = [];
    for (const [key, vs] of current) {
      if (plan.virtualServers.has(key)) continue;
      const ip = parseIP(vs.address);
      if (ip && this.#exclude.some((c) => cidrContains(c, ip))) continue;
      this.#log.v(4, 'Delete service', { virtualServer: key });
      deleteOps.push({ op: 'delete-service', vs });
      this.#graceful.forgetServer(key);
    }
    return [...serviceOps, ...destOps, ...deleteOps];
  }

  async #realServers(vs: VirtualServer): Promise<RealServer[]> {
    try {
      return await this.#opts.ipvs.realServers(vs);
    } catch (err) {
      if (hasCode(err, 'KP_ERR_IPVS_NOT_FOUND')) return [];
      throw err;
    }
  }

  /** upstream syncEndpoint: add the new, weight 1 again after a restart, drain the old. */
  #realServerOps(
    vs: VirtualServer,
    wanted: readonly RealServer[],
    existing: readonly RealServer[],
  ): IpvsOp[] {
    const ops: IpvsOp[] = [];
    const have = new Map(existing.map((rs) => [realServerKey(rs), rs]));
    const want = new Set<string>();
    for (const rs of wanted) {
      const key = realServerKey(rs);
      want.add(key);
      const cur = have.get(key);
      if (cur) {
        const back = this.#graceful.takeBack(drainKey(vs, rs));
        if (back) ops.push(back, { op: 'add-dest', vs, rs });
        else if (this.#initialSync && cur.weight !== rs.weight) ops.push({ op: 'update-dest', vs, rs });
        continue;
      }
      ops.push({ op: 'add-dest', vs, rs });
    }
    for (const [key, cur] of have) {
      if (want.has(key) || this.#graceful.has(drainKey(vs, cur))) continue;
      ops.push(this.#graceful.remove(vs, cur));
    }
    return ops;
  }

  /** Brings our ipsets to the plan; returns the number of restore lines. */
  async #syncSets(plan: Plan): Promise<number> {
    const { ipsets } = this.#opts;
    const create = [];
    if (this.#setEntries === undefined) {
      const inKernel = await ipsets.save();
      this.#setEntries = new Map();
      for (const info of SETS) {
        const name = setName(info.name, this.family);
        const entries = inKernel.get(name);
        if (!entries)
          create.push({ name, type: info.type, family: this.family === 'IPv4' ? 'inet' : 'inet6' } as const);
        this.#setEntries.set(name, new Set(entries ?? []));
      }
    }
    const add = new Map<string, string[]>();
    const del = new Map<string, string[]>();
    for (const info of SETS) {
      const name = setName(info.name, this.family);
      const have = this.#setEntries.get(name) ?? new Set<string>();
      const want = plan.sets.get(info.name as SetName) ?? new Set<string>();
      const a = [...want].filter((e) => !have.has(e));
      const d = [...have].filter((e) => !want.has(e));
      if (a.length) add.set(name, a);
      if (d.length) del.set(name, d);
    }
    const script = restoreScript({ create, add, del });
    try {
      await ipsets.restore(script);
    } catch (err) {
      this.#setEntries = undefined;
      throw err;
    }
    for (const info of SETS) {
      const name = setName(info.name, this.family);
      this.#setEntries.set(name, new Set(plan.sets.get(info.name as SetName) ?? []));
    }
    return script === '' ? 0 : script.split('\n').length - 1;
  }

  /** The restore input plus an `-I` for each jump from a built-in chain that is missing. */
  async #withMissingJumps(rules: string): Promise<string> {
    const { iptables } = this.#opts;
    const out: string[] = [];
    for (const table of ['nat', 'filter'] as const) {
      const saved = await iptables.save(table);
      const start = rules.indexOf(`*${table}\n`);
      const end = rules.indexOf('COMMIT\n', start);
      let body = rules.slice(start, end);
      for (const j of JUMPS) {
        if (j.table !== table) continue;
        const rule = `-A ${j.from} -m comment --comment "${j.comment}" -j ${j.to}`;
        if (saved.includes(rule)) continue;
        body += `-I ${j.from} 1 ${jumpArgs(j)
          .map((a) => (a.includes(' ') ? `"${a}"` : a))
          .join(' ')}\n`;
      }
      out.push(`${body}COMMIT\n`);
    }
    return out.join('');
  }

  async close(): Promise<void> {
    this.#graceful.close();
    this.#opts.ipvs.close();
  }
}
