/**
 * JSON text as a tree that JSON.stringify cannot make: keys may repeat, and
 * keys and strings are written unit by unit, so that one character can be
 * escaped (`\u004c`), swapped for a case variant or for a rune Go folds to an
 * ASCII letter (`ſ` → s, `K` → k), or a lone surrogate added. Mutations are
 * plain data, applied to a copy, so fast-check generates and shrinks them.
 */

/** A string written as JSON units: each is one character, raw (`a`) or escaped (`\n`, `\u004c`). */
export type Units = readonly string[];

export type JsonNode =
  | { readonly kind: 'object'; readonly entries: readonly JsonEntry[] }
  | { readonly kind: 'array'; readonly items: readonly JsonNode[] }
  | { readonly kind: 'string'; readonly units: Units }
  /** A number, `true`, `false` or `null`, written as is. */
  | { readonly kind: 'literal'; readonly text: string };

export interface JsonEntry {
  readonly key: Units;
  readonly value: JsonNode;
}

/** Units of a string, escaped only where JSON requires it. */
export function unitsOf(text: string): Units {
  return [...text].map((char) => {
    const code = char.codePointAt(0) as number;
    if (char === '"' || char === '\\') return `\\${char}`;
    if (code < 0x20) return `\\u${code.toString(16).padStart(4, '0')}`;
    return char;
  });
}

/** The tree of a JSON-compatible value (undefined members are left out, as JSON.stringify does). */
export function nodeOf(value: unknown): JsonNode {
  if (value === null) return { kind: 'literal', text: 'null' };
  if (typeof value === 'string') return { kind: 'string', units: unitsOf(value) };
  if (typeof value === 'number' || typeof value === 'boolean') return { kind: 'literal', text: JSON.stringify(value) };
  if (Array.isArray(value)) return { kind: 'array', items: value.map(nodeOf) };
  if (typeof value === 'object') {
    return {
      kind: 'object',
      entries: Object.entries(value as Record<string, unknown>)
        .filter(([, item]) => item !== undefined)
        .map(([key, item]) => ({ key: unitsOf(key), value: nodeOf(item) })),
    };
  }
  throw new TypeError(`not JSON: ${typeof value}`);
}

export function textOf(node: JsonNode): string {
  switch (node.kind) {
    case 'object':
      return `{${node.entries.map((entry) => `"${entry.key.join('')}":${textOf(entry.value)}`).join(',')}}`;
    case 'array':
      return `[${node.items.map(textOf).join(',')}]`;
    case 'string':
      return `"${node.units.join('')}"`;
    case 'literal':
      return node.text;
  }
}

export type Mutation =
  /** Writes the entry's key again, right after it or at the end of its object, with another value. */
  | { readonly op: 'duplicate-key'; readonly at: number; readonly last: boolean; readonly value: JsonNode }
  /** Upper-cases one ASCII letter of the key. */
  | { readonly op: 'case-key'; readonly at: number; readonly unit: number }
  /** Writes an `s` of the key as U+017F or a `k` as U+212A (raw or escaped). */
  | { readonly op: 'fold-key'; readonly at: number; readonly unit: number; readonly escaped: boolean }
  /** Writes one character of the key as a \u escape (the key stays the same). */
  | { readonly op: 'escape-key'; readonly at: number; readonly unit: number; readonly upperHex: boolean }
  /** Writes one character of a string value as a \u escape (the value stays the same). */
  | { readonly op: 'escape-value'; readonly at: number; readonly unit: number }
  /** Adds an unpaired surrogate escape to a string value. */
  | { readonly op: 'lone-surrogate'; readonly at: number; readonly code: number }
  | { readonly op: 'null-value'; readonly at: number }
  /** Rewrites a whole number with a fraction, an exponent or a sign (`1.0`, `1e0`, `-0`). */
  | { readonly op: 'number-form'; readonly at: number; readonly form: number }
  | { readonly op: 'replace-value'; readonly at: number; readonly value: JsonNode }
  /** Adds a field to an object (objects counted in document order). */
  | { readonly op: 'add-field'; readonly object: number; readonly key: string; readonly value: JsonNode }
  /** Rotates the entries of an object. */
  | { readonly op: 'reorder'; readonly object: number; readonly by: number };

interface Slot {
  readonly parent: JsonEntry[];
  readonly index: number;
}

/** Mutable copy, and the objects and entries of it in document order. */
function mutableCopy(node: JsonNode, objects: JsonEntry[][], slots: Slot[]): JsonNode {
  switch (node.kind) {
    case 'object': {
      const entries: JsonEntry[] = [];
      objects.push(entries);
      for (const entry of node.entries) {
        slots.push({ parent: entries, index: entries.length });
        entries.push({ key: entry.key, value: mutableCopy(entry.value, objects, slots) });
      }
      return { kind: 'object', entries };
    }
    case 'array':
      return { kind: 'array', items: node.items.map((item) => mutableCopy(item, objects, slots)) };
    default:
      return node;
  }
}

const NUMBER_FORMS: readonly ((integer: string) => string)[] = [
  (n) => `${n}.0`,
  (n) => `${n}e0`,
  (n) => `${n}E+0`,
  (n) => (n === '0' ? '-0' : `-${n}`),
  (n) => `${n}.00e00`,
];

const hex4 = (code: number, upper = false): string => {
  const hex = code.toString(16).padStart(4, '0');
  return `\\u${upper ? hex.toUpperCase() : hex}`;
};

/** The unit's character when it is one UTF-16 unit written raw; undefined for escapes and astral characters. */
function rawChar(unit: string | undefined): string | undefined {
  return unit !== undefined && unit.length === 1 && unit !== '\\' ? unit : undefined;
}

function replaceUnit(units: Units, index: number, unit: string): Units {
  return units.map((item, at) => (at === index ? unit : item));
}

/** Applies the mutations in order to a copy of `node`; an index wraps around, a mutation that fits nothing does nothing. */
export function mutate(node: JsonNode, mutations: readonly Mutation[]): JsonNode {
  let root = node;
  for (const mutation of mutations) {
    const objects: JsonEntry[][] = [];
    const slots: Slot[] = [];
    root = mutableCopy(root, objects, slots);
    if (mutation.op === 'add-field' || mutation.op === 'reorder') {
      const entries = objects[mutation.object % Math.max(objects.length, 1)];
      if (entries === undefined) continue;
      if (mutation.op === 'add-field') entries.splice(mutation.object % (entries.length + 1), 0, { key: unitsOf(mutation.key), value: mutation.value });
      else entries.push(...entries.splice(0, mutation.by % Math.max(entries.length, 1)));
      continue;
    }
    const slot = slots[mutation.at % Math.max(slots.length, 1)];
    if (slot === undefined) continue;
    const entry = slot.parent[slot.index] as JsonEntry;
    const set = (next: JsonEntry): void => {
      slot.parent[slot.index] = next;
    };
    switch (mutation.op) {
      case 'duplicate-key':
        slot.parent.splice(mutation.last ? slot.parent.length : slot.index + 1, 0, { key: entry.key, value: mutation.value });
        break;
      case 'case-key': {
        const index = mutation.unit % Math.max(entry.key.length, 1);
        const char = rawChar(entry.key[index]);
        if (char !== undefined && /[a-z]/.test(char)) set({ key: replaceUnit(entry.key, index, char.toUpperCase()), value: entry.value });
        break;
      }
      case 'fold-key': {
        // Start at the chosen unit and take the first s or k from there.
        const count = entry.key.length;
        for (let step = 0; step < count; step++) {
          const index = (mutation.unit + step) % count;
          const char = rawChar(entry.key[index])?.toLowerCase();
          if (char !== 's' && char !== 'k') continue;
          const code = char === 's' ? 0x17f : 0x212a;
          set({ key: replaceUnit(entry.key, index, mutation.escaped ? hex4(code) : String.fromCharCode(code)), value: entry.value });
          break;
        }
        break;
      }
      case 'escape-key': {
        const index = mutation.unit % Math.max(entry.key.length, 1);
        const char = rawChar(entry.key[index]);
        if (char !== undefined) set({ key: replaceUnit(entry.key, index, hex4(char.charCodeAt(0), mutation.upperHex)), value: entry.value });
        break;
      }
      case 'escape-value': {
        const value = entry.value;
        if (value.kind !== 'string' || value.units.length === 0) break;
        const index = mutation.unit % value.units.length;
        const char = rawChar(value.units[index]);
        if (char !== undefined) set({ key: entry.key, value: { kind: 'string', units: replaceUnit(value.units, index, hex4(char.charCodeAt(0))) } });
        break;
      }
      case 'lone-surrogate': {
        const value = entry.value;
        if (value.kind === 'string') set({ key: entry.key, value: { kind: 'string', units: [...value.units, hex4(0xd800 + (mutation.code % 0x800))] } });
        break;
      }
      case 'null-value':
        set({ key: entry.key, value: { kind: 'literal', text: 'null' } });
        break;
      case 'number-form': {
        const value = entry.value;
        if (value.kind === 'literal' && /^\d+$/.test(value.text)) {
          const form = NUMBER_FORMS[mutation.form % NUMBER_FORMS.length] as (integer: string) => string;
          set({ key: entry.key, value: { kind: 'literal', text: form(value.text) } });
        }
        break;
      }
      case 'replace-value':
        set({ key: entry.key, value: mutation.value });
        break;
    }
  }
  return root;
}
