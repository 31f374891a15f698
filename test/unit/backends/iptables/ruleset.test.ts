// iptables-restore input of one sync, against upstream v1.37.2 iptables mode: TestOverallIPTablesRules
// re-addressed (test/README.md) as a golden file, plus partial syncs, stale chains, large-cluster
// mode, traffic policies, source ranges, localhost NodePorts and IPv6.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { serviceChainNames } from '../../../../src/backends/iptables/names.ts';
import {
  type IptablesRulesetOptions,
  type IptablesSyncInput,
  jumpRuleArgs,
  jumpRules,
  renderIptablesSync,
  type ServicePortInput,
} from '../../../../src/backends/iptables/ruleset.ts';
import type { Endpoint } from '../../../../src/model/endpoint.ts';
import type { Service } from '../../../../src/model/k8s.ts';
import { servicePortsFromService } from '../../../../src/model/service-port.ts';
import { categorizeEndpoints } from '../../../../src/topology/categorize-endpoints.ts';
import { joinHostPort } from '../../../../src/util/ip.ts';
import { NODE_IP, NODE_NAME, POD_CIDR, service } from '../../../support/fixtures.ts';
import { assertGolden } from '../../../support/golden.ts';
import { overallServices } from '../../../support/golden-clusters.ts';

const golden = (name: string) => new URL(`../../../golden/${name}`, import.meta.url);

function endpoint(ip: string, port = 80, isLocal = false, extra: Partial<Endpoint> = {}): Endpoint {
  return {
    ip,
    port,
    key: joinHostPort(ip, port),
    isLocal,
    ready: true,
    serving: true,
    terminating: false,
    zoneHints: new Set(),
    nodeHints: new Set(),
    ...extra,
  };
}

function portsOf(svc: Service, endpoints: Endpoint[], family: 'IPv4' | 'IPv6' = 'IPv4'): ServicePortInput[] {
  return servicePortsFromService(svc, family).ports.map((sp) => ({
    sp,
    endpoints,
    cat: categorizeEndpoints(endpoints, sp, NODE_NAME, ''),
  }));
}

const OPTIONS: IptablesRulesetOptions = {
  family: 'IPv4',
  masqueradeAll: false,
  masqueradeBit: 14,
  localDetector: { ifLocal: ['-s', POD_CIDR], ifNotLocal: ['!', '-s', POD_CIDR] },
  nodePortAddresses: 'all',
  localhostNodePorts: true,
  largeClusterMode: false,
  nodeIP: NODE_IP,
  nfacct: { invalidDropped: true, localhostNodePortsAccepted: true },
};

function render(
  ports: ServicePortInput[],
  over: Partial<IptablesSyncInput> = {},
  opts: Partial<IptablesRulesetOptions> = {},
) {
  return renderIptablesSync({
    full: true,
    changedServices: new Set(),
    ports,
    existingNatChains: new Set(),
    ...over,
    options: { ...OPTIONS, ...opts },
  });
}

const p80 = (extra: { nodePort?: number } = {}) => [{ name: 'p80', port: 80, protocol: 'TCP', ...extra }];

/** Upstream's TestOverallIPTablesRules objects, re-addressed (svc2's endpoint is not on this node). */
function overallFixture(): ServicePortInput[] {
  const endpoints = [
    [endpoint('198.18.180.1')],
    [endpoint('198.18.180.2')],
    [endpoint('198.18.180.3')],
    [endpoint('198.18.180.4'), endpoint('198.18.180.5', 80, true)],
    [endpoint('198.18.180.3')],
    [],
  ];
  return overallServices().flatMap((s, i) => portsOf(s, endpoints[i]!));
}

const lines = (text: string) => text.split('\n');
const chainsOf = (text: string, prefix: string) =>
  lines(text)
    .filter((l) => l.startsWith(`:${prefix}`))
    .map((l) => l.slice(1).split(' ')[0]);

describe('renderIptablesSync', () => {
  test('upstream TestOverallIPTablesRules (re-addressed)', () => {
    const out = render(overallFixture());
    assertGolden(golden('iptables-overall-ipv4.txt'), out.restoreInput);
    assert.deepEqual(out.noLocalEndpoints, { internal: 0, external: 1 });
    assert.equal(out.counts.filterChains, 6);
    assert.equal(out.counts.filterRules, 10);
    assert.equal(out.counts.natChains, 20);
    assert.equal(out.counts.natRules, 55);
    assert.equal(out.counts.natRulesTotal, 55);
    assert.equal(out.activeNatChains.size, 16);
    // Output is independent of the order the ports come in.
    assert.equal(render(overallFixture().reverse()).restoreInput, out.restoreInput);
  });

  test('ClientIP affinity: recent --rcheck in the service chain, --set in the endpoint chain', () => {
    const svc = service('ns1', 'aff', {
      clusterIP: '198.19.16.50',
      ports: p80(),
      sessionAffinity: 'ClientIP',
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 300 } },
    });
    const ports = portsOf(svc, [
      endpoint('198.18.180.1'),
      endpoint('198.18.180.2'),
      endpoint('198.18.180.3'),
    ]);
    const text = render(ports).restoreInput;
    const svcChain = serviceChainNames(ports[0]!.sp.name).svc;
    const rules = lines(text).filter((l) => l.startsWith(`-A ${svcChain} `));
    assert.equal(rules.length, 1 + 3 + 3);
    assert.match(rules[1]!, /-m recent --name (KUBE-SEP-\w+) --rcheck --seconds 300 --reap -j \1$/);
    assert.match(rules[4]!, /--probability 0\.3333333333 -j KUBE-SEP-/);
    assert.match(rules[5]!, /--probability 0\.5000000000 -j KUBE-SEP-/);
    assert.doesNotMatch(rules[6]!, /statistic/);
    const dnat = lines(text).filter((l) => l.includes('-j DNAT'));
    assert.equal(dnat.length, 3);
    for (const l of dnat)
      assert.match(
        l,
        /^-A (KUBE-SEP-\w+) -m comment --comment ns1\/aff:p80 -m recent --name \1 --set -m tcp/,
      );
  });

  test('partial sync writes only the changed service chains, but every capture rule', () => {
    const ports = overallFixture();
    const full = render(ports);
    const partial = render(ports, {
      full: false,
      changedServices: new Set(['ns4/svc4']),
      existingNatChains: full.activeNatChains,
    });
    assertGolden(golden('iptables-partial-ipv4.txt'), partial.restoreInput);
    const declared = chainsOf(partial.restoreInput, 'KUBE-').filter((c) =>
      /^KUBE-(SVC|SVL|EXT|FW|SEP)-/.test(c!),
    );
    const svc4 = serviceChainNames(ports.find((p) => p.sp.name.namespace === 'ns4')!.sp.name);
    assert.deepEqual(
      declared.filter((c) => c!.startsWith('KUBE-S') && !c!.startsWith('KUBE-SEP')),
      [svc4.svc],
    );
    assert.equal(declared.filter((c) => c!.startsWith('KUBE-SEP-')).length, 2);
    assert.ok(!partial.restoreInput.includes('-X '));
    // Fixed chains are complete: same KUBE-SERVICES/KUBE-NODEPORTS and filter rules as the full sync.
    const fixed = (t: string) =>
      lines(t).filter((l) =>
        /^-A KUBE-(SERVICES|NODEPORTS|EXTERNAL|PROXY|FORWARD|FIREWALL|POSTROUTING|MARK)/.test(l),
      );
    assert.deepEqual(fixed(partial.restoreInput), fixed(full.restoreInput));
    assert.deepEqual(partial.activeNatChains, full.activeNatChains);
    assert.equal(partial.counts.natRulesTotal, full.counts.natRulesTotal);
    assert.ok(partial.counts.natRules < full.counts.natRules);
  });

  test('stale per-service chains are declared and deleted; foreign chains are left alone', () => {
    const ports = overallFixture();
    const full = render(ports);
    // ns1/svc1 deleted, and some chains that are not ours.
    const remaining = ports.filter((p) => p.sp.name.namespace !== 'ns1');
    const existing = new Set([
      ...full.activeNatChains,
      'KUBE-MARK-DROP',
      'CNI-HOSTPORT-DNAT',
      'KUBE-XLB-OLD',
    ]);
    const out = render(remaining, {
      full: false,
      changedServices: new Set(['ns1/svc1']),
      existingNatChains: existing,
    });
    const svc1 = serviceChainNames(ports[0]!.sp.name).svc;
    const del = lines(out.restoreInput).filter((l) => l.startsWith('-X '));
    assert.equal(del.length, 2);
    assert.ok(del.includes(`-X ${svc1}`));
    assert.ok(del.some((l) => l.startsWith('-X KUBE-SEP-')));
    for (const l of del) assert.ok(out.restoreInput.includes(`:${l.slice(3)} - [0:0]\n`));
    // Deletions come after the other nat rules but before the NodePort tail rule of KUBE-SERVICES.
    const nat = lines(out.restoreInput.split('*nat')[1]!);
    assert.match(nat.at(-3)!, /^-A KUBE-SERVICES .* -j KUBE-NODEPORTS$/);
    assert.ok(nat.indexOf(del.at(-1)!) < nat.length - 3);
    assert.equal(out.counts.deletedNatChains, 2);
    assert.equal(out.counts.natRulesWritten, out.counts.natRules - 2);
    assert.ok(!out.activeNatChains.has(svc1));
  });

  test('large-cluster mode drops the per-endpoint comments only', () => {
    const ports = overallFixture();
    const text = render(ports, {}, { largeClusterMode: true }).restoreInput;
    for (const l of lines(text)) {
      if (/^-A KUBE-SEP-/.test(l) || / -j KUBE-SEP-/.test(l)) assert.doesNotMatch(l, /--comment/, l);
    }
    assert.match(text, /-A KUBE-SEP-\w+ -s 198\.18\.180\.1 -j KUBE-MARK-MASQ\n/);
    assert.match(text, /-A KUBE-SEP-\w+ -m tcp -p tcp -j DNAT --to-destination 198\.18\.180\.1:80\n/);
    // Everything else keeps its comments.
    assert.match(
      text,
      /-A KUBE-SVC-\w+ -m comment --comment "ns1\/svc1:p80 cluster IP" .* -j KUBE-MARK-MASQ/,
    );
    assert.match(text, /-A KUBE-NODEPORTS -m comment --comment ns3\/svc3:p80 /);
  });

  test('renders a cluster too large for argument spreading', () => {
    const eps = Array.from({ length: 60_000 }, (_, i) => endpoint(`198.18.${i >> 8}.${i & 255}`));
    const ports = portsOf(service('ns1', 'big', { clusterIP: '198.19.16.70', ports: p80() }), eps);
    const out = render(ports, {}, { largeClusterMode: true });
    assert.equal(out.counts.natChains, 4 + 1 + 60_000);
    assert.ok(out.restoreInput.endsWith('-j KUBE-NODEPORTS\nCOMMIT\n'));
  });

  test('eTP Local with local endpoints: SVL chain, EXT short-circuits pods and the node', () => {
    const svc = service(
      'ns1',
      'loc',
      {
        type: 'LoadBalancer',
        externalTrafficPolicy: 'Local',
        clusterIP: '198.19.16.60',
        ports: p80({ nodePort: 3060 }),
      },
      { loadBalancer: { ingress: [{ ip: '198.19.200.12' }] } },
    );
    const ports = portsOf(svc, [endpoint('198.18.180.1', 80, true), endpoint('198.18.181.1')]);
    const c = serviceChainNames(ports[0]!.sp.name);
    const text = render(ports).restoreInput;
    const ext = lines(text).filter((l) => l.startsWith(`-A ${c.ext} `));
    assert.deepEqual(ext, [
      `-A ${c.ext} -m comment --comment "pod traffic for ns1/loc:p80 external destinations" -s ${POD_CIDR} -j ${c.svc}`,
      `-A ${c.ext} -m comment --comment "masquerade LOCAL traffic for ns1/loc:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ`,
      `-A ${c.ext} -m comment --comment "route LOCAL traffic for ns1/loc:p80 external destinations" -m addrtype --src-type LOCAL -j ${c.svc}`,
      `-A ${c.ext} -j ${c.svl}`,
    ]);
    const svl = lines(text).filter((l) => l.startsWith(`-A ${c.svl} `));
    assert.equal(svl.length, 1);
    assert.match(svl[0]!, /"ns1\/loc:p80 -> 198\.18\.180\.1:80" -j KUBE-SEP-/);
    assert.equal(lines(text).filter((l) => l.startsWith(`-A ${c.svc} `)).length, 3);
    assert.ok(!text.includes('-j DROP\n-A KUBE-EXTERNAL') && !/KUBE-EXTERNAL-SERVICES .*ns1\/loc/.test(text));
  });

  test('iTP Local without local endpoints: DROP in filter KUBE-SERVICES, external traffic still works', () => {
    const svc = service('ns1', 'itp', {
      type: 'NodePort',
      internalTrafficPolicy: 'Local',
      clusterIP: '198.19.16.61',
      ports: p80({ nodePort: 3061 }),
    });
    const ports = portsOf(svc, [endpoint('198.18.181.1')]);
    const c = serviceChainNames(ports[0]!.sp.name);
    const out = render(ports);
    const text = out.restoreInput;
    assert.ok(
      text.includes(
        '-A KUBE-SERVICES -m comment --comment "ns1/itp:p80 has no local endpoints" -m tcp -p tcp -d 198.19.16.61 --dport 80 -j DROP\n',
      ),
    );
    assert.ok(!text.includes('-d 198.19.16.61 --dport 80 -j KUBE-S'));
    assert.ok(
      text.includes(
        `-A KUBE-NODEPORTS -m comment --comment ns1/itp:p80 -m tcp -p tcp --dport 3061 -j ${c.ext}\n`,
      ),
    );
    assert.ok(text.includes(`-A ${c.ext} -j ${c.svc}\n`));
    assert.ok(!text.includes(`:${c.svl} `));
    assert.deepEqual(out.noLocalEndpoints, { internal: 1, external: 0 });
  });

  test('iTP Local with a local endpoint: the ClusterIP goes to SVL, which masquerades off-cluster sources', () => {
    const svc = service('ns1', 'itp', {
      internalTrafficPolicy: 'Local',
      clusterIP: '198.19.16.62',
      ports: p80(),
    });
    const ports = portsOf(svc, [endpoint('198.18.180.1', 80, true), endpoint('198.18.181.1')]);
    const c = serviceChainNames(ports[0]!.sp.name);
    const text = render(ports).restoreInput;
    assert.ok(text.includes(`--dport 80 -j ${c.svl}\n`));
    assert.ok(
      text.includes(
        `-A ${c.svl} -m comment --comment "ns1/itp:p80 cluster IP" -m tcp -p tcp -d 198.19.16.62 --dport 80 ! -s ${POD_CIDR} -j KUBE-MARK-MASQ\n`,
      ),
    );
    assert.ok(!text.includes(`:${c.svc} `));
    assert.equal((text.match(/:KUBE-SEP-/g) ?? []).length, 1);
  });

  test('no endpoints at all: REJECT for every address, no nat chains', () => {
    const svc = service(
      'ns1',
      'none',
      {
        type: 'LoadBalancer',
        clusterIP: '198.19.16.63',
        externalIPs: ['198.19.99.11'],
        ports: p80({ nodePort: 3063 }),
      },
      { loadBalancer: { ingress: [{ ip: '198.19.200.4' }] } },
    );
    const out = render(portsOf(svc, []));
    const filter = lines(out.restoreInput).filter((l) => l.includes('ns1/none'));
    const c = '-m comment --comment "ns1/none:p80 has no endpoints" -m tcp -p tcp';
    assert.deepEqual(filter, [
      `-A KUBE-SERVICES ${c} -d 198.19.16.63 --dport 80 -j REJECT`,
      `-A KUBE-EXTERNAL-SERVICES ${c} -d 198.19.99.11 --dport 80 -j REJECT`,
      `-A KUBE-EXTERNAL-SERVICES ${c} -d 198.19.200.4 --dport 80 -j REJECT`,
      '-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/none:p80 has no endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3063 -j REJECT',
    ]);
    assert.equal(out.activeNatChains.size, 0);
    assert.deepEqual(out.noLocalEndpoints, { internal: 0, external: 0 });
  });

  test('LoadBalancer source ranges: KUBE-FW chain, DROP in KUBE-PROXY-FIREWALL, VIP allowed when the node is in range', () => {
    const svc = service(
      'ns1',
      'fw',
      {
        type: 'LoadBalancer',
        clusterIP: '198.19.16.64',
        ports: p80({ nodePort: 3064 }),
        loadBalancerSourceRanges: ['198.19.0.0/24', '198.19.100.0/25'],
      },
      { loadBalancer: { ingress: [{ ip: '198.19.200.4' }, { ip: '198.19.200.8' }] } },
    );
    const ports = portsOf(svc, [endpoint('198.18.181.1')]);
    const c = serviceChainNames(ports[0]!.sp.name);
    const text = render(ports).restoreInput;
    const head = `-A ${c.fw} -m comment --comment "ns1/fw:p80 loadbalancer IP"`;
    assert.deepEqual(
      lines(text).filter((l) => l.startsWith(`-A ${c.fw} `)),
      [
        `${head} -s 198.19.0.0/24 -j ${c.ext}`,
        `${head} -s 198.19.100.0/25 -j ${c.ext}`,
        `${head} -s 198.19.200.4 -j ${c.ext}`,
        `${head} -s 198.19.200.8 -j ${c.ext}`,
        `-A ${c.fw} -m comment --comment "other traffic to ns1/fw:p80 will be dropped by KUBE-PROXY-FIREWALL"`,
      ],
    );
    for (const vip of ['198.19.200.4', '198.19.200.8']) {
      assert.ok(
        text.includes(
          `-A KUBE-SERVICES -m comment --comment "ns1/fw:p80 loadbalancer IP" -m tcp -p tcp -d ${vip} --dport 80 -j ${c.fw}\n`,
        ),
      );
      assert.ok(
        text.includes(
          `-A KUBE-PROXY-FIREWALL -m comment --comment "ns1/fw:p80 traffic not accepted by ${c.fw}" -m tcp -p tcp -d ${vip} --dport 80 -j DROP\n`,
        ),
      );
    }
    // Node outside every range: no VIP sources.
    const other = render(ports, {}, { nodeIP: '198.19.1.2' }).restoreInput;
    assert.equal(lines(other).filter((l) => l.startsWith(`-A ${c.fw} `)).length, 3);
  });

  test('localhost NodePorts on/off and explicit NodePort addresses', () => {
    const ports = overallFixture();
    const on = render(ports).restoreInput;
    assert.ok(on.includes(':KUBE-FIREWALL - [0:0]\n'));
    assert.match(on, /-A KUBE-SERVICES .* -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n/);
    assert.match(
      on,
      /-d 127\.0\.0\.0\/8 --dport 3001 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-/,
    );

    const off = render(ports, {}, { localhostNodePorts: false }).restoreInput;
    assert.ok(!off.includes('KUBE-FIREWALL'));
    assert.ok(!off.includes('127.0.0.0/8 --dport'));
    assert.match(off, /-m addrtype --dst-type LOCAL ! -d 127\.0\.0\.0\/8 -j KUBE-NODEPORTS\n/);

    const noCounter = render(ports, {}, { nfacct: undefined }).restoreInput;
    assert.ok(!noCounter.includes('nfacct'));
    assert.ok(noCounter.includes('-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n'));
    assert.ok(!render(ports, {}, { conntrackTCPLiberal: true }).restoreInput.includes('INVALID'));

    const tail = (t: string) => lines(t).filter((l) => l.includes('-j KUBE-NODEPORTS'));
    const cmt =
      '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain"';
    // Loopback among the addresses keeps localhost NodePorts on.
    const withLo = render(ports, {}, { nodePortAddresses: ['127.0.0.1', NODE_IP] }).restoreInput;
    assert.deepEqual(tail(withLo), [
      `${cmt} -d 127.0.0.1 -j KUBE-NODEPORTS`,
      `${cmt} -d ${NODE_IP} -j KUBE-NODEPORTS`,
    ]);
    assert.ok(withLo.includes(':KUBE-FIREWALL'));
    // Without loopback they are off, as upstream's ContainsIPv4Loopback() decides.
    const noLo = render(ports, {}, { nodePortAddresses: [NODE_IP, '198.19.1.2'] }).restoreInput;
    assert.deepEqual(tail(noLo), [
      `${cmt} -d ${NODE_IP} -j KUBE-NODEPORTS`,
      `${cmt} -d 198.19.1.2 -j KUBE-NODEPORTS`,
    ]);
    assert.ok(!noLo.includes('KUBE-FIREWALL') && !noLo.includes('127.0.0.0/8'));
    // Loopback listed but localhost NodePorts disabled: skipped.
    const loOff = render(
      ports,
      {},
      { nodePortAddresses: ['127.0.0.1', NODE_IP], localhostNodePorts: false },
    ).restoreInput;
    assert.deepEqual(tail(loOff), [`${cmt} -d ${NODE_IP} -j KUBE-NODEPORTS`]);
  });

  test('masqueradeAll and no local detector', () => {
    const ports = portsOf(service('ns1', 'm', { clusterIP: '198.19.16.65', ports: p80() }), [
      endpoint('198.18.181.1'),
    ]);
    const c = serviceChainNames(ports[0]!.sp.name);
    const all = render(ports, {}, { masqueradeAll: true }).restoreInput;
    assert.ok(
      all.includes(
        `-A ${c.svc} -m comment --comment "ns1/m:p80 cluster IP" -m tcp -p tcp -d 198.19.16.65 --dport 80 -j KUBE-MARK-MASQ\n`,
      ),
    );
    const none = render(
      ports,
      {},
      { localDetector: { ifLocal: undefined, ifNotLocal: undefined } },
    ).restoreInput;
    assert.ok(!lines(none).some((l) => l.startsWith(`-A ${c.svc}`) && l.includes('KUBE-MARK-MASQ')));
    const iface = render(
      ports,
      {},
      { localDetector: { ifLocal: ['-i', 'veth+'], ifNotLocal: ['!', '-i', 'veth+'] } },
    ).restoreInput;
    assert.ok(iface.includes('--dport 80 ! -i veth+ -j KUBE-MARK-MASQ\n'));
  });

  test('IPv6: ip6tables layout, no localhost NodePorts', () => {
    const svc = service(
      'ns1',
      'v6',
      {
        type: 'LoadBalancer',
        ipFamilies: ['IPv6'],
        clusterIP: 'fd00:10:96::41',
        clusterIPs: ['fd00:10:96::41'],
        externalIPs: ['fd00:19::99:22'],
        ports: [{ name: 'dns', port: 53, protocol: 'UDP', nodePort: 3053 }],
        loadBalancerSourceRanges: ['fd00:19::100:0/112'],
      },
      { loadBalancer: { ingress: [{ ip: 'fd00:19::200:4' }] } },
    );
    const eps = [endpoint('fd00:10:180::1', 5353), endpoint('fd00:10:180::2', 5353, true)];
    const ports = portsOf(svc, eps, 'IPv6');
    const out = render(
      ports,
      {},
      {
        family: 'IPv6',
        localDetector: { ifLocal: ['-s', 'fd00:10::/64'], ifNotLocal: ['!', '-s', 'fd00:10::/64'] },
        nodeIP: 'fd00:19::2',
      },
    );
    assertGolden(golden('iptables-ipv6.txt'), out.restoreInput);
    assert.ok(!out.restoreInput.includes('KUBE-FIREWALL'));
    assert.ok(!out.restoreInput.includes('127.0.0.0/8'));
    assert.match(out.restoreInput, /-m addrtype --dst-type LOCAL ! -d ::1\/128 -j KUBE-NODEPORTS\n/);
    assert.match(out.restoreInput, /-m udp -p udp -j DNAT --to-destination \[fd00:10:180::1\]:5353\n/);
    const lo = render(ports, {}, { family: 'IPv6', nodePortAddresses: ['::1', 'fd00:19::2'] }).restoreInput;
    assert.deepEqual(
      lines(lo)
        .filter((l) => l.includes('-j KUBE-NODEPORTS'))
        .map((l) => l.split(' -d ')[1]),
      ['fd00:19::2 -j KUBE-NODEPORTS'],
    );
  });

  test('refuses values that would break the script', () => {
    const ports = portsOf(service('ns1', 'bad', { clusterIP: '198.19.16.66', ports: p80() }), [
      endpoint('198.18.181.1'),
    ]);
    const tampered = [{ ...ports[0]!, sp: { ...ports[0]!.sp, externalIPs: ['198.19.99.1 -j ACCEPT'] } }];
    assert.throws(() => render(tampered), /unquoted/);
    assert.throws(
      () => render(ports, {}, { localDetector: { ifLocal: ['-s', 'x y'], ifNotLocal: undefined } }),
      /unquoted/,
    );
  });
});

describe('jumpRules', () => {
  test("upstream's jump chains, kubelet's KUBE-FIREWALL jumps last", () => {
    const rules = jumpRules();
    assert.equal(rules.length, 14);
    assert.deepEqual(
      rules.map((r) => `${r.table} ${r.chain} ${jumpRuleArgs(r).join(' ')}`),
      [
        'filter INPUT -m conntrack --ctstate NEW -m comment --comment kubernetes externally-visible service portals -j KUBE-EXTERNAL-SERVICES',
        'filter FORWARD -m conntrack --ctstate NEW -m comment --comment kubernetes externally-visible service portals -j KUBE-EXTERNAL-SERVICES',
        'filter INPUT -m comment --comment kubernetes health check service ports -j KUBE-NODEPORTS',
        'filter FORWARD -m conntrack --ctstate NEW -m comment --comment kubernetes service portals -j KUBE-SERVICES',
        'filter OUTPUT -m conntrack --ctstate NEW -m comment --comment kubernetes service portals -j KUBE-SERVICES',
        'filter FORWARD -m comment --comment kubernetes forwarding rules -j KUBE-FORWARD',
        'filter INPUT -m conntrack --ctstate NEW -m comment --comment kubernetes load balancer firewall -j KUBE-PROXY-FIREWALL',
        'filter OUTPUT -m conntrack --ctstate NEW -m comment --comment kubernetes load balancer firewall -j KUBE-PROXY-FIREWALL',
        'filter FORWARD -m conntrack --ctstate NEW -m comment --comment kubernetes load balancer firewall -j KUBE-PROXY-FIREWALL',
        'nat OUTPUT -m comment --comment kubernetes service portals -j KUBE-SERVICES',
        'nat PREROUTING -m comment --comment kubernetes service portals -j KUBE-SERVICES',
        'nat POSTROUTING -m comment --comment kubernetes postrouting rules -j KUBE-POSTROUTING',
        'filter INPUT -j KUBE-FIREWALL',
        'filter OUTPUT -j KUBE-FIREWALL',
      ],
    );
    assert.ok(rules.every((r) => r.prepend));
  });
});
