/**
 * Duplicate mapping keys of a YAML document, found in one pass. The yaml library's own
 * `uniqueKeys` compares every key with every earlier one of its mapping: quadratic in a
 * mapping's size, which a tenant controls (a namespaced policy ConfigMap, an Argo
 * podSpecPatch): 9,000 keys cost over a second of the event loop. Keys are compared as the
 * library compares them by default: two scalars with the same value.
 */
import { isScalar, visit } from 'yaml';
import type { Document } from 'yaml';

/** Why the document is refused for a repeated key, or undefined when no mapping repeats one. */
export function duplicateKeyProblem(document: Document.Parsed): string | undefined {
  let problem: string | undefined;
  visit(document, {
    Map(_, map) {
      const seen = new Set<unknown>();
      for (const { key } of map.items) {
        if (!isScalar(key)) continue;
        if (seen.has(key.value)) {
          problem = `Map keys must be unique: ${JSON.stringify(String(key.value))} appears more than once in one mapping`;
          return visit.BREAK;
        }
        seen.add(key.value);
      }
      return undefined;
    },
  });
  return problem;
}
