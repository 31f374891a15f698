import { InvalidManifestError } from '../../errors.ts';

/** The object and field a refusal is about: "Service default/web", "spec.ports[0].port". */
export interface RefusedField {
  readonly object: string;
  readonly path: string;
}

/**
 * One bad document or object in a manifest file. `keys` names the objects it was meant to describe,
 * where they can still be told, so that the source keeps their last good state. `field` is set when
 * a recognised object was refused for one of its fields (a type error or a value kube-apiserver
 * would refuse).
 */
export class ManifestDecodeError extends InvalidManifestError {
  readonly reason: string;
  readonly keys: readonly string[];
  readonly field: RefusedField | undefined;
  constructor(
    file: string,
    line: number | undefined,
    reason: string,
    keys: readonly string[] = [],
    field?: RefusedField,
  ) {
    super(file, line, reason);
    this.name = 'ManifestDecodeError';
    this.reason = reason;
    this.keys = keys;
    this.field = field;
  }
}
