/**
 * Turns the JSON Schema validator's errors into modelgate's messages: one problem per field,
 * named by its path (`spec.match.namespaces[2]`), saying what was expected and what was
 * found, in the order the fields appear in the document. A field reports its first problem
 * only (type, then size, then allowed values, then syntax), and a list of the wrong size
 * is not searched item by item.
 */
import type { TLocalizedValidationError } from 'typebox/error';
import { isPlainObject } from './guards.ts';

export interface SchemaError {
  /** Field path such as `spec.match.namespaces[2]`; '' for the document itself. */
  readonly path: string;
  readonly message: string;
}

/** Messages for the `format` and `pattern` keywords of schemas that carry no `patternErrorMessage` (vendored ones). */
export interface KeywordMessages {
  readonly formats?: Readonly<Record<string, string>>;
  readonly patterns?: Readonly<Record<string, string>>;
}

type Segment = string | number;

interface Problem {
  readonly at: readonly Segment[];
  readonly rank: number;
  readonly message: string;
}

/** Which problem of one field is reported: the first check that fails, in this order. */
const RANK: Readonly<Record<string, number>> = {
  type: 0,
  minLength: 1,
  maxLength: 1,
  minimum: 1,
  minItems: 1,
  maximum: 2,
  maxItems: 2,
  enum: 3,
  const: 3,
  pattern: 4,
  format: 4,
  '~refine': 5,
};

const TYPE_NAMES: Readonly<Record<string, string>> = {
  string: 'a string',
  boolean: 'true or false',
  integer: 'a whole number',
  number: 'a number',
  array: 'a list',
  object: 'a mapping',
};

/** Unknown fields named per mapping: a document of thousands says enough with the first ones. */
const MAX_UNKNOWN_FIELDS = 20;

export function formatSchemaErrors(
  schema: unknown,
  value: unknown,
  errors: readonly TLocalizedValidationError[],
  base: string,
  messages: KeywordMessages = {},
): SchemaError[] {
  const problems: Problem[] = [];
  for (const error of errors) {
    const at = segmentsOf(value, error.instancePath);
    switch (error.keyword) {
      case 'required':
        for (const key of error.params.requiredProperties) problems.push({ at: [...at, key], rank: 0, message: 'is required' });
        break;
      case 'additionalProperties': {
        const properties = propertyAt(schemaAt(schema, error.schemaPath), 'properties');
        const known = Object.keys(isPlainObject(properties) ? properties : {}).join(', ');
        const unknown = error.params.additionalProperties;
        for (const key of unknown.slice(0, MAX_UNKNOWN_FIELDS)) problems.push({ at: [...at, key], rank: 0, message: `is not a known field (known: ${known})` });
        const next = unknown[MAX_UNKNOWN_FIELDS];
        if (next !== undefined)
          problems.push({
            at: [...at, next],
            rank: 0,
            message: `is not a known field, nor are ${unknown.length - MAX_UNKNOWN_FIELDS - 1} more of this mapping`,
          });
        break;
      }
      case 'boolean': // `additionalProperties: false` per field; reported above with the known fields
        break;
      default:
        problems.push({ at, rank: RANK[error.keyword] ?? 6, message: messageOf(error, schemaAt(schema, error.schemaPath), valueAt(value, at), messages) });
    }
  }
  return inDocumentOrder(value, firstPerField(problems)).map((problem) => ({ path: pathOf(base, problem.at), message: problem.message }));
}

/** The first problem of each field; nothing below a list whose size is wrong. */
function firstPerField(problems: readonly Problem[]): Problem[] {
  const byField = new Map<string, Problem>();
  for (const problem of problems) {
    const key = JSON.stringify(problem.at);
    const earlier = byField.get(key);
    if (earlier === undefined || problem.rank < earlier.rank) byField.set(key, problem);
  }
  const sized = new Set([...byField.values()].filter((problem) => problem.rank > 0 && problem.rank < 3).map((problem) => JSON.stringify(problem.at)));
  // Looked up by each proper prefix of a problem's path: its depth, not the number of problems.
  const below = (problem: Problem): boolean => problem.at.some((_, length) => sized.has(JSON.stringify(problem.at.slice(0, length))));
  return [...byField.values()].filter((problem) => !below(problem));
}

function keyOrder(node: Record<string, unknown>, positions: WeakMap<object, Map<string, number>>): Map<string, number> {
  let order = positions.get(node);
  if (order === undefined) {
    order = new Map(Object.keys(node).map((key, index) => [key, index]));
    positions.set(node, order);
  }
  return order;
}

/** Sorted as the fields appear in the document; a missing required field before its siblings. */
function inDocumentOrder(value: unknown, problems: readonly Problem[]): Problem[] {
  const positions = new WeakMap<object, Map<string, number>>();
  const keyed = problems.map((problem, index) => ({ problem, index, key: positionOf(value, problem.at, positions) }));
  keyed.sort((a, b) => compareKeys(a.key, b.key) || a.index - b.index);
  return keyed.map((entry) => entry.problem);
}

/** A field's position in each mapping on its path; `positions` keeps each mapping's key order, read once per mapping. */
function positionOf(value: unknown, at: readonly Segment[], positions: WeakMap<object, Map<string, number>>): number[] {
  const key: number[] = [];
  let node = value;
  for (const segment of at) {
    if (typeof segment === 'number') {
      key.push(segment);
      node = Array.isArray(node) ? node[segment] : undefined;
    } else {
      key.push(isPlainObject(node) ? (keyOrder(node, positions).get(segment) ?? -1) : -1);
      node = isPlainObject(node) ? node[segment] : undefined;
    }
  }
  return key;
}

function compareKeys(a: readonly number[], b: readonly number[]): number {
  for (let index = 0; index < Math.min(a.length, b.length); index++) {
    const difference = (a[index] ?? 0) - (b[index] ?? 0);
    if (difference !== 0) return difference;
  }
  return a.length - b.length;
}

function messageOf(error: TLocalizedValidationError, node: unknown, value: unknown, messages: KeywordMessages): string {
  switch (error.keyword) {
    case 'type':
      return `must be ${TYPE_NAMES[String(error.params.type)] ?? String(error.params.type)}, got ${describe(value)}`;
    case 'minLength':
      return error.params.limit === 1 ? 'must not be empty' : `must be at least ${error.params.limit} characters long, got ${length(value)}`;
    case 'maxLength':
      return `must be at most ${error.params.limit} characters long, got ${length(value)}`;
    case 'minimum':
      return `must be at least ${error.params.limit}, got ${String(value)}`;
    case 'maximum':
      return `must be at most ${error.params.limit}, got ${String(value)}`;
    case 'minItems':
      return `must have at least ${error.params.limit} item(s)`;
    case 'maxItems':
      return `must have at most ${error.params.limit} items, got ${Array.isArray(value) ? value.length : 0}`;
    case 'enum':
      return `must be one of ${error.params.allowedValues.map(String).join(', ')}, got ${JSON.stringify(value)}`;
    case 'const':
      return `must be ${JSON.stringify(error.params.allowedValue)}, got ${JSON.stringify(value)}`;
    case 'pattern': {
      const custom = propertyAt(node, 'patternErrorMessage');
      return typeof custom === 'string'
        ? custom
        : (messages.patterns?.[String(error.params.pattern)] ?? `must match the pattern ${String(error.params.pattern)}`);
    }
    case 'format':
      return messages.formats?.[error.params.format] ?? `must be a ${error.params.format}`;
    case '~refine':
      return error.params.message;
    default:
      return error.message;
  }
}

/** Characters as JSON Schema counts them: code points. */
const length = (value: unknown): number => (typeof value === 'string' ? [...value].length : 0);

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  return `${typeof value} ${String(value)}`;
}

/** `/spec/match/namespaces/2` as segments, indices as numbers where the document has a list. */
function segmentsOf(value: unknown, pointer: string): Segment[] {
  if (pointer === '') return [];
  const segments: Segment[] = [];
  let node = value;
  for (const raw of pointer.slice(1).split('/')) {
    const part = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (Array.isArray(node)) {
      segments.push(Number(part));
      node = node[Number(part)];
    } else {
      segments.push(part);
      node = isPlainObject(node) ? node[part] : undefined;
    }
  }
  return segments;
}

function valueAt(value: unknown, at: readonly Segment[]): unknown {
  let node = value;
  for (const segment of at)
    node = typeof segment === 'number' ? (Array.isArray(node) ? node[segment] : undefined) : isPlainObject(node) ? node[segment] : undefined;
  return node;
}

/** The schema node a `#/properties/spec/...` schema path names, through local `$ref`s (`#/$defs/...`). */
function schemaAt(schema: unknown, pointer: string): unknown {
  let node = resolved(schema, schema);
  for (const raw of pointer.replace(/^#\/?/, '').split('/')) {
    if (raw === '') continue;
    node = resolved(schema, propertyAt(node, raw.replaceAll('~1', '/').replaceAll('~0', '~')));
  }
  return node;
}

function resolved(root: unknown, node: unknown): unknown {
  const reference = propertyAt(node, '$ref');
  if (typeof reference !== 'string' || !reference.startsWith('#/')) return node;
  return resolved(root, schemaAt(root, reference));
}

function propertyAt(node: unknown, key: string): unknown {
  if (Array.isArray(node)) return node[Number(key)];
  return isPlainObject(node) ? node[key] : undefined;
}

function pathOf(base: string, at: readonly Segment[]): string {
  let path = base;
  for (const segment of at) path = typeof segment === 'number' ? `${path}[${segment}]` : joinPath(path, segment);
  return path;
}

function joinPath(path: string, key: string): string {
  const safe = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? key : JSON.stringify(key);
  return path === '' ? safe : `${path}.${safe}`;
}
