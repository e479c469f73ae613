/**
 * ModelPolicy and Config documents for tests, as the YAML text a user writes: the spec is
 * flow-style YAML (`'{mode: warn, match: {namespaces: [prod]}}'`) or an object (written as
 * JSON, which YAML reads too). Tests about the YAML text itself (parse errors, positions,
 * duplicate keys) keep their text inline.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const API_VERSION = 'modelgate.dev/v1alpha1';

type Spec = string | Readonly<Record<string, unknown>>;

const specText = (spec: Spec): string => (typeof spec === 'string' ? spec : JSON.stringify(spec));

/** One ModelPolicy document. */
export function modelPolicy(name: string, spec: Spec = '{}'): string {
  return `apiVersion: ${API_VERSION}\nkind: ModelPolicy\nmetadata: {name: ${name}}\nspec: ${specText(spec)}\n`;
}

/** One Config document. */
export function configDocument(spec: Spec = '{}'): string {
  return `apiVersion: ${API_VERSION}\nkind: Config\nspec: ${specText(spec)}\n`;
}

/** Documents in one YAML stream. */
export function documents(...texts: readonly string[]): string {
  return texts.join('---\n');
}

/** Writes the documents to `dir/file` and returns its path. */
export async function writePolicyFile(dir: string, file: string, ...texts: readonly string[]): Promise<string> {
  const path = join(dir, file);
  await writeFile(path, documents(...texts));
  return path;
}
