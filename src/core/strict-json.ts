/**
 * One strict reading of the JSON documents the container runtime reads
 * (manifests, indexes, configs, signature payloads and bundles).
 *
 * Go's encoding/json, which CRI-O and containerd decode with, matches object
 * keys to struct fields case-insensitively (with Unicode simple folding:
 * `ſ` is an `s`, the Kelvin sign `K` a `k`) and keeps the last of duplicate
 * keys. JSON.parse keeps the last exact key only. A document holding both
 * `"layers"` and `"Layers"` is therefore read one way here and another way by
 * the runtime. This reader refuses what could be read two ways:
 * - duplicate keys, in every object at any depth;
 * - keys that equal a known field of their object only when case is ignored;
 * - invalid UTF-8, a byte-order mark, nesting deeper than 64;
 * - values of the wrong JSON type for a known field, and integer fields
 *   written with a fraction or exponent (Go refuses `1e3` for an int64).
 * Known fields whose value is null are dropped, as Go leaves the field at its
 * zero value; unknown fields are kept, as Go ignores them.
 */
import { ModelgateError } from './errors.ts';
import { isUtf8 } from 'node:buffer';

/** What a position in a document holds. */
export type JsonShape =
  /** Any value; nested objects are still checked for duplicate keys. */
  | { readonly type: 'any' }
  | { readonly type: 'string' }
  /** A string holding standard base64, as Go decodes a []byte field (line breaks ignored). */
  | { readonly type: 'bytes' }
  | { readonly type: 'boolean' }
  /** A whole number written without fraction or exponent, within JavaScript's safe integers. */
  | { readonly type: 'integer' }
  /** `max`: more items is refused as soon as the parser meets them, before it reads the rest. */
  | { readonly type: 'array'; readonly items: JsonShape; readonly max?: number }
  /** A map: arbitrary keys (matched exactly, as Go's maps are), values of one shape. */
  | { readonly type: 'map'; readonly values: JsonShape }
  /** A struct: known fields (matched as Go matches them), others ignored. */
  | { readonly type: 'object'; readonly fields: Readonly<Record<string, JsonShape>> };

export const ANY: JsonShape = { type: 'any' };
export const STRING: JsonShape = { type: 'string' };
export const BYTES: JsonShape = { type: 'bytes' };
export const INTEGER: JsonShape = { type: 'integer' };
export const BOOLEAN: JsonShape = { type: 'boolean' };
export const arrayOf = (items: JsonShape, max?: number): JsonShape => (max === undefined ? { type: 'array', items } : { type: 'array', items, max });
export const mapOf = (values: JsonShape): JsonShape => ({ type: 'map', values });
export const objectOf = (fields: Readonly<Record<string, JsonShape>>): JsonShape => ({ type: 'object', fields });
export const STRING_MAP: JsonShape = mapOf(STRING);

/** Why a document was refused, with the field path (`layers[2].annotations`). */
const JSON_CODES = { syntax: 'JSON_SYNTAX', ambiguous: 'JSON_AMBIGUOUS', type: 'JSON_TYPE' } as const;

export class StrictJsonError extends ModelgateError<(typeof JSON_CODES)[keyof typeof JSON_CODES]> {
  static readonly codes = { JSON_SYNTAX: {}, JSON_AMBIGUOUS: {}, JSON_TYPE: {} } as const;
  override readonly name = 'StrictJsonError';
  readonly path: string;
  readonly reason: string;
  /** `syntax`: not JSON at all; `ambiguous`: JSON that decoders could read differently; `type`: a known field of the wrong type. */
  readonly kind: 'syntax' | 'ambiguous' | 'type';
  constructor(path: string, reason: string, kind: StrictJsonError['kind']) {
    super(StrictJsonError.codes, JSON_CODES[kind], path === '' ? reason : `${path}: ${reason}`);
    this.path = path;
    this.reason = reason;
    this.kind = kind;
  }
}

/** `the <what> is not valid JSON (…)` or `the <what> was refused: …`, for messages. */
export function describeRefusal(what: string, error: unknown): string {
  if (!(error instanceof StrictJsonError)) return `the ${what} is not valid JSON`;
  if (error.kind === 'type' && error.path === '') return `the ${what} is not a JSON object`;
  return error.kind === 'syntax' ? `the ${what} is not valid JSON (${error.message})` : `the ${what} was refused: ${error.message}`;
}

const MAX_DEPTH = 64;

/**
 * Go's EqualFold for keys compared with ASCII field names: ASCII letters fold
 * to lower case, and the only other runes whose simple-fold orbit holds an
 * ASCII letter are U+017F (ſ, with s) and U+212A (Kelvin sign, with k).
 */
export function foldKey(key: string): string {
  let out = '';
  for (let i = 0; i < key.length; i++) {
    const code = key.charCodeAt(i);
    if (code >= 0x41 && code <= 0x5a) out += String.fromCharCode(code + 0x20);
    else if (code === 0x17f) out += 's';
    else if (code === 0x212a) out += 'k';
    else out += key[i];
  }
  return out;
}

/** Folded name → field name, per object shape (computed once). */
const foldedFields = new WeakMap<Readonly<Record<string, JsonShape>>, ReadonlyMap<string, string>>();

function foldedFieldsOf(fields: Readonly<Record<string, JsonShape>>): ReadonlyMap<string, string> {
  let map = foldedFields.get(fields);
  if (map === undefined) {
    map = new Map(Object.keys(fields).map((name) => [foldKey(name), name]));
    foldedFields.set(fields, map);
  }
  return map;
}

function joinPath(path: string, key: string): string {
  const safe = /^[A-Za-z_$][\w$.-]*$/.test(key) ? key : JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key);
  return path === '' ? safe : `${path}.${safe}`;
}

const describeKey = (key: string): string => JSON.stringify(key.length > 60 ? `${key.slice(0, 60)}…` : key);

class Parser {
  readonly #text: string;
  #at = 0;

  constructor(text: string) {
    this.#text = text;
  }

  parseDocument(shape: JsonShape): unknown {
    this.#skipSpace();
    const value = this.#value(shape, '', 0);
    this.#skipSpace();
    if (this.#at !== this.#text.length) this.#syntax('', 'unexpected text after the JSON value');
    return value;
  }

  #fail(path: string, reason: string, kind: StrictJsonError['kind'] = 'ambiguous'): never {
    throw new StrictJsonError(path, reason, kind);
  }

  #syntax(path: string, what: string): never {
    this.#fail(path, `${what} at offset ${this.#at}`, 'syntax');
  }

  #skipSpace(): void {
    const text = this.#text;
    let at = this.#at;
    while (at < text.length) {
      const code = text.charCodeAt(at);
      if (code !== 0x20 && code !== 0x0a && code !== 0x0d && code !== 0x09) break;
      at++;
    }
    this.#at = at;
  }

  #value(shape: JsonShape, path: string, depth: number): unknown {
    if (depth > MAX_DEPTH) this.#fail(path, `nested deeper than ${MAX_DEPTH} levels`);
    const code = this.#text.charCodeAt(this.#at);
    switch (code) {
      case 0x7b: // {
        if (shape.type !== 'any' && shape.type !== 'object' && shape.type !== 'map') this.#wrongType(path, shape, 'an object');
        return this.#object(shape, path, depth);
      case 0x5b: // [
        if (shape.type !== 'any' && shape.type !== 'array') this.#wrongType(path, shape, 'a list');
        return this.#array(shape.type === 'array' ? shape.items : shape, path, depth, shape.type === 'array' ? shape.max : undefined);
      case 0x22: {
        // "
        if (shape.type !== 'any' && shape.type !== 'string' && shape.type !== 'bytes') this.#wrongType(path, shape, 'a string');
        const text = this.#string(path);
        if (shape.type === 'bytes' && !isBase64(text)) this.#fail(path, 'must be standard base64, as Go decodes bytes', 'type');
        return text;
      }
      case 0x74: // t
        this.#literal('true', path);
        if (shape.type !== 'any' && shape.type !== 'boolean') this.#wrongType(path, shape, 'true');
        return true;
      case 0x66: // f
        this.#literal('false', path);
        if (shape.type !== 'any' && shape.type !== 'boolean') this.#wrongType(path, shape, 'false');
        return false;
      case 0x6e: // n
        this.#literal('null', path);
        return null;
      default:
        if (code === 0x2d || (code >= 0x30 && code <= 0x39)) return this.#number(shape, path);
        if (Number.isNaN(code)) this.#syntax(path, 'the document ends early');
        return this.#syntax(path, `unexpected character ${JSON.stringify(this.#text[this.#at])}`);
    }
  }

  #wrongType(path: string, shape: JsonShape, got: string): never {
    const expected: Record<JsonShape['type'], string> = {
      any: 'a value',
      string: 'a string',
      bytes: 'a base64 string',
      boolean: 'true or false',
      integer: 'a whole number',
      array: 'a list',
      map: 'an object',
      object: 'an object',
    };
    this.#fail(path, `must be ${expected[shape.type]}, got ${got}`, 'type');
  }

  #literal(word: string, path: string): void {
    if (!this.#text.startsWith(word, this.#at)) this.#syntax(path, `expected ${word}`);
    this.#at += word.length;
  }

  #number(shape: JsonShape, path: string): number {
    const text = this.#text;
    const start = this.#at;
    let at = start;
    if (text.charCodeAt(at) === 0x2d) at++;
    const digits = (): number => {
      const from = at;
      while (at < text.length && text.charCodeAt(at) >= 0x30 && text.charCodeAt(at) <= 0x39) at++;
      return at - from;
    };
    const intStart = at;
    const intDigits = digits();
    if (intDigits === 0) this.#syntax(path, 'a number needs digits');
    if (intDigits > 1 && text.charCodeAt(intStart) === 0x30) this.#syntax(path, 'a number must not have leading zeros');
    let integral = true;
    if (text.charCodeAt(at) === 0x2e) {
      integral = false;
      at++;
      if (digits() === 0) this.#syntax(path, 'a fraction needs digits');
    }
    const e = text.charCodeAt(at);
    if (e === 0x65 || e === 0x45) {
      integral = false;
      at++;
      const sign = text.charCodeAt(at);
      if (sign === 0x2b || sign === 0x2d) at++;
      if (digits() === 0) this.#syntax(path, 'an exponent needs digits');
    }
    this.#at = at;
    const literal = text.slice(start, at);
    const value = Number(literal);
    if (shape.type === 'integer') {
      if (!integral) this.#fail(path, `must be a whole number written without fraction or exponent, got ${literal.slice(0, 40)}`, 'type');
      if (!Number.isSafeInteger(value)) this.#fail(path, `the number ${literal.slice(0, 40)} is too large`, 'type');
    } else if (shape.type !== 'any') {
      this.#wrongType(path, shape, `the number ${literal.slice(0, 40)}`);
    }
    return value;
  }

  #string(path: string): string {
    const text = this.#text;
    let at = this.#at + 1;
    let out = '';
    let chunk = at;
    for (;;) {
      if (at >= text.length) this.#syntax(path, 'a string is not closed');
      const code = text.charCodeAt(at);
      if (code === 0x22) break;
      if (code < 0x20) this.#syntax(path, 'a control character inside a string');
      if (code !== 0x5c) {
        at++;
        continue;
      }
      out += text.slice(chunk, at);
      const escaped = text[at + 1];
      at += 2;
      switch (escaped) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          const unit = this.#hex4(at, path);
          at += 4;
          if (unit >= 0xd800 && unit <= 0xdbff && text[at] === '\\' && text[at + 1] === 'u') {
            const low = this.#hex4(at + 2, path);
            if (low >= 0xdc00 && low <= 0xdfff) {
              out += String.fromCharCode(unit, low);
              at += 6;
              break;
            }
          }
          // Go turns an unpaired surrogate into U+FFFD; so does this reader.
          out += unit >= 0xd800 && unit <= 0xdfff ? '\ufffd' : String.fromCharCode(unit);
          break;
        }
        default:
          this.#syntax(path, `invalid escape \\${escaped ?? ''}`);
      }
      chunk = at;
    }
    out += text.slice(chunk, at);
    this.#at = at + 1;
    return out;
  }

  #hex4(at: number, path: string): number {
    const digits = this.#text.slice(at, at + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(digits)) this.#syntax(path, 'invalid \\u escape');
    return Number.parseInt(digits, 16);
  }

  #array(items: JsonShape, path: string, depth: number, max = Number.POSITIVE_INFINITY): unknown[] {
    this.#at++;
    const out: unknown[] = [];
    this.#skipSpace();
    if (this.#text.charCodeAt(this.#at) === 0x5d) {
      this.#at++;
      return out;
    }
    for (;;) {
      this.#skipSpace();
      if (out.length === max) this.#fail(path, `has more than ${max} items; modelgate reads at most ${max}`, 'type');
      out.push(this.#value(items, `${path}[${out.length}]`, depth + 1));
      this.#skipSpace();
      const code = this.#text.charCodeAt(this.#at);
      this.#at++;
      if (code === 0x5d) return out;
      if (code !== 0x2c) this.#syntax(path, 'expected , or ] in a list');
    }
  }

  #object(shape: JsonShape, path: string, depth: number): Record<string, unknown> {
    this.#at++;
    const out: Record<string, unknown> = {};
    const seen = new Set<string>();
    const fields = shape.type === 'object' ? shape.fields : undefined;
    const folded = fields === undefined ? undefined : foldedFieldsOf(fields);
    this.#skipSpace();
    if (this.#text.charCodeAt(this.#at) === 0x7d) {
      this.#at++;
      return out;
    }
    for (;;) {
      this.#skipSpace();
      if (this.#text.charCodeAt(this.#at) !== 0x22) this.#syntax(path, 'expected a key in double quotes');
      const key = this.#string(path);
      if (seen.has(key)) this.#fail(path, `the key ${describeKey(key)} appears more than once (decoders disagree on which one counts)`);
      seen.add(key);
      this.#skipSpace();
      if (this.#text.charCodeAt(this.#at) !== 0x3a) this.#syntax(path, 'expected : after a key');
      this.#at++;
      this.#skipSpace();
      let valueShape: JsonShape = ANY;
      let known = false;
      if (fields !== undefined && folded !== undefined) {
        const field = Object.hasOwn(fields, key) ? fields[key] : undefined;
        if (field !== undefined) {
          valueShape = field;
          known = true;
        } else {
          const variant = folded.get(foldKey(key));
          if (variant !== undefined) {
            this.#fail(
              path,
              `the key ${describeKey(key)} differs from the field ${JSON.stringify(variant)} only in case; Go's encoding/json (the container runtime's decoder) would read it as ${JSON.stringify(variant)}`,
            );
          }
        }
      } else if (shape.type === 'map') {
        valueShape = shape.values;
      }
      let value = this.#value(valueShape, joinPath(path, key), depth + 1);
      // Go decodes null into a map entry as the zero value ("" for strings), into a known field as nothing.
      if (value === null && shape.type === 'map' && (valueShape.type === 'string' || valueShape.type === 'bytes')) value = '';
      if (!(known && value === null)) {
        if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
        else out[key] = value;
      }
      this.#skipSpace();
      const code = this.#text.charCodeAt(this.#at);
      this.#at++;
      if (code === 0x7d) return out;
      if (code !== 0x2c) this.#syntax(path, 'expected , or } in an object');
    }
  }
}

/** Standard base64 with padding, as Go's encoding/json decodes a []byte (it drops \r and \n first). */
function isBase64(text: string): boolean {
  const compact = text.replace(/[\r\n]/g, '');
  return compact.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(compact);
}

/**
 * Parses `bytes` as one JSON document of `shape`; throws StrictJsonError with
 * the field path and the reason when it could be read more than one way.
 */
export function parseStrictJson(bytes: Uint8Array, shape: JsonShape = ANY): unknown {
  if (!isUtf8(bytes)) throw new StrictJsonError('', 'the document is not valid UTF-8', 'syntax');
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) throw new StrictJsonError('', 'the document starts with a byte-order mark, which JSON decoders refuse', 'syntax');
  return new Parser(text).parseDocument(shape);
}

/** parseStrictJson for text already decoded (annotation values, DSSE payloads given as strings). */
export function parseStrictJsonText(text: string, shape: JsonShape = ANY): unknown {
  return new Parser(text).parseDocument(shape);
}
