/**
 * Globs matched in linear time. Patterns come from policies, including a
 * tenant's namespaced ones, so they are compiled to a small NFA and
 * simulated state set by state set: O(pattern × text), never the exponential
 * backtracking a regular expression like `**a**a**a**b` compiles to.
 *
 * Path globs (namespaces, repositories, media types, file names):
 * - `*` and `?` stay inside one `/`-separated segment;
 * - `**` as a whole segment crosses segments: `a/**` matches `a` and all
 *   below it, `**∕b` matches `b` at any depth, `**` alone matches anything;
 *   a `**` inside a segment (`x**y`) is a `*`.
 *
 * Host globs (`registries`, `[host]:port`): `*` and `?` stay inside one DNS
 * label, so `*.corp.example` matches `a.corp.example` but not
 * `a.b.corp.example`; `**` matches one or more labels; a port is literal or
 * `*`. Hosts are compared in lower case.
 */

type CharClass = 'any' | 'segment' | 'label' | 'labels';

/** A state: an optional character edge and ε-edges. */
interface State {
  /** Char code to match exactly, or a class; undefined: no character edge. */
  readonly edge: number | CharClass | undefined;
  readonly to: number;
  readonly eps: readonly number[];
}

export type GlobKind = 'path' | 'host';

export interface CompiledGlob {
  test(text: string): boolean;
}

const SLASH = 0x2f;
const DOT = 0x2e;
const COLON = 0x3a;

function inClass(cls: CharClass, code: number): boolean {
  switch (cls) {
    case 'any':
      return true;
    case 'segment':
      return code !== SLASH;
    case 'label':
      return code !== SLASH && code !== DOT && code !== COLON;
    case 'labels':
      return code !== SLASH && code !== COLON;
  }
}

class Nfa implements CompiledGlob {
  readonly #states: readonly State[];
  readonly #accept: number;
  /** Scratch state sets, reused: matching is synchronous. */
  readonly #current: Uint8Array;
  readonly #next: Uint8Array;
  readonly #stack: Int32Array;

  constructor(states: readonly State[]) {
    this.#states = states;
    this.#accept = states.length;
    this.#current = new Uint8Array(states.length + 1);
    this.#next = new Uint8Array(states.length + 1);
    this.#stack = new Int32Array((states.length + 1) * 4);
  }

  /** Adds `state` and everything reachable from it by ε-edges. */
  #close(set: Uint8Array, state: number): void {
    const stack = this.#stack;
    let top = 0;
    if (set[state] === 1) return;
    set[state] = 1;
    stack[top++] = state;
    while (top > 0) {
      const at = stack[--top] as number;
      if (at === this.#accept) continue;
      for (const target of (this.#states[at] as State).eps) {
        if (set[target] === 1) continue;
        set[target] = 1;
        stack[top++] = target;
      }
    }
  }

  test(text: string): boolean {
    let current = this.#current;
    let next = this.#next;
    current.fill(0);
    this.#close(current, 0);
    const states = this.#states;
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      next.fill(0);
      let alive = false;
      for (let s = 0; s < states.length; s++) {
        if (current[s] !== 1) continue;
        const state = states[s] as State;
        const edge = state.edge;
        if (edge === undefined) continue;
        if (typeof edge === 'number' ? edge === code : inClass(edge, code)) {
          this.#close(next, state.to);
          alive = true;
        }
      }
      if (!alive) return false;
      const swap = current;
      current = next;
      next = swap;
    }
    return current[this.#accept] === 1;
  }
}

/** Builds the NFA of a pattern: one or more states per token, each pointing to the next by default. */
function build(pattern: string, kind: GlobKind): State[] {
  const states: State[] = [];
  const at = (): number => states.length;
  /** The index of the last state, when it is a literal `/` of the pattern. */
  let literalSlash = -1;
  // `**` is special only as a whole segment of a path glob.
  const isGlobstar = (i: number): boolean =>
    kind === 'path' &&
    pattern[i] === '*' &&
    pattern[i + 1] === '*' &&
    (i === 0 || pattern[i - 1] === '/') &&
    (i + 2 === pattern.length || pattern[i + 2] === '/');
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i] as string;
    if (isGlobstar(i)) {
      const atEnd = i + 2 === pattern.length;
      if (i === 0 && atEnd) {
        // `**`: anything.
        states.push({ edge: 'any', to: at(), eps: [at() + 1] });
      } else if (!atEnd) {
        // `**/` (here or after a `/`): nothing, or anything that ends with `/`.
        const start = at();
        states.push({ edge: undefined, to: 0, eps: [start + 1, start + 3] });
        states.push({ edge: 'any', to: start + 1, eps: [start + 2] });
        states.push({ edge: SLASH, to: start + 3, eps: [] });
        i += 2;
        continue;
      } else if (literalSlash === at() - 1) {
        // `a/**`: the `/` before was read as a literal; make it `(/.*)?` so that `a` matches too.
        states.pop();
        const start = at();
        states.push({ edge: SLASH, to: start + 1, eps: [start + 2] });
        states.push({ edge: 'any', to: start + 1, eps: [start + 2] });
      } else {
        // `**/**`: the first `**/` took the slash; the rest is anything.
        states.push({ edge: 'any', to: at(), eps: [at() + 1] });
      }
      i += 1;
      continue;
    }
    if (char === '*') {
      let run = 1;
      while (pattern[i + run] === '*') run++;
      const cls: CharClass = kind === 'host' ? (run >= 2 ? 'labels' : 'label') : 'segment';
      states.push({ edge: cls, to: at(), eps: [at() + 1] });
      i += run - 1;
      continue;
    }
    if (char === '?') {
      states.push({ edge: kind === 'host' ? 'label' : 'segment', to: at() + 1, eps: [] });
      continue;
    }
    if (char === '/') literalSlash = at();
    states.push({ edge: pattern.charCodeAt(i), to: at() + 1, eps: [] });
  }
  return states;
}

const LITERAL = /^[^*?]*$/;

/** A pattern compiled once; fast paths for the common shapes. */
export function compileGlob(pattern: string, kind: GlobKind = 'path'): CompiledGlob {
  // `a/**/**` is `a/**`: repeated globstar segments say nothing more.
  const source = kind === 'host' ? pattern.toLowerCase() : pattern.replace(/(^|\/)\*\*(?:\/\*\*)+(?=\/|$)/g, '$1**');
  if (LITERAL.test(source)) return { test: (text) => text === source };
  if (kind === 'path' && source === '**') return { test: () => true };
  if (kind === 'path' && source.endsWith('/**') && LITERAL.test(source.slice(0, -3))) {
    const root = source.slice(0, -3);
    const prefix = `${root}/`;
    return { test: (text) => text === root || text.startsWith(prefix) };
  }
  // `*.pkl`, `team-*`, `ghcr.io/acme/*`: one star at an end of a path glob is a suffix or prefix test.
  const star = source.indexOf('*');
  if (kind === 'path' && star === source.lastIndexOf('*') && !source.includes('?')) {
    if (star === 0 && !source.includes('/')) {
      const suffix = source.slice(1);
      return { test: (text) => text.endsWith(suffix) && !text.includes('/') };
    }
    if (star === source.length - 1) {
      const prefix = source.slice(0, -1);
      return { test: (text) => text.startsWith(prefix) && text.indexOf('/', prefix.length) === -1 };
    }
  }
  return new Nfa(build(source, kind));
}

const MAX_CACHED = 4096;
const cache = new Map<string, CompiledGlob>();

function cached(pattern: string, kind: GlobKind): CompiledGlob {
  const key = kind === 'path' ? pattern : `\u0000${pattern}`;
  let glob = cache.get(key);
  if (glob === undefined) {
    glob = compileGlob(pattern, kind);
    if (cache.size >= MAX_CACHED) cache.clear();
    cache.set(key, glob);
  }
  return glob;
}

export function matchesGlob(pattern: string, text: string, kind: GlobKind = 'path'): boolean {
  return cached(pattern, kind).test(text);
}

export function matchesAny(patterns: readonly string[], text: string, kind: GlobKind = 'path'): boolean {
  for (const pattern of patterns) if (cached(pattern, kind).test(text)) return true;
  return false;
}
