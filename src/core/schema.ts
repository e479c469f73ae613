/**
 * One declaration per document: a TypeBox schema is at once the JSON Schema that
 * `schemas/*.json` publishes, the TypeScript type (`Static<typeof X>`) and, compiled, the
 * validator. This module holds the few builders the declarations share and the validator
 * that reports problems as modelgate does (core/schema-errors.ts).
 */
import Type from 'typebox';
import type { Static, TProperties, TSchema, TUnsafe } from 'typebox';
import { Compile } from 'typebox/compile';
import type { Validator } from 'typebox/compile';
import { Settings } from 'typebox/system';
import { isPlainObject } from './guards.ts';
import type { KeywordMessages, SchemaError } from './schema-errors.ts';
import { formatSchemaErrors } from './schema-errors.ts';

export type { SchemaError } from './schema-errors.ts';

/** One of a few strings: `{type: string, enum}`, so a number is told it is not a string. */
export function stringEnum<const Values extends readonly string[]>(values: Values, options: { description?: string } = {}): TUnsafe<Values[number]> {
  return Type.Unsafe<Values[number]>({ type: 'string', enum: [...values], ...options });
}

/** A string matching a pattern, with the message editors (yaml-language-server) and modelgate show. */
export function patternString(pattern: RegExp, message: string, options: { description?: string; maxLength?: number } = {}) {
  return Type.String({ pattern: pattern.source, patternErrorMessage: message, ...options });
}

/** A string that is not only blanks (`\S` is what `String.prototype.trim` removes). */
export function nonEmptyString(options: { description?: string; maxLength?: number } = {}) {
  return patternString(/\S/, 'must not be empty', options);
}

/**
 * A value with a check JSON Schema cannot say (a key that must parse, a pattern that must
 * compile): `problem` returns why the value is wrong, or undefined. The check runs in the
 * validator only; the published schema has the structural part.
 */
export function withCheck<T extends TSchema>(schema: T, problem: (value: Static<T>) => string | undefined) {
  return Type.Refine(
    schema,
    (value: Static<T>) => problem(value) === undefined,
    (value: Static<T>) => problem(value) ?? '',
  );
}

/** An object that names every field it accepts. */
export function strictObject<T extends Parameters<typeof Type.Object>[0]>(properties: T, options: { description?: string; title?: string } = {}) {
  return Type.Object(properties, { additionalProperties: false, ...options });
}

export type ValidationResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly errors: SchemaError[] };

/** A declaration compiled on first use (start-up pays only for the documents it reads). */
export class SchemaValidator<T extends TSchema> {
  readonly #schema: T;
  readonly #messages: KeywordMessages;
  #compiled: Validator<TProperties, T> | undefined;

  constructor(schema: T, messages: KeywordMessages = {}) {
    this.#schema = schema;
    this.#messages = messages;
  }

  get schema(): T {
    return this.#schema;
  }

  /** Whether the value is valid as it is (null fields not dropped). */
  check(value: unknown): value is Static<T> {
    return this.#validator().Check(value);
  }

  /**
   * Validates a parsed document. A field set to null is absent (YAML `key:` with no value),
   * so such fields are dropped first; the value returned is that cleaned, typed document.
   * `path` prefixes every field path (`spec.signatures` for a section checked alone).
   */
  validate(value: unknown, path = ''): ValidationResult<Static<T>> {
    const cleaned = withoutNullFields(value, this.#schema, this.#schema);
    const validator = this.#validator();
    if (validator.Check(cleaned)) return { ok: true, value: cleaned };
    return { ok: false, errors: formatSchemaErrors(this.#schema, cleaned, allErrors(validator, cleaned), path, this.#messages) };
  }

  #validator(): Validator<TProperties, T> {
    this.#compiled ??= Compile(this.#schema);
    return this.#compiled;
  }
}

/**
 * Every error, not TypeBox's first 8: a policy author sees every mistake at once. (A lower
 * maxErrors is no bound: TypeBox applies it per operand of anyOf, whose results it then misreads.)
 */
function allErrors<T extends TSchema>(validator: Validator<TProperties, T>, value: unknown) {
  const { maxErrors } = Settings.Get();
  Settings.Set({ maxErrors: Number.POSITIVE_INFINITY });
  try {
    return validator.Errors(value);
  } finally {
    Settings.Set({ maxErrors });
  }
}

const validators = new WeakMap<TSchema, SchemaValidator<TSchema>>();

/** The problems of a value against a declaration, e.g. one section alone (`spec.signatures`); [] when valid. */
export function validate(value: unknown, schema: TSchema, path = ''): SchemaError[] {
  let validator = validators.get(schema);
  if (validator === undefined) {
    validator = new SchemaValidator(schema);
    validators.set(schema, validator);
  }
  const result = validator.validate(value, path);
  return result.ok ? [] : result.errors;
}

/** A copy without the declared fields whose value is null, following `properties`, `items` and local `$ref`s. */
function withoutNullFields(value: unknown, schema: unknown, root: unknown): unknown {
  if (!isPlainObject(schema)) return value;
  const reference = schema['$ref'];
  if (typeof reference === 'string' && reference.startsWith('#/')) {
    const target = reference
      .slice(2)
      .split('/')
      .reduce<unknown>((node, key) => (isPlainObject(node) ? node[key] : undefined), root);
    return withoutNullFields(value, target, root);
  }
  const { properties, items } = schema;
  if (isPlainObject(value) && isPlainObject(properties)) {
    const entries = Object.entries(value).filter(([key, field]) => !(field === null && Object.hasOwn(properties, key)));
    return Object.fromEntries(entries.map(([key, field]) => [key, Object.hasOwn(properties, key) ? withoutNullFields(field, properties[key], root) : field]));
  }
  if (Array.isArray(value) && isPlainObject(items)) return value.map((item) => withoutNullFields(item, items, root));
  return value;
}

/** The JSON Schema of a declaration as published: plain JSON, without the validator-only checks. */
export function publishedSchema(schema: TSchema, header: Record<string, string>): Record<string, unknown> {
  const plain: unknown = JSON.parse(JSON.stringify(schema, (key: string, value: unknown) => (key.startsWith('~') ? undefined : value)));
  return { ...header, ...(isPlainObject(plain) ? plain : {}) };
}
