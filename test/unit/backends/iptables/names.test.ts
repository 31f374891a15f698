// Chain names must equal upstream's byte for byte: operators grep for them and a switch between
// upstream kube-proxy and ours must recognise (and clean up) the same chains.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  base32,
  endpointChainName,
  isServiceChainName,
  portProtoHash,
  serviceChainNames,
} from '../../../../src/backends/iptables/names.ts';
import { computeProbability, masqueradeMark } from '../../../../src/backends/iptables/rule-text.ts';
import type { ServicePortName } from '../../../../src/model/service-port.ts';

const spn = (
  namespace: string,
  name: string,
  port: string,
  protocol: ServicePortName['protocol'] = 'TCP',
) => ({
  namespace,
  name,
  port,
  protocol,
});

describe('chain names', () => {
  test('literal names from upstream proxier_test.go', () => {
    // TestOverallIPTablesRules, TestSyncProxyRulesRepeated, TestSyncProxyRulesLargeClusterMode.
    assert.equal(serviceChainNames(spn('ns1', 'svc1', 'p80')).svc, 'KUBE-SVC-XPGD46QRK7WJZT7O');
    assert.equal(serviceChainNames(spn('ns2', 'svc2', 'p80')).ext, 'KUBE-EXT-GNZBNJ2PO5MGZ6GT');
    assert.equal(serviceChainNames(spn('ns5', 'svc5', 'p80')).fw, 'KUBE-FW-NUKIZ6OKUXPJNT4C');
    assert.equal(serviceChainNames(spn('ns2', 'svc2', 'p8080')).svc, 'KUBE-SVC-2VJB64SDSIJUP5T6');
    assert.equal(serviceChainNames(spn('ns4', 'svc4', 'p8082')).svc, 'KUBE-SVC-EBDQOQU5SJFXRIL3');
    assert.equal(serviceChainNames(spn('ns2', 'svc2', 'p80')).svl, 'KUBE-SVL-GNZBNJ2PO5MGZ6GT');
    // Endpoint chains hash the endpoint string too; these are upstream's literal addresses, used
    // here only as hash input.
    assert.equal(
      endpointChainName(spn('ns1', 'svc1', 'p80'), { key: '10.180.0.1:80' }),
      'KUBE-SEP-SXIVWICOYRO3J4NJ',
    );
    assert.equal(
      endpointChainName(spn('ns4', 'svc4', 'p80'), { key: '10.180.0.5:80' }),
      'KUBE-SEP-C6EBXVWJJZMIWKLZ',
    );
    assert.equal(
      endpointChainName(spn('ns1', 'svc1', 'p80'), { key: '10.0.0.0:80' }),
      'KUBE-SEP-DKGQUZGBKLTPAR56',
    );
  });

  test('matches upstream formula computed with node:crypto', () => {
    const b32 = (s: string) => {
      // RFC 4648 by the book, bit string → 5-bit groups.
      const bits = [...createHash('sha256').update(s).digest()]
        .map((b) => b.toString(2).padStart(8, '0'))
        .join('');
      let out = '';
      for (let i = 0; i < bits.length; i += 5) {
        out += 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[Number.parseInt(bits.slice(i, i + 5).padEnd(5, '0'), 2)];
      }
      return out.slice(0, 16);
    };
    assert.equal(portProtoHash(spn('ns7', 'web', 'https', 'UDP')), b32('ns7/web:httpsudp'));
    assert.equal(portProtoHash(spn('ns7', 'web', '', 'SCTP')), b32('ns7/websctp'));
    assert.equal(
      endpointChainName(spn('ns7', 'web', 'h', 'TCP'), { key: '[fd00:10:180::1]:8080' }),
      `KUBE-SEP-${b32('ns7/web:htcp[fd00:10:180::1]:8080')}`,
    );
    assert.equal(base32(new Uint8Array([0xff, 0x00, 0x10])), '74ABA');
  });

  test('names fit the 28-character limit', () => {
    const long = spn('a'.repeat(63), 'b'.repeat(63), 'c'.repeat(15));
    for (const n of Object.values(serviceChainNames(long))) assert.ok(n.length <= 28, n);
    assert.ok(endpointChainName(long, { key: '198.18.0.1:1' }).length <= 28);
  });

  test('isServiceChainName', () => {
    for (const c of ['KUBE-SVC-X', 'KUBE-SVL-X', 'KUBE-EXT-X', 'KUBE-FW-X', 'KUBE-SEP-X'])
      assert.ok(isServiceChainName(c));
    for (const c of ['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-MARK-MASQ', 'KUBE-FORWARD', 'KUBE-XLB-X'])
      assert.ok(!isServiceChainName(c), c);
  });
});

describe('number formats', () => {
  test('probabilities as Go %0.10f (upstream TestComputeProbability)', () => {
    const want: Record<number, string> = {
      1: '1.0000000000',
      2: '0.5000000000',
      3: '0.3333333333',
      7: '0.1428571429',
      10: '0.1000000000',
      100: '0.0100000000',
      1000: '0.0010000000',
      10000: '0.0001000000',
      100000: '0.0000100000',
      100001: '0.0000099999',
      // An exact tie: Go rounds half to even where toFixed would print ...813.
      2048: '0.0004882812',
    };
    for (const [n, p] of Object.entries(want)) assert.equal(computeProbability(Number(n)), p, `n=${n}`);
    let prev = 0;
    for (let i = 100000; i > 1; i--) {
      const p = Number(computeProbability(i));
      assert.ok(p > prev, `probability not increasing at ${i}`);
      prev = p;
    }
  });

  test('masquerade mark as Go %#08x', () => {
    assert.equal(masqueradeMark(14), '0x00004000');
    assert.equal(masqueradeMark(0), '0x00000001');
    assert.equal(masqueradeMark(31), '0x80000000');
  });
});
