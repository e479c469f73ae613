/**
 * A small structural validator for policy documents: it rejects unknown fields
 * and wrong types and names the field path of each problem, so a policy author
 * sees every mistake at load time rather than a surprise at admission time.
 */
import { isPlainObject } from '../core/guards.ts';

export type Schema =
  | { readonly type: 'string'; readonly enum?: readonly string[]; readonly maxLength?: number; readonly check?: (value: string) => string | undefined }
  | { readonly type: 'boolean' }
  | { readonly type: 'integer'; readonly minimum?: number; readonly maximum?: number }
  | { readonly type: 'array'; readonly items: Schema; readonly minItems?: number; readonly maxItems?: number }
  | { readonly type: 'object'; readonly properties: Readonly<Record<string, Schema>>; readonly required?: readonly string[] }
  | { readonly type: 'map'; readonly values: Schema }
  | { readonly type: 'any' };

export interface SchemaError {
  /** Field path such as `spec.match.namespaces[2]`. */
  readonly path: string;
  readonly message: string;
}

export function validate(value: unknown, schema: Schema, path: string, errors: SchemaError[] = []): SchemaError[] {
  switch (schema.type) {
    case 'any':
      break;
    case 'string':
      if (typeof value !== 'string') {
        errors.push({ path, message: `must be a string, got ${describe(value)}` });
      } else if (schema.maxLength !== undefined && value.length > schema.maxLength) {
        errors.push({ path, message: `must be at most ${schema.maxLength} characters long, got ${value.length}` });
      } else if (schema.enum !== undefined && !schema.enum.includes(value)) {
        errors.push({ path, message: `must be one of ${schema.enum.join(', ')}, got ${JSON.stringify(value)}` });
      } else if (schema.check !== undefined) {
        const problem = schema.check(value);
        if (problem !== undefined) errors.push({ path, message: problem });
      }
      break;
    case 'boolean':
      if (typeof value !== 'boolean') errors.push({ path, message: `must be true or false, got ${describe(value)}` });
      break;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) {
        errors.push({ path, message: `must be a whole number, got ${describe(value)}` });
      } else if (schema.minimum !== undefined && value < schema.minimum) {
        errors.push({ path, message: `must be at least ${schema.minimum}, got ${value}` });
      } else if (schema.maximum !== undefined && value > schema.maximum) {
        errors.push({ path, message: `must be at most ${schema.maximum}, got ${value}` });
      }
      break;
    case 'array':
      if (!Array.isArray(value)) {
        errors.push({ path, message: `must be a list, got ${describe(value)}` });
      } else if (schema.minItems !== undefined && value.length < schema.minItems) {
        errors.push({ path, message: `must have at least ${schema.minItems} item(s)` });
      } else if (schema.maxItems !== undefined && value.length > schema.maxItems) {
        errors.push({ path, message: `must have at most ${schema.maxItems} items, got ${value.length}` });
      } else {
        for (const [index, item] of value.entries()) validate(item, schema.items, `${path}[${index}]`, errors);
      }
      break;
    case 'map':
      if (!isPlainObject(value)) {
        errors.push({ path, message: `must be a mapping, got ${describe(value)}` });
      } else {
        for (const [key, item] of Object.entries(value)) validate(item, schema.values, joinPath(path, key), errors);
      }
      break;
    case 'object':
      if (!isPlainObject(value)) {
        errors.push({ path, message: `must be a mapping, got ${describe(value)}` });
        break;
      }
      for (const key of schema.required ?? []) {
        if (value[key] === undefined || value[key] === null) errors.push({ path: joinPath(path, key), message: 'is required' });
      }
      for (const [key, item] of Object.entries(value)) {
        const field = schema.properties[key];
        if (field === undefined) {
          const known = Object.keys(schema.properties).join(', ');
          errors.push({ path: joinPath(path, key), message: `is not a known field (known: ${known})` });
        } else if (item !== null && item !== undefined) {
          validate(item, field, joinPath(path, key), errors);
        }
      }
      break;
  }
  return errors;
}

function joinPath(path: string, key: string): string {
  const safe = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? key : JSON.stringify(key);
  return path === '' ? safe : `${path}.${safe}`;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  return `${typeof value} ${String(value)}`;
}
