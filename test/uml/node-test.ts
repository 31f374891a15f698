// Runs one of the project's node:test files inside a guest and reads its TAP output.
import { resolve } from 'node:path';
import { type GuestOptions, type GuestResult, runInGuest } from './guest.ts';
import { parseTap, type TapSummary } from './tap.ts';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');
/** The project's pinned Node.js, by its host path (the guest sees the host's tree). */
const NODE = resolve(REPO_ROOT, 'node_modules/.bin/node');

export interface TestFileRun {
  file: string;
  guest: GuestResult;
  tap: TapSummary;
}

export interface TestFileOptions extends Pick<GuestOptions, 'onStart' | 'onOutput' | 'kernel' | 'memory'> {
  /** Repository-relative path of the test file. */
  file: string;
  /** The environment the file runs with (mode variables, CI, ...). */
  env: Readonly<Record<string, string>>;
  timeoutMs: number;
}

export async function runTestFileInGuest(opts: TestFileOptions): Promise<TestFileRun> {
  const guest = await runInGuest({
    command: [NODE, '--test', '--test-reporter=tap', opts.file],
    cwd: REPO_ROOT,
    env: opts.env,
    timeoutMs: opts.timeoutMs,
    ...(opts.onStart && { onStart: opts.onStart }),
    ...(opts.onOutput && { onOutput: opts.onOutput }),
    ...(opts.kernel && { kernel: opts.kernel }),
    ...(opts.memory && { memory: opts.memory }),
  });
  return { file: opts.file, guest, tap: parseTap(guest.output) };
}

/** Failing and skipped tests, one per paragraph, for an assertion message. */
export function describeTestRun(r: TestFileRun): string {
  const parts: string[] = [];
  for (const f of r.tap.failures) parts.push(`FAIL ${f.name}\n  ${f.detail.replaceAll('\n', '\n  ')}`);
  for (const s of r.tap.skips) parts.push(`SKIP ${s.name}: ${s.detail}`);
  return parts.join('\n');
}
