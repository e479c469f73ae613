/**
 * The digest each tag names, read from the registry as explain reads it: the
 * manifest fetched by tag, its digest computed from the bytes (never taken
 * from a header). Each distinct reference is resolved once, a few at a time,
 * each within the Config's total timeout.
 */
import { describeError } from '../../core/errors.ts';
import type { RegistryClient } from '../../oci/client.ts';
import { formatReference, parseReference } from '../../reference/parse.ts';
import type { ImageReference } from '../../reference/parse.ts';

export type Resolution = { readonly ok: true; readonly digest: string; readonly pinned: string } | { readonly ok: false; readonly error: string };

const CONCURRENCY = 4;

/** `name:tag@digest`, the name as written; a reference without a tag names `latest`, which is then written out. */
export function pinnedForm(written: string, ref: ImageReference, digest: string): string {
  return `${written}${ref.tag === undefined ? ':latest' : ''}@${digest}`;
}

async function resolveOne(client: RegistryClient, written: string, timeoutMs: number): Promise<Resolution> {
  let ref: ImageReference;
  try {
    ref = parseReference(written);
  } catch (error) {
    return { ok: false, error: describeError(error) };
  }
  const tag = ref.tag ?? 'latest';
  try {
    const fetched = await client.fetchManifestByTag({ registry: ref.registry, repository: ref.repository }, tag, { deadline: Date.now() + timeoutMs });
    return { ok: true, digest: fetched.digest, pinned: pinnedForm(written, ref, fetched.digest) };
  } catch (error) {
    return { ok: false, error: `tag ${JSON.stringify(tag)} of ${formatReference({ ...ref, tag: undefined })}: ${describeError(error)}` };
  }
}

/** Resolutions by reference as written, for references without a digest. */
export async function resolveTags(client: RegistryClient, references: readonly string[], timeoutMs: number): Promise<Map<string, Resolution>> {
  const unique = [...new Set(references)];
  const results = new Map<string, Resolution>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < unique.length) {
      const written = unique[next++] as string;
      results.set(written, await resolveOne(client, written, timeoutMs));
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, unique.length) }, worker));
  return results;
}
