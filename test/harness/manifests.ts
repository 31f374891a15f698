// A temporary manifest directory for the proxy's --manifests flag.
import { rmSync } from 'node:fs';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { register } from '../../src/sandbox/cleanup.ts';

export class ManifestDir {
  readonly path: string;
  readonly #unregister: () => void;

  private constructor(path: string) {
    this.path = path;
    // Also removed on signals and exit, with the sandboxes.
    this.#unregister = register({ teardownSync: () => rmSync(path, { recursive: true, force: true }) });
  }

  static async create(): Promise<ManifestDir> {
    return new ManifestDir(await mkdtemp(join(tmpdir(), 'kpt-manifests-')));
  }

  /** Writes the objects as one multi-document YAML file, atomically (the proxy is watching). */
  async write(file: string, ...objects: object[]): Promise<void> {
    const text = objects.map((o) => stringify(o)).join('---\n');
    // The temporary name has no .yaml suffix so the watcher never reads a half-written file.
    const tmp = join(this.path, `.${file}.tmp`);
    await writeFile(tmp, text);
    await rename(tmp, join(this.path, file));
  }

  async remove(file: string): Promise<void> {
    await rm(join(this.path, file), { force: true });
  }

  async close(): Promise<void> {
    this.#unregister();
    await rm(this.path, { recursive: true, force: true });
  }
}
