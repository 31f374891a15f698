// Typed errors with stable codes: call sites branch on `code`, never on message text.

export type ErrorCode =
  | 'KP_ERR_INVALID_OBJECT'
  | 'KP_ERR_INVALID_MANIFEST'
  | 'KP_ERR_INVALID_FLAG'
  | 'KP_ERR_INVALID_CONFIG'
  | 'KP_ERR_NFT_INVALID'
  | 'KP_ERR_NFT_NOT_FOUND'
  | 'KP_ERR_NFT_EXISTS'
  | 'KP_ERR_NFT_FAILED'
  | 'KP_ERR_NETLINK'
  | 'KP_ERR_IPVS_NOT_FOUND'
  | 'KP_ERR_IPVS_EXISTS'
  | 'KP_ERR_IPVS_FAILED'
  | 'KP_ERR_IPVS_UNAVAILABLE'
  | 'KP_ERR_IPSET'
  | 'KP_ERR_EXEC'
  | 'KP_ERR_EXEC_TIMEOUT'
  | 'KP_ERR_NOT_IMPLEMENTED'
  | 'KP_ERR_CLOSED'
  | 'KP_ERR_INVALID_QUERY'
  | 'KP_ERR_NOT_FOUND'
  | 'KP_ERR_FORBIDDEN'
  | 'KP_ERR_EXPLAIN_DISABLED'
  | 'KP_ERR_HTTP'
  | 'KP_ERR_HNS'
  | 'KP_ERR_API_STATUS'
  | 'KP_ERR_API_TIMEOUT'
  | 'KP_ERR_API_RESPONSE'
  | 'KP_ERR_WATCH_LINE_TOO_LONG'
  | 'KP_ERR_NODE_TIMEOUT'
  | 'KP_ERR_ALREADY_STARTED'
  | 'KP_ERR_RULE_TEXT'
  | 'KP_ERR_TRACE'
  | 'KP_ERR_LISTEN';

export class KubeProxyError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KubeProxyError';
    this.code = code;
  }
}

/** A Kubernetes object that cannot be proxied as given: the object is skipped, nothing else is affected. */
export class InvalidObjectError extends KubeProxyError {
  readonly object: string;
  constructor(object: string, message: string) {
    super('KP_ERR_INVALID_OBJECT', `${object}: ${message}`);
    this.name = 'InvalidObjectError';
    this.object = object;
  }
}

/** A manifest file (or one document in it) that could not be read. */
export class InvalidManifestError extends KubeProxyError {
  readonly file: string;
  readonly line: number | undefined;
  constructor(file: string, line: number | undefined, message: string) {
    super('KP_ERR_INVALID_MANIFEST', `${file}${line !== undefined ? `:${line}` : ''}: ${message}`);
    this.name = 'InvalidManifestError';
    this.file = file;
    this.line = line;
  }
}

/** The message of anything thrown: an Error's message, else its string form. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function hasCode(err: unknown, code: ErrorCode): boolean {
  return err instanceof KubeProxyError && err.code === code;
}
