/**
 * The layer rule of src/ (README, Development): every top folder has a rank;
 * a module imports its own folder and lower ranks only, never a folder of its
 * own rank, and neither folders nor files import each other in a circle.
 * Imports are read from the source text: static `import`/`export … from`,
 * side-effect `import '…'` and dynamic `import('…')` with relative specifiers.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { PACKAGE_ROOT } from '../../src/core/package-root.ts';

/** Low to high. Folders of one rank are peers and do not import each other. */
const RANKS: Readonly<Record<string, number>> = {
  core: 0,
  reference: 1,
  oci: 1,
  // CEL expressions: compiled at policy load, evaluated within a budget (used by attestation conditions).
  cel: 1,
  artifact: 2,
  signature: 2,
  // Attestations build on signature discovery and verification.
  attestation: 3,
  policy: 4,
  engine: 5,
  admission: 6,
  kube: 6,
  server: 7,
  // Above server: `modelgate serve` wires the engine, the policy watchers and the server together (cli/serve.ts).
  cli: 8,
};

/**
 * Folder imports that break the rule and are still to be removed. The test
 * fails when one no longer occurs: delete it here when its last import goes.
 */
const pendingExceptions: readonly { readonly from: string; readonly to: string; readonly why: string }[] = [];

interface Edge {
  /** Paths relative to src/, e.g. `engine/engine.ts`. */
  readonly from: string;
  readonly to: string;
}

const SRC = join(PACKAGE_ROOT, 'src');
const IMPORT = /^\s*(?:import|export)\b[^;]*?\bfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gms;

function importEdges(): Edge[] {
  const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.ts'));
  return files.flatMap((file) =>
    [...readFileSync(join(SRC, file), 'utf8').matchAll(IMPORT)]
      .map((match) => match[1] ?? match[2] ?? match[3] ?? '')
      .filter((specifier) => specifier.startsWith('.'))
      .map((specifier) => ({ from: file, to: relative(SRC, resolve(SRC, dirname(file), specifier)) })),
  );
}

const folderOf = (path: string): string => (path.includes('/') ? (path.split('/')[0] as string) : '(src)');
const isPending = (from: string, to: string): boolean => pendingExceptions.some((exception) => exception.from === from && exception.to === to);

/** Why an import between two folders breaks the rule, or undefined when it keeps it. */
function violation(from: string, to: string): string | undefined {
  if (from === to) return undefined;
  const [own, target] = [RANKS[from], RANKS[to]];
  if (own === undefined || target === undefined) return `${own === undefined ? from : to} has no rank in RANKS`;
  if (target > own) return `${to} is a higher layer than ${from}`;
  if (target === own) return `${from} and ${to} are peers of one rank`;
  return undefined;
}

/** The circles of a directed graph (strongly connected components of more than one node, or a node importing itself). */
function circles(edges: readonly Edge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const { from, to } of edges) next.set(from, [...(next.get(from) ?? []), to]);
  const order = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (node: string): void => {
    order.set(node, order.size);
    low.set(node, order.get(node) as number);
    stack.push(node);
    for (const target of next.get(node) ?? []) {
      if (!order.has(target)) {
        visit(target);
        low.set(node, Math.min(low.get(node) as number, low.get(target) as number));
      } else if (stack.includes(target)) {
        low.set(node, Math.min(low.get(node) as number, order.get(target) as number));
      }
    }
    if (low.get(node) !== order.get(node)) return;
    const component = stack.splice(stack.indexOf(node));
    if (component.length > 1 || (next.get(node) ?? []).includes(node)) found.push(component.sort());
  };
  for (const node of next.keys()) if (!order.has(node)) visit(node);
  return found;
}

describe('architecture: src/ in layers that import downwards only', () => {
  const edges = importEdges();
  // Edges the pending exceptions allow are left out of every check but their own.
  const ruled = edges.filter((edge) => !isPending(folderOf(edge.from), folderOf(edge.to)));

  it('reads the imports (the parser still matches the source)', () => {
    assert.ok(edges.length > 300, `only ${edges.length} imports found`);
    assert.ok(
      edges.some((edge) => edge.from === 'cli/main.ts' && edge.to === 'cli/serve.ts'),
      'the dynamic import of serve.ts',
    );
  });

  it('every module lives in a ranked folder', () => {
    const folders = new Set(
      readdirSync(SRC, { recursive: true, encoding: 'utf8' })
        .filter((name) => name.endsWith('.ts'))
        .map(folderOf),
    );
    assert.deepEqual(
      [...folders].filter((folder) => RANKS[folder] === undefined),
      [],
    );
  });

  it('imports point to the own folder or a lower layer, never up or to a peer', () => {
    const broken = ruled.flatMap(({ from, to }) => {
      const why = violation(folderOf(from), folderOf(to));
      return why === undefined ? [] : [`${from} imports ${to}: ${why}`];
    });
    assert.deepEqual(broken, []);
  });

  it('every pending exception still occurs and still breaks the rule (the list only shrinks)', () => {
    for (const exception of pendingExceptions) {
      assert.ok(violation(exception.from, exception.to) !== undefined, `${exception.from} → ${exception.to} keeps the rule: remove it from pendingExceptions`);
      const used = edges.filter((edge) => folderOf(edge.from) === exception.from && folderOf(edge.to) === exception.to);
      assert.ok(used.length > 0, `${exception.from} no longer imports ${exception.to}: remove it from pendingExceptions`);
    }
  });

  it('no circle of imports between folders', () => {
    const folderEdges = ruled.map((edge) => ({ from: folderOf(edge.from), to: folderOf(edge.to) })).filter((edge) => edge.from !== edge.to);
    assert.deepEqual(circles(folderEdges), []);
  });

  it('no circle of imports between files', () => {
    assert.deepEqual(circles(ruled), []);
  });
});
