/**
 * `spec.signatures.signedIdentity`: which repository a signature must name, with the
 * semantics (and names) of containers-policy.json(5), so that users of CRI-O and podman
 * recognise them. Only payloads that name a repository are concerned (cosign simple
 * signing: `critical.identity.docker-reference`); the digest binding always holds.
 *
 * - `matchRepository` (default): the signed repository is the pulled one (the tag is irrelevant);
 * - `exactRepository`: the signed repository is `repository`, whatever was pulled;
 * - `remapIdentity`: a pulled repository under `prefix` (at a path-component boundary) has
 *   that prefix replaced by `signedPrefix`, then matchRepository; any other, unchanged;
 * - `matchDigest`: the signed repository is ignored, as `cosign verify` does.
 *
 * Repositories are compared in modelgate's normal form (`registry/repository`, Docker Hub
 * as `docker.io`, `library/` added to its one-component names); prefixes are matched
 * against that form, as containers/image matches them against the fully expanded name.
 */
import { parseReference } from '../reference/parse.ts';

export const SIGNED_IDENTITY_TYPES = ['matchRepository', 'exactRepository', 'remapIdentity', 'matchDigest'] as const;
export type SignedIdentityType = (typeof SIGNED_IDENTITY_TYPES)[number];

/** The verifier's form: repositories and prefixes already normalised. */
export type SignedIdentity =
  | { readonly type: 'matchRepository' }
  | { readonly type: 'exactRepository'; readonly repository: string }
  | { readonly type: 'remapIdentity'; readonly prefix: string; readonly signedPrefix: string }
  | { readonly type: 'matchDigest' };

export const MATCH_REPOSITORY: SignedIdentity = { type: 'matchRepository' };

const reasonOf = (error: unknown): string => {
  const reason = (error as { reason?: unknown }).reason;
  return typeof reason === 'string' ? reason : error instanceof Error ? error.message : String(error);
};

/** `registry/repository` of a repository name (no tag, no digest), normalised; throws Error saying what is wrong. */
export function parseSignedRepository(value: string): string {
  let parsed: ReturnType<typeof parseReference>;
  try {
    parsed = parseReference(value);
  } catch (error) {
    throw new Error(`is not a repository name: ${reasonOf(error)}`);
  }
  if (parsed.digest !== undefined) throw new Error('must be a repository, without a digest');
  if (parsed.tag !== undefined) throw new Error(`must be a repository, without a tag (${JSON.stringify(parsed.tag)})`);
  return `${parsed.registry}/${parsed.repository}`;
}

/**
 * A remapIdentity prefix, `host[:port][/path]` without tag or digest, in normal form (host
 * lower case, Docker Hub's hosts as docker.io; the path as written: a prefix is not a
 * repository, so `library/` is not added). Throws Error saying what is wrong.
 */
export function parseIdentityPrefix(value: string): string {
  if (value.includes('@')) throw new Error('must be host[:port] or host[:port]/path, without a digest');
  const slash = value.indexOf('/');
  const host = slash === -1 ? value : value.slice(0, slash);
  // Docker's rule for what names a registry; a short name would be read as Docker Hub's.
  if (!/[.:]/.test(host) && host !== 'localhost') {
    throw new Error(
      `must start with a registry host (ghcr.io, mirror.internal:5000, localhost): write the fully expanded name, e.g. docker.io/library/busybox, not ${JSON.stringify(value)}`,
    );
  }
  let parsed: ReturnType<typeof parseReference>;
  try {
    // A host alone is checked as the registry of a placeholder repository.
    parsed = parseReference(slash === -1 ? `${value}/x` : value);
  } catch (error) {
    throw new Error(`is not host[:port][/path]: ${reasonOf(error)}`);
  }
  if (parsed.tag !== undefined) throw new Error(`must be host[:port] or host[:port]/path, without a tag (${JSON.stringify(parsed.tag)})`);
  return slash === -1 ? parsed.registry : `${parsed.registry}/${value.slice(slash + 1)}`;
}

/** The message of a parse, or undefined when the value is valid: the schema's check. */
function problemOf(parse: (value: string) => string): (value: string) => string | undefined {
  return (value) => {
    try {
      parse(value);
      return undefined;
    } catch (error) {
      return reasonOf(error);
    }
  };
}

export const repositoryProblem = problemOf(parseSignedRepository);
export const prefixProblem = problemOf(parseIdentityPrefix);

/** Whether `repository` (normal form) is `prefix` or under it, at a path-component boundary. */
export function isUnderPrefix(repository: string, prefix: string): boolean {
  return repository === prefix || repository.startsWith(`${prefix}/`);
}

/** What a signature must name for an artifact pulled from `pulled` (`registry/repository`). */
export interface RequiredRepository {
  /** The repository the signature must name. */
  readonly repository: string;
  /** How it was derived from the pulled repository, for messages; undefined for matchRepository. */
  readonly because: string | undefined;
}

/** The repository a signature must name; undefined when any will do (matchDigest). */
export function requiredRepository(identity: SignedIdentity, pulled: string): RequiredRepository | undefined {
  switch (identity.type) {
    case 'matchRepository':
      return { repository: pulled, because: undefined };
    case 'exactRepository':
      return { repository: identity.repository, because: 'signedIdentity exactRepository' };
    case 'remapIdentity': {
      if (!isUnderPrefix(pulled, identity.prefix)) return { repository: pulled, because: `signedIdentity remapIdentity: not under ${identity.prefix}` };
      const remapped = `${identity.signedPrefix}${pulled.slice(identity.prefix.length)}`;
      // Normal form again: docker.io + /busybox is docker.io/library/busybox.
      let repository = remapped;
      try {
        repository = parseSignedRepository(remapped);
      } catch {
        // Not a repository name: nothing signed can name it, and the message shows it.
      }
      return { repository, because: `${pulled} remapped by signedIdentity remapIdentity` };
    }
    case 'matchDigest':
      return undefined;
  }
}

/**
 * The remapIdentity that maps `pulled` onto `signed` (both `registry/repository`): the path
 * they end in alike is cut off both, each keeping at least its registry host.
 */
export function suggestedRemap(pulled: string, signed: string): { readonly prefix: string; readonly signedPrefix: string } {
  const mirror = pulled.split('/');
  const origin = signed.split('/');
  while (mirror.length > 1 && origin.length > 1 && mirror.at(-1) === origin.at(-1)) {
    mirror.pop();
    origin.pop();
  }
  return { prefix: mirror.join('/'), signedPrefix: origin.join('/') };
}
