// Traffic assertions shared by the kernel tests.
import assert from 'node:assert/strict';
import type { Distribution, Flow } from '../../src/sandbox/flows.ts';
import type { Sandbox } from '../../src/sandbox/topology.ts';
import { waitFor } from './wait.ts';

export function show(d: Distribution): string {
  return JSON.stringify(d);
}

/** `n` flows sent, every one answered by `pod`: the Service is fully routed to it. */
export function answeredBy(d: Distribution, pod: string, n: number): boolean {
  return d.reject + d.drop + d.error === 0 && (d.pods[pod] ?? 0) === n;
}

/** Waits until the flow is answered from `from`: the proxy has programmed the service. */
export function waitForAnswer(sandbox: Sandbox, from: string, flow: Flow, timeoutMs = 10_000): Promise<void> {
  return waitFor(
    async () => {
      const [r] = await sandbox.probe(from, [{ ...flow, timeoutMs: 300 }]);
      return r?.outcome === 'answer'
        ? { ok: true, value: undefined }
        : { ok: false, detail: JSON.stringify(r) };
    },
    { timeoutMs, intervalMs: 150, what: `an answer to ${JSON.stringify(flow)} from ${from}` },
  );
}

/** Every flow answered, each pod at least once, nobody else. */
export function assertBalanced(d: Distribution, pods: string[], context = ''): void {
  const answered = Object.values(d.pods).reduce((a, b) => a + b, 0);
  assert.equal(answered, d.total, `not all answered: ${show(d)}${context}`);
  assert.deepEqual(Object.keys(d.pods).sort(), [...pods].sort(), `answering pods: ${show(d)}${context}`);
}

/** Every answering backend saw exactly this source address. */
export function assertSources(d: Distribution, source: string, context = ''): void {
  assert.deepEqual(Object.keys(d.sources), [source], `sources seen by backends: ${show(d)}${context}`);
}
