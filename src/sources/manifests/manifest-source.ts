// The --manifests DIR source: API objects from *.yaml, *.yml and *.json files in one directory,
// kept in sync with the files as they are edited. Bad input is logged once and skipped; every
// object keeps its last good state until its file is fixed or removed.
import { createHash } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage, InvalidManifestError, KubeProxyError } from '../../errors.ts';
import type { Logger } from '../../log/logger.ts';
import { type Clock, realClock } from '../../util/clock.ts';
import type { ProxyHandlers, Source } from '../handlers.ts';
import { type Change, deliverChange, diffObjects } from './changes.ts';
import { type DecodedObject, type DecodeResult, decodeManifestFile } from './decode.ts';
import { type Conflict, fileObjectsAfterDecode, mergeFiles, serviceCIDRUnion } from './file-state.ts';
import { isManifestFileName, probeFile, readManifestFile } from './manifest-files.ts';

export interface ManifestSourceOptions {
  dir: string;
  logger: Logger;
  /** Quiet time after a watch event before the directory is re-read; default 100 ms. */
  debounceMs?: number;
  /**
   * The longest a rescan waits for quiet after the first unhandled watch event; default 4 ×
   * debounceMs. Without it a file rewritten more often than debounceMs would only be seen by the
   * poll.
   */
  maxDebounceMs?: number;
  /** How often file stats are compared, in case a watch event was missed; default 1000 ms. */
  pollIntervalMs?: number;
  /** Time for the debounce and the poll. */
  clock?: Clock;
}

interface FileState {
  signature: string;
  /** Hash of the text last decoded; undefined until the file was read once. */
  hash: string | undefined;
  objects: readonly DecodedObject[];
  /** The read error last logged for this file, so that it is logged once. */
  readError: string | undefined;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

export class ManifestSource implements Source {
  readonly #dir: string;
  readonly #logger: Logger;
  readonly #debounceMs: number;
  readonly #clock: Clock;
  readonly #maxDebounceMs: number;
  readonly #pollIntervalMs: number;

  #handlers: ProxyHandlers | undefined;
  /** By file name (not path), for every eligible file seen in the directory. */
  readonly #files = new Map<string, FileState>();
  #delivered = new Map<string, DecodedObject>();
  #cidrs: string[] = [];
  #conflicts = new Set<string>();
  #synced = false;
  #dirError: string | undefined;

  #watcher: FSWatcher | undefined;
  #watchedIno: bigint | undefined;
  #watchError: string | undefined;
  #debounceTimer: unknown;
  /** When the pending rescan must run at the latest (the clock's now()). */
  #debounceDeadline = 0;
  #pollTimer: unknown;
  /** Files named by watch events: re-read even when their stats look unchanged. */
  #dirty = new Set<string>();
  #allDirty = false;

  /** Rescans run one at a time, in order. */
  #queue: Promise<void> = Promise.resolve();
  #rescanQueued = false;
  #started = false;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(options: ManifestSourceOptions) {
    this.#dir = options.dir;
    this.#logger = options.logger;
    this.#debounceMs = options.debounceMs ?? 100;
    this.#clock = options.clock ?? realClock;
    this.#maxDebounceMs = Math.max(this.#debounceMs, options.maxDebounceMs ?? 4 * this.#debounceMs);
    this.#pollIntervalMs = options.pollIntervalMs ?? 1000;
  }

  async start(handlers: ProxyHandlers): Promise<void> {
    if (this.#closed) throw new KubeProxyError('KP_ERR_CLOSED', 'manifest source is closed');
    if (this.#started) throw new KubeProxyError('KP_ERR_ALREADY_STARTED', 'manifest source already started');
    this.#started = true;
    let ino: bigint;
    try {
      const st = await stat(this.#dir, { bigint: true });
      if (!st.isDirectory()) throw new KubeProxyError('KP_ERR_INVALID_MANIFEST', 'not a directory');
      ino = st.ino;
    } catch (err) {
      throw new InvalidManifestError(
        this.#dir,
        undefined,
        `cannot read manifest directory: ${errorMessage(err)}`,
      );
    }
    this.#handlers = handlers;
    // Watch before the first read, so that nothing written meanwhile is missed.
    this.#ensureWatcher(ino);
    await this.#enqueue(async () => {
      await this.#rescan();
      if (this.#closed) return;
      this.#synced = true;
      handlers.onServicesSynced();
      handlers.onEndpointSlicesSynced();
      handlers.onNodeSynced();
      handlers.onServiceCIDRsChanged([...this.#cidrs]);
    });
    this.#schedulePoll();
  }

  /**
   * Resolves when the rescans queued so far have finished: with a manual clock, tests know then
   * that nothing more is coming from what the clock fired.
   */
  idle(): Promise<void> {
    return this.#queue;
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#closed = true;
    if (this.#debounceTimer !== undefined) this.#clock.clearTimeout(this.#debounceTimer);
    if (this.#pollTimer !== undefined) this.#clock.clearTimeout(this.#pollTimer);
    this.#watcher?.close();
    this.#watcher = undefined;
    await this.#queue;
  }

  #enqueue(job: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(job);
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Every pollIntervalMs until close. */
  #schedulePoll(): void {
    if (this.#closed) return;
    this.#pollTimer = this.#clock.setTimeout(() => {
      this.#requestRescan();
      this.#schedulePoll();
    }, this.#pollIntervalMs);
  }

  #requestRescan(): void {
    if (this.#closed || this.#rescanQueued) return;
    this.#rescanQueued = true;
    void this.#enqueue(async () => {
      this.#rescanQueued = false;
      if (!this.#closed) await this.#rescan();
    });
  }

  #onWatchEvent(filename: string | null): void {
    if (this.#closed) return;
    if (filename === null) this.#allDirty = true;
    else if (isManifestFileName(filename)) this.#dirty.add(filename);
    else return;
    const now = this.#clock.now();
    if (this.#debounceTimer === undefined) this.#debounceDeadline = now + this.#maxDebounceMs;
    else this.#clock.clearTimeout(this.#debounceTimer);
    const wait = Math.max(0, Math.min(this.#debounceMs, this.#debounceDeadline - now));
    this.#debounceTimer = this.#clock.setTimeout(() => {
      this.#debounceTimer = undefined;
      this.#requestRescan();
    }, wait);
  }

  /** (Re)creates the directory watch; a directory replaced under the same name needs a new one. */
  #ensureWatcher(ino: bigint): void {
    if (this.#closed || (this.#watcher && this.#watchedIno === ino)) return;
    this.#watcher?.close();
    this.#watcher = undefined;
    try {
      const w = watch(this.#dir, { persistent: true }, (_event, filename) => this.#onWatchEvent(filename));
      w.on('error', (err) => {
        this.#logWatchError(err);
        w.close();
        if (this.#watcher === w) this.#watcher = undefined;
      });
      this.#watcher = w;
      this.#watchedIno = ino;
      this.#watchError = undefined;
    } catch (err) {
      this.#logWatchError(err);
    }
  }

  #logWatchError(err: unknown): void {
    const msg = errorMessage(err);
    if (msg === this.#watchError) return;
    this.#watchError = msg;
    this.#logger.warn('Cannot watch manifest directory, relying on polling', { dir: this.#dir, err: msg });
  }

  async #rescan(): Promise<void> {
    try {
      const changed = await this.#refreshFiles();
      if (changed && !this.#closed) this.#apply();
    } catch (err) {
      // Not expected (every input error is handled below); the next rescan starts afresh.
      this.#logger.error('Manifest rescan failed', { dir: this.#dir, err: errorMessage(err) });
    }
  }

  /** Re-reads what changed on disk; true when any file's contribution may have changed. */
  async #refreshFiles(): Promise<boolean> {
    const dirty = this.#dirty;
    const allDirty = this.#allDirty;
    this.#dirty = new Set();
    this.#allDirty = false;
    let names: string[];
    try {
      names = await readdir(this.#dir);
      this.#ensureWatcher((await stat(this.#dir, { bigint: true })).ino);
      this.#dirError = undefined;
    } catch (err) {
      const msg = errorMessage(err);
      if (msg !== this.#dirError) {
        this.#logger.error('Cannot read manifest directory, keeping the last good state', {
          dir: this.#dir,
          err: msg,
        });
      }
      this.#dirError = msg;
      return false;
    }
    const eligible = names.filter(isManifestFileName).sort();
    const present = new Set(eligible);
    let changed = false;
    for (const name of [...this.#files.keys()]) {
      if (!present.has(name)) changed = this.#files.delete(name) || changed;
    }
    for (const name of eligible) {
      if (this.#closed) return false;
      if (await this.#refreshFile(name, allDirty || dirty.has(name))) changed = true;
    }
    return changed;
  }

  async #refreshFile(name: string, force: boolean): Promise<boolean> {
    const path = join(this.#dir, name);
    const prev = this.#files.get(name);
    const probe = await probeFile(path);
    if (probe.status === 'absent') return this.#files.delete(name);
    if (probe.status === 'file' && prev?.signature === probe.signature && !force) return false;

    const read = await readManifestFile(path);
    if (read.status === 'absent') return this.#files.delete(name);
    if (read.status === 'error') {
      if (prev?.readError !== read.message) {
        this.#logger.error('Cannot read manifest file, keeping its last good state', {
          file: path,
          err: read.message,
        });
      }
      const signature = probe.status === 'file' ? probe.signature : '';
      this.#files.set(name, {
        signature,
        hash: prev?.hash,
        objects: prev?.objects ?? [],
        readError: read.message,
      });
      return false;
    }
    const hash = createHash('sha256').update(read.text).digest('hex');
    if (prev && prev.hash === hash) {
      // Same content (touched, or rewritten identically): nothing to decode, nothing to log again.
      prev.signature = read.signature;
      prev.readError = undefined;
      return false;
    }
    const result = decodeManifestFile(path, read.text);
    this.#report(result, prev?.objects ?? []);
    const objects = fileObjectsAfterDecode(prev?.objects ?? [], result);
    this.#files.set(name, { signature: read.signature, hash, objects, readError: undefined });
    return true;
  }

  /**
   * Logs what decoding found, one line per bad document or object; called only when a file's
   * content changed, so nothing repeats. A refused object keeps its last good state only if it had
   * one (in this file, before this edit).
   */
  #report(result: DecodeResult, previous: readonly DecodedObject[]): void {
    const hadGood = new Set(previous.map((o) => o.key));
    for (const err of result.errors) {
      if (!err.field) this.#logger.error('Skipping invalid manifest', { err: err.message });
      else if (err.keys.some((k) => hadGood.has(k)))
        this.#logger.error('Refusing invalid object, keeping its last good state', { err: err.message });
      else this.#logger.error('Refusing invalid object', { err: err.message });
    }
    for (const doc of result.ignored) {
      this.#logger.v(4, 'Ignoring manifest object of unhandled kind', {
        file: doc.file,
        line: doc.line,
        apiVersion: doc.apiVersion,
        kind: doc.kind,
      });
    }
  }

  #apply(): void {
    const handlers = this.#handlers;
    if (!handlers) return;
    const names = [...this.#files.keys()].sort();
    const merged = mergeFiles(names.map((n) => this.#files.get(n)?.objects ?? []));
    this.#reportConflicts(merged.conflicts);
    const changes = diffObjects(this.#delivered, merged.objects);
    this.#delivered = merged.objects;
    for (const change of changes) {
      if (this.#closed) return;
      this.#deliver(handlers, change);
    }
    const cidrs = serviceCIDRUnion(merged.objects.values());
    const cidrsChanged = !sameList(cidrs, this.#cidrs);
    this.#cidrs = cidrs;
    if (this.#synced && cidrsChanged && !this.#closed) {
      this.#logger.v(2, 'Service CIDRs changed', { cidrs });
      this.#call(() => handlers.onServiceCIDRsChanged([...cidrs]), 'ServiceCIDR');
    }
  }

  #deliver(handlers: ProxyHandlers, change: Change): void {
    const o = change.object;
    this.#logger.v(4, `Manifest object ${change.type}`, { key: o.key, file: o.file, line: o.line });
    this.#call(() => deliverChange(handlers, change), o.key);
  }

  /** A throwing handler must not leave the source half-updated or end the process. */
  #call(fn: () => void, what: string): void {
    try {
      fn();
    } catch (err) {
      this.#logger.error('Manifest event handler failed', { object: what, err: errorMessage(err) });
    }
  }

  #reportConflicts(conflicts: readonly Conflict[]): void {
    const current = new Set<string>();
    for (const c of conflicts) {
      const id = `${c.key}\0${c.kept.file}\0${c.ignored.file}`;
      current.add(id);
      if (this.#conflicts.has(id)) continue;
      this.#logger.warn('Object defined more than once in manifests, using the first', {
        key: c.key,
        file: `${c.kept.file}:${c.kept.line}`,
        ignored: `${c.ignored.file}:${c.ignored.line}`,
      });
    }
    this.#conflicts = current;
  }
}
