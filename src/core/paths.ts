/**
 * Field path patterns, as kinds declare where their pod specs and volume lists
 * sit: `spec.replicatedJobs[].template.spec.template.spec` (`[]` every item of
 * a list), `spec.pytorchReplicaSpecs.*.template.spec` (`*` every value of a
 * map). Walking one visits only the named fields, never the whole object, and
 * gives each match its concrete path (`spec.replicatedJobs[2].template…`).
 */
import { ModelgateError } from './errors.ts';
import { isPlainObject } from './guards.ts';

type Step = { readonly kind: 'key'; readonly key: string } | { readonly kind: 'items' } | { readonly kind: 'values' };

export interface PathPattern {
  readonly source: string;
  readonly steps: readonly Step[];
}

export class PathPatternError extends ModelgateError<'INVALID_PATH_PATTERN'> {
  static readonly codes = { INVALID_PATH_PATTERN: {} } as const;
  override readonly name = 'PathPatternError';
  constructor(pattern: string, reason: string) {
    super(PathPatternError.codes, 'INVALID_PATH_PATTERN', `path ${JSON.stringify(pattern)} ${reason}`);
  }
}

const KEY = /^[A-Za-z_$][\w$-]*$/;

/** Parses `a.b[].c.*.d`; throws PathPatternError with what is wrong. */
export function parsePathPattern(source: string): PathPattern {
  if (source.trim() === '') throw new PathPatternError(source, 'is empty');
  const steps: Step[] = [];
  for (const part of source.split('.')) {
    const match = /^([^[\]]*)((?:\[\])*)$/.exec(part);
    if (match === null) throw new PathPatternError(source, `has a malformed part ${JSON.stringify(part)} (write lists as name[])`);
    const [, name = '', lists = ''] = match;
    if (name === '*') steps.push({ kind: 'values' });
    else if (KEY.test(name)) steps.push({ kind: 'key', key: name });
    else
      throw new PathPatternError(
        source,
        `has ${name === '' ? 'an empty part' : `the part ${JSON.stringify(name)}`}: use field names, * for every value of a map, [] for every item of a list`,
      );
    for (let i = 0; i < lists.length / 2; i++) steps.push({ kind: 'items' });
  }
  return { source, steps };
}

export interface PathMatch {
  readonly value: unknown;
  /** The concrete field path, e.g. `spec.replicatedJobs[0].template.spec`. */
  readonly path: string;
}

const appendKey = (path: string, key: string): string => (KEY.test(key) ? (path === '' ? key : `${path}.${key}`) : `${path}[${JSON.stringify(key)}]`);

/** Every value at `pattern` under `root` (relative paths are joined to `base`). */
export function walkPath(root: unknown, pattern: PathPattern, base = ''): PathMatch[] {
  let current: PathMatch[] = [{ value: root, path: base }];
  for (const step of pattern.steps) {
    const next: PathMatch[] = [];
    for (const { value, path } of current) {
      if (step.kind === 'key') {
        if (isPlainObject(value) && Object.hasOwn(value, step.key) && value[step.key] !== undefined && value[step.key] !== null) {
          next.push({ value: value[step.key], path: appendKey(path, step.key) });
        }
      } else if (step.kind === 'items') {
        if (Array.isArray(value)) for (const [index, item] of value.entries()) next.push({ value: item as unknown, path: `${path}[${index}]` });
      } else if (isPlainObject(value)) {
        for (const [key, item] of Object.entries(value)) next.push({ value: item, path: appendKey(path, key) });
      }
    }
    current = next;
    if (current.length === 0) break;
  }
  return current;
}
