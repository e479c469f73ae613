/** Type guards for values parsed from JSON or YAML, shared by every layer. */

/** A JSON object (a YAML mapping): not null, not an array. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
