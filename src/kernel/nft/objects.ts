// The nftables object model of a transaction, and its rendering to `nft -f` text.
// Every name, comment, key and rule is checked here: this is the last gate before the kernel.
import { KubeProxyError } from '../../errors.ts';

export type Family = 'ip' | 'ip6';
export type Verb = 'add' | 'flush' | 'delete';

export interface TableObject {
  readonly kind: 'table';
  readonly comment?: string;
}

export interface ChainObject {
  readonly kind: 'chain';
  readonly name: string;
  /** Base chains only. */
  readonly base?: { readonly type: 'filter' | 'nat'; readonly hook: string; readonly priority: number };
  readonly comment?: string;
}

export interface RuleObject {
  readonly kind: 'rule';
  readonly chain: string;
  readonly rule: string;
  readonly comment?: string;
}

export interface SetObject {
  readonly kind: 'set' | 'map';
  readonly name: string;
  /** e.g. "ipv4_addr" or "ipv4_addr . inet_proto . inet_service : verdict". */
  readonly type: string;
  readonly flags?: readonly string[];
  readonly timeoutSeconds?: number;
  readonly comment?: string;
}

export interface ElementObject {
  readonly kind: 'element';
  /** The set or map the element belongs to. */
  readonly set: string;
  /** Key fields, joined with " . ". */
  readonly key: readonly string[];
  /** Map elements only. */
  readonly value?: string;
  /** Sets with timeouts only: the element expires this many seconds from now, not after the set's timeout. */
  readonly expiresSeconds?: number;
  readonly comment?: string;
}

export type NftObject = TableObject | ChainObject | RuleObject | SetObject | ElementObject;

export interface Operation {
  readonly verb: Verb;
  readonly object: NftObject;
}

const NAME = /^[A-Za-z_.][A-Za-z0-9/\-_.]*$/;
const MAX_NAME = 256;
const MAX_COMMENT = 128;
const TOKEN = /^[A-Za-z0-9_.:/-]+$/;
const VALUE = /^(?:(?:goto|jump) [A-Za-z_.][A-Za-z0-9/\-_.]*|drop|accept|[A-Za-z0-9_.:/-]+)$/;
const RULE_FORBIDDEN = /[\n\r#;"\\]/;

function invalid(message: string): KubeProxyError {
  return new KubeProxyError('KP_ERR_NFT_INVALID', message);
}

export function checkName(what: string, name: string): void {
  if (name.length === 0 || name.length > MAX_NAME || !NAME.test(name))
    throw invalid(`invalid ${what} name ${JSON.stringify(name)}`);
}

function checkComment(comment: string | undefined): void {
  if (comment === undefined) return;
  if (comment.length > MAX_COMMENT || /["\\\n\r]/.test(comment) || !/^[\x20-\x7e]*$/.test(comment)) {
    throw invalid(`invalid comment ${JSON.stringify(comment)}`);
  }
}

/** Throws a KP_ERR_NFT_INVALID error if the object would not render to safe nft text. */
export function validate(verb: Verb, obj: NftObject): void {
  switch (obj.kind) {
    case 'table':
      checkComment(obj.comment);
      return;
    case 'chain':
      checkName('chain', obj.name);
      checkComment(obj.comment);
      if (
        obj.base &&
        ((obj.base.type !== 'filter' && obj.base.type !== 'nat') ||
          !/^[a-z]+$/.test(obj.base.hook) ||
          !Number.isInteger(obj.base.priority))
      ) {
        throw invalid(`invalid base chain ${obj.name}`);
      }
      return;
    case 'rule':
      checkName('chain', obj.chain);
      checkComment(obj.comment);
      if (verb !== 'add') throw invalid(`rules can only be added`);
      if (obj.rule.length === 0 || RULE_FORBIDDEN.test(obj.rule))
        throw invalid(`invalid rule ${JSON.stringify(obj.rule)}`);
      return;
    case 'set':
    case 'map':
      checkName(obj.kind, obj.name);
      checkComment(obj.comment);
      if (!/^[a-z0-9_. :]+$/.test(obj.type))
        throw invalid(`invalid ${obj.kind} type ${JSON.stringify(obj.type)}`);
      for (const f of obj.flags ?? [])
        if (!/^[a-z]+$/.test(f)) throw invalid(`invalid flag ${JSON.stringify(f)}`);
      if (
        obj.timeoutSeconds !== undefined &&
        !(Number.isInteger(obj.timeoutSeconds) && obj.timeoutSeconds > 0)
      ) {
        throw invalid(`invalid timeout ${obj.timeoutSeconds}`);
      }
      return;
    case 'element':
      checkName('set', obj.set);
      checkComment(obj.comment);
      if (obj.key.length === 0 || obj.key.some((k) => !TOKEN.test(k)))
        throw invalid(`invalid element key ${JSON.stringify(obj.key)}`);
      if (obj.value !== undefined && !VALUE.test(obj.value))
        throw invalid(`invalid element value ${JSON.stringify(obj.value)}`);
      if (
        obj.expiresSeconds !== undefined &&
        !(Number.isInteger(obj.expiresSeconds) && obj.expiresSeconds > 0)
      ) {
        throw invalid(`invalid element expiry ${obj.expiresSeconds}`);
      }
      return;
  }
}

function commentClause(comment: string | undefined): string {
  return comment === undefined ? '' : ` comment "${comment}"`;
}

/** An element as it stands between the braces of `add element`: key, comment, value. */
export function renderElementBody(obj: ElementObject): string {
  const value = obj.value === undefined ? '' : ` : ${obj.value}`;
  const expires = obj.expiresSeconds === undefined ? '' : ` expires ${obj.expiresSeconds}s`;
  return `${obj.key.join(' . ')}${expires}${commentClause(obj.comment)}${value}`;
}

/** A rule's text with its comment, as it stands in a chain. */
export function renderRuleBody(obj: RuleObject): string {
  return `${obj.rule}${commentClause(obj.comment)}`;
}

/** One line of `nft -f` input. The object must have passed validate(). */
export function render(family: Family, table: string, op: Operation): string {
  const { verb, object: obj } = op;
  const t = `${family} ${table}`;
  switch (obj.kind) {
    case 'table':
      return verb === 'add' && obj.comment !== undefined
        ? `add table ${t} { comment "${obj.comment}" ; }`
        : `${verb} table ${t}`;
    case 'chain': {
      if (verb !== 'add') return `${verb} chain ${t} ${obj.name}`;
      const parts: string[] = [];
      if (obj.base) parts.push(`type ${obj.base.type} hook ${obj.base.hook} priority ${obj.base.priority} ;`);
      if (obj.comment !== undefined) parts.push(`comment "${obj.comment}" ;`);
      return parts.length
        ? `add chain ${t} ${obj.name} { ${parts.join(' ')} }`
        : `add chain ${t} ${obj.name}`;
    }
    case 'rule':
      return `add rule ${t} ${obj.chain} ${renderRuleBody(obj)}`;
    case 'set':
    case 'map': {
      if (verb !== 'add') return `${verb} ${obj.kind} ${t} ${obj.name}`;
      const parts = [`type ${obj.type} ;`];
      if (obj.flags?.length) parts.push(`flags ${obj.flags.join(',')} ;`);
      if (obj.timeoutSeconds !== undefined) parts.push(`timeout ${obj.timeoutSeconds}s ;`);
      if (obj.comment !== undefined) parts.push(`comment "${obj.comment}" ;`);
      return `add ${obj.kind} ${t} ${obj.name} { ${parts.join(' ')} }`;
    }
    case 'element':
      return `${verb} element ${t} ${obj.set} { ${verb === 'delete' ? obj.key.join(' . ') : renderElementBody(obj)} }`;
  }
}
