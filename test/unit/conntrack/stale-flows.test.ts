// Stale UDP flow detection and the conntrack CLI's list/delete parsing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { staleFlowFilters, type UDPFlow } from '../../../src/conntrack/stale-flows.ts';
import { ConntrackCli, parseConntrackList } from '../../../src/kernel/conntrack.ts';
import type { ExecResult } from '../../../src/kernel/exec.ts';
import type { Endpoint } from '../../../src/model/endpoint.ts';
import { servicePortsFromService } from '../../../src/model/service-port.ts';
import { FakeExecer } from '../../support/fake-execer.ts';
import { service } from '../../support/fixtures.ts';

const endpoint = (ip: string, port: number, serving = true): Endpoint => ({
  ip,
  port,
  key: `${ip}:${port}`,
  isLocal: false,
  ready: serving,
  serving,
  terminating: false,
  zoneHints: new Set(),
  nodeHints: new Set(),
});

const dns = servicePortsFromService(
  service('ns1', 'dns', {
    type: 'NodePort',
    clusterIP: '198.19.16.10',
    externalIPs: ['198.19.99.11'],
    ports: [
      { name: 'udp', port: 53, protocol: 'UDP', nodePort: 30053 },
      { name: 'tcp', port: 53, protocol: 'TCP' },
    ],
  }),
  'IPv4',
).ports;

const flow = (origDst: string, origDport: number, replySrc: string, replySport: number): UDPFlow => ({
  origSrc: '198.18.0.2',
  origSport: 40000,
  origDst,
  origDport,
  replySrc,
  replySport,
});

test('flows answered by a removed endpoint are stale; current endpoints and other traffic are not', () => {
  const eps = new Map([[dns[0]!.key, [endpoint('198.18.1.10', 8053), endpoint('198.18.1.12', 8053, false)]]]);
  const filters = staleFlowFilters(
    [
      flow('198.19.16.10', 53, '198.18.1.10', 8053), // current endpoint
      flow('198.19.16.10', 53, '198.18.1.11', 8053), // removed endpoint → stale
      flow('198.19.16.10', 53, '198.18.1.11', 8053), // same filter only once
      flow('198.19.99.11', 53, '198.18.1.12', 8053), // not serving → stale
      flow('198.19.0.2', 30053, '198.18.1.11', 8053), // node port, removed endpoint → stale, any node IP
      flow('198.19.16.10', 54, '198.18.1.11', 8053), // not a service port
      flow('198.18.5.5', 53, '198.18.5.5', 53), // never DNATed
    ],
    dns,
    (k) => eps.get(k) ?? [],
  );
  assert.deepEqual(filters, [
    { origDst: '198.19.16.10', origDport: 53, replySrc: '198.18.1.11', replySport: 8053 },
    { origDst: '198.19.99.11', origDport: 53, replySrc: '198.18.1.12', replySport: 8053 },
    { origDst: undefined, origDport: 30053, replySrc: '198.18.1.11', replySport: 8053 },
  ]);
});

test('services without serving endpoints are skipped', () => {
  assert.deepEqual(
    staleFlowFilters([flow('198.19.16.10', 53, '198.18.1.11', 8053)], dns, () => []),
    [],
  );
});

test('conntrack -L output is parsed into original and reply tuples', () => {
  const out =
    'udp      17 27 src=198.18.0.2 dst=198.19.16.10 sport=40000 dport=53 src=198.18.1.10 dst=198.18.0.2 sport=8053 dport=40000 mark=0 use=1\n' +
    'udp      17 29 src=198.18.0.3 dst=198.19.16.10 sport=41000 dport=53 [UNREPLIED] src=198.19.16.10 dst=198.18.0.3 sport=53 dport=41000 mark=0 use=1\n' +
    'conntrack v1.4.7 (conntrack-tools): 2 flow entries have been shown.\n';
  assert.deepEqual(parseConntrackList(out), [
    {
      origSrc: '198.18.0.2',
      origDst: '198.19.16.10',
      origSport: 40000,
      origDport: 53,
      replySrc: '198.18.1.10',
      replySport: 8053,
    },
    {
      origSrc: '198.18.0.3',
      origDst: '198.19.16.10',
      origSport: 41000,
      origDport: 53,
      replySrc: '198.19.16.10',
      replySport: 53,
    },
  ]);
});

test('deleting runs one conntrack -D per filter and treats "0 deleted" as success', async () => {
  const results: ExecResult[] = [
    {
      code: 0,
      stdout: '',
      stderr: 'conntrack v1.4.7 (conntrack-tools): 3 flow entries have been deleted.\n',
    },
    {
      code: 1,
      stdout: '',
      stderr: 'conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n',
    },
    { code: 1, stdout: '', stderr: 'conntrack v1.4.7 (conntrack-tools): Operation not permitted\n' },
  ];
  const exec = new FakeExecer({ script: results });
  const ct = new ConntrackCli(exec);
  const f = { origDst: '198.19.16.10', origDport: 53, replySrc: '198.18.1.11', replySport: 8053 };
  assert.equal(await ct.deleteUDP('IPv4', f), 3);
  assert.equal(await ct.deleteUDP('IPv4', { ...f, origDst: undefined }), 0);
  await assert.rejects(ct.deleteUDP('IPv4', f), /Operation not permitted/);
  assert.deepEqual(exec.argvs[0], [
    'conntrack',
    '-D',
    '-p',
    'udp',
    '-f',
    'ipv4',
    '--orig-dst',
    '198.19.16.10',
    '--orig-port-dst',
    '53',
    '--reply-src',
    '198.18.1.11',
    '--reply-port-src',
    '8053',
  ]);
  assert.ok(!exec.argvs[1]!.includes('--orig-dst'), 'node port filters match any destination address');
});
