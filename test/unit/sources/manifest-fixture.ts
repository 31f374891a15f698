// Shared by the ManifestSource tests: a temp manifest directory, a recording handler and a
// bounded wait. Not a test file itself (no .test suffix).
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../../src/log/logger.ts';
import type { EndpointSlice, KubeObject, Node, Service } from '../../../src/model/k8s.ts';
import type { ProxyHandlers } from '../../../src/sources/handlers.ts';
import { ManifestSource } from '../../../src/sources/manifests/manifest-source.ts';

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

/** Polls `cond` every 5 ms; fails with `what` after `timeoutMs`. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

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
  const source = new ManifestSource({
    dir,
    logger,
    debounceMs: 10,
    pollIntervalMs: options.pollIntervalMs ?? 50,
  });
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
