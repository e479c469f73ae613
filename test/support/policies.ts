/**
 * ModelPolicy and Config documents for tests, as the YAML text a user writes: the spec is
 * flow-style YAML (`'{mode: warn, match: {namespaces: [prod]}}'`) or an object (written as
 * JSON, which YAML reads too). Tests about the YAML text itself (parse errors, positions,
 * duplicate keys) keep their text inline.
 */
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
