// Shared by the ManifestSource tests: a temp manifest directory, a recording handler and a
// source on a manual clock. File-system events arrive in real time; the debounce and the poll run
// only when a test moves the clock on (drain, until). Not a test file itself (no .test suffix).
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../../src/log/logger.ts';
import type { EndpointSlice, KubeObject, Node, Service } from '../../../src/model/k8s.ts';
import type { ProxyHandlers } from '../../../src/sources/handlers.ts';
import { ManifestSource } from '../../../src/sources/manifests/manifest-source.ts';
import { ManualClock, settle } from '../../support/manual-clock.ts';

export interface RecordedEvent {
  /** "add Service default/web", "synced services", "cidrs 10.0.0.0/16" ... */
  text: string;
  old?: KubeObject;
  object?: KubeObject;
}

function ref(kind: string, o: KubeObject): string {
  const ns = o.metadata?.namespace;
  return `${kind} ${ns ? `${ns}/` : ''}${o.metadata?.name}`;
}

export class Recorder implements ProxyHandlers {
  readonly events: RecordedEvent[] = [];

  texts(from = 0): string[] {
    return this.events.slice(from).map((e) => e.text);
  }

  find(text: string, from = 0): RecordedEvent | undefined {
    return this.events.slice(from).find((e) => e.text === text);
  }

  #add(kind: string, o: KubeObject) {
    this.events.push({ text: `add ${ref(kind, o)}`, object: o });
  }
  #update(kind: string, old: KubeObject, o: KubeObject) {
    this.events.push({ text: `update ${ref(kind, o)}`, old, object: o });
  }
  #delete(kind: string, o: KubeObject) {
    this.events.push({ text: `delete ${ref(kind, o)}`, object: o });
  }

  onServiceAdd = (s: Service) => this.#add('Service', s);
  onServiceUpdate = (old: Service, s: Service) => this.#update('Service', old, s);
  onServiceDelete = (s: Service) => this.#delete('Service', s);
  onServicesSynced = () => void this.events.push({ text: 'synced services' });
  onEndpointSliceAdd = (s: EndpointSlice) => this.#add('EndpointSlice', s);
  onEndpointSliceUpdate = (old: EndpointSlice, s: EndpointSlice) => this.#update('EndpointSlice', old, s);
  onEndpointSliceDelete = (s: EndpointSlice) => this.#delete('EndpointSlice', s);
  onEndpointSlicesSynced = () => void this.events.push({ text: 'synced slices' });
  onNodeAdd = (n: Node) => this.#add('Node', n);
  onNodeUpdate = (old: Node, n: Node) => this.#update('Node', old, n);
  onNodeDelete = (n: Node) => this.#delete('Node', n);
  onNodeSynced = () => void this.events.push({ text: 'synced nodes' });
  onServiceCIDRsChanged = (cidrs: string[]) => void this.events.push({ text: `cidrs ${cidrs.join(',')}` });
}

export const SYNCED = ['synced services', 'synced slices', 'synced nodes'];

export function service(name: string, port: number | string, extra = ''): string {
  return `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\nspec:\n  ports:\n  - port: ${port}\n${extra}`;
}

export function docs(...parts: string[]): string {
  return parts.join('---\n');
}

export interface Fixture {
  dir: string;
  recorder: Recorder;
  logs: string[];
  errors: () => string[];
  warnings: () => string[];
  source: ManifestSource;
  /** The source's debounce (10 ms, capped at 40 ms) and poll (default 50 ms) run on it. */
  clock: ManualClock;
  /**
   * Delivers the watch events of the writes that have completed, moves the clock on by `ms`
   * (default: one debounce) firing the rescans due, and waits for them to finish.
   */
  drain: (ms?: number) => Promise<void>;
  /**
   * Drains one debounce at a time until `cond` holds. The clock moves only here; the wall-clock
   * wait (up to 2 s) is for file-system events still on their way, never for a timer.
   */
  until: (cond: () => boolean, what: string) => Promise<void>;
  /** Drains past the longest debounce and a poll: whatever was coming has come. */
  quiesce: () => Promise<void>;
  /** Writes atomically (temp file, then rename), as careful tools and kubectl-like writers do. */
  write: (name: string, text: string | Buffer) => Promise<void>;
  /** Writes in place (truncate, then write), as `echo > file` does. */
  writeInPlace: (name: string, text: string) => Promise<void>;
  remove: (name: string) => Promise<void>;
  start: () => Promise<void>;
}

let tmpCounter = 0;

/** Runs `body` against a fresh directory and source; everything is closed and removed afterwards. */
export async function withSource(
  body: (f: Fixture) => Promise<void>,
  options: { pollIntervalMs?: number; files?: Record<string, string> } = {},
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'kpt-manifest-source-'));
  const logs: string[] = [];
  const logger = createLogger({ verbosity: 0, sink: (line) => logs.push(line) });
  const clock = new ManualClock();
  const debounceMs = 10;
  const maxDebounceMs = 4 * debounceMs;
  const pollIntervalMs = options.pollIntervalMs ?? 50;
  const source = new ManifestSource({ dir, logger, debounceMs, maxDebounceMs, pollIntervalMs, clock });
  const drain = async (ms = debounceMs) => {
    // One turn of the event loop polls the watch descriptor: events of finished writes are in.
    await settle();
    await clock.advance(ms);
    await source.idle();
  };
  const until = async (cond: () => boolean, what: string) => {
    const deadline = performance.now() + 2000;
    while (!cond()) {
      if (performance.now() > deadline) throw new Error(`timed out after 2000 ms waiting for ${what}`);
      await drain();
      if (!cond()) await sleep(5);
    }
  };
  const recorder = new Recorder();
  const write = async (name: string, text: string | Buffer) => {
    const tmp = join(dir, `.tmp-${tmpCounter++}`);
    await writeFile(tmp, text);
    await rename(tmp, join(dir, name));
  };
  try {
    for (const [name, text] of Object.entries(options.files ?? {})) await write(name, text);
    await body({
      dir,
      recorder,
      logs,
      errors: () => logs.filter((l) => l.startsWith('E')),
      warnings: () => logs.filter((l) => l.startsWith('W')),
      source,
      clock,
      drain,
      until,
      quiesce: () => drain(maxDebounceMs + pollIntervalMs),
      write,
      writeInPlace: (name, text) => writeFile(join(dir, name), text),
      remove: (name) => rm(join(dir, name), { recursive: true, force: true }),
      start: () => source.start(recorder),
    });
  } finally {
    await source.close();
    await rm(dir, { recursive: true, force: true });
  }
}
