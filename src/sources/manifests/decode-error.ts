import { InvalidManifestError } from '../../errors.ts';

/**
 * One bad document or object in a manifest file. `keys` names the objects it was meant to describe,
 * where they can still be told, so that the source keeps their last good state.
 */
export class ManifestDecodeError extends InvalidManifestError {
  readonly reason: string;
  readonly keys: readonly string[];
  constructor(file: string, line: number | undefined, reason: string, keys: readonly string[] = []) {
    super(file, line, reason);
    this.name = 'ManifestDecodeError';
    this.reason = reason;
    this.keys = keys;
  }
}
