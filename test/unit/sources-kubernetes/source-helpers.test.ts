import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../../src/log/logger.ts';
import { describeContentType, serviceCIDRUnion } from '../../../src/sources/kubernetes/kubernetes-source.ts';

test('the ServiceCIDR union is deduplicated and sorted', () => {
  assert.deepEqual(
    serviceCIDRUnion([
      { spec: { cidrs: ['198.19.16.0/20', 'fd00:10:96::/112'] } },
      { spec: { cidrs: ['198.19.64.0/24', '198.19.16.0/20'] } },
      { spec: {} },
      {},
    ]),
    ['198.19.16.0/20', '198.19.64.0/24', 'fd00:10:96::/112'],
  );
  assert.deepEqual(serviceCIDRUnion([]), []);
});

test('the content type flag: protobuf (upstream default) is accepted and logged; JSON is used', () => {
  const lines: string[] = [];
  const log = createLogger({ verbosity: 0, sink: (l) => lines.push(l) });
  describeContentType('application/json', log);
  describeContentType('', log);
  assert.deepEqual(lines, []);
  describeContentType('application/vnd.kubernetes.protobuf', log);
  assert.match(
    lines[0] ?? '',
    /Protobuf is not implemented.*contentType="application\/vnd\.kubernetes\.protobuf" using="application\/json"/,
  );
  describeContentType('text/plain', log);
  assert.match(lines[1] ?? '', /Unsupported Kubernetes API content type, using JSON/);
});
