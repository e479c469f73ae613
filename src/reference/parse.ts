/**
 * Parser for OCI image references, following the grammar of
 * github.com/distribution/reference and Docker's normalisation rules
 * (default registry docker.io, `library/` for single-segment names there).
 */
import { ModelgateError } from '../core/errors.ts';

/** A parsed and normalised image reference. */
export interface ImageReference {
  /** The reference exactly as written in the object. */
  readonly original: string;
  /**
   * Registry host in canonical form, with port when one other than 443 was
   * given: `docker.io`, `localhost:5000`, `[::1]:5000`. Lower case, and Docker
   * Hub's host names (`index.docker.io`, `registry-1.docker.io`) as `docker.io`,
   * so that policies match what the runtime pulls however it is written.
   */
  readonly registry: string;
  /** Whether the reference names its registry; a short name (`llama`) does not, and is taken as Docker Hub's. */
  readonly qualified: boolean;
  /** Repository path inside the registry: `library/busybox`, `acme/models/llama`. */
  readonly repository: string;
  /** Tag, when one was given (with or without a digest). */
  readonly tag: string | undefined;
  /** Digest `algorithm:hex`, when one was given. It is what gets pulled even when a tag is present. */
  readonly digest: string | undefined;
}

export class InvalidReferenceError extends ModelgateError<'INVALID_REFERENCE'> {
  static readonly codes = { INVALID_REFERENCE: {} } as const;
  override readonly name = 'InvalidReferenceError';
  readonly reference: string;
  readonly reason: string;
  constructor(reference: string, reason: string) {
    super(InvalidReferenceError.codes, 'INVALID_REFERENCE', `invalid image reference ${JSON.stringify(reference)}: ${reason}`);
    this.reference = reference;
    this.reason = reason;
  }
}

export const DEFAULT_REGISTRY = 'docker.io';
/** Host names that serve Docker Hub: references through them pull from docker.io. */
const DOCKER_HUB_HOSTS: ReadonlySet<string> = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);
const OFFICIAL_REPOSITORY_PREFIX = 'library/';
const MAX_NAME_LENGTH = 255;

// alpha-numeric [separator alpha-numeric]*, separator := [_.] | __ | -+
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const PORT = /^[0-9]+$/;
const IPV6 = /^\[[a-fA-F0-9:]+\]$/;
const DIGEST_ALGORITHM = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*$/;

/** Hex lengths of the digest algorithms that registries and runtimes accept. */
const DIGEST_HEX_LENGTHS: Readonly<Record<string, number>> = { sha256: 64, sha512: 128 };

/** Parses and normalises a reference; throws InvalidReferenceError with a reason a user can act on. */
export function parseReference(input: string): ImageReference {
  if (typeof input !== 'string') throw new InvalidReferenceError(String(input), 'the reference is not a string');
  if (input.length === 0) throw new InvalidReferenceError(input, 'the reference is empty');
  if (input !== input.trim()) throw new InvalidReferenceError(input, 'the reference has leading or trailing white space');
  // A bare 64-hex string is an image ID, never a name (distribution/reference refuses it).
  if (/^[a-f0-9]{64}$/.test(input)) throw new InvalidReferenceError(input, 'a 64-character hexadecimal string is an image ID, not a reference');

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = parseDigest(input, rest.slice(at + 1));
    rest = rest.slice(0, at);
  }

  let tag: string | undefined;
  // A tag's colon comes after the last slash; a colon before it belongs to a port.
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', lastSlash + 1);
  if (colon !== -1) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) {
      throw new InvalidReferenceError(
        input,
        `tag ${JSON.stringify(tag)} is not valid (1-128 characters of letters, digits, '_', '.', '-', not starting with '.' or '-')`,
      );
    }
  }

  if (rest.length === 0) throw new InvalidReferenceError(input, 'the repository name is empty');

  const { registry, path, qualified } = splitRegistry(input, rest);
  const components = path.split('/');
  for (const component of components) {
    if (!PATH_COMPONENT.test(component)) {
      const hint = /[A-Z]/.test(component) ? ' (repository names must be lowercase)' : '';
      throw new InvalidReferenceError(
        input,
        `path component ${JSON.stringify(component)} is not valid${hint}: use lowercase letters and digits separated by '.', '_', '__' or '-'`,
      );
    }
  }
  const repository = registry === DEFAULT_REGISTRY && components.length === 1 ? OFFICIAL_REPOSITORY_PREFIX + path : path;
  // As distribution/reference counts it: the repository path after normalisation, without the registry.
  if (repository.length > MAX_NAME_LENGTH) {
    throw new InvalidReferenceError(input, `the repository name is longer than ${MAX_NAME_LENGTH} characters`);
  }
  return { original: input, registry, qualified, repository, tag, digest };
}

function splitRegistry(input: string, name: string): { registry: string; path: string; qualified: boolean } {
  const slash = name.indexOf('/');
  const first = slash === -1 ? '' : name.slice(0, slash);
  // Docker's rule: the first component is a registry when it has a '.' or ':', is
  // "localhost", or has upper-case letters (which a repository path cannot).
  const isRegistry = slash !== -1 && (/[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first);
  if (!isRegistry) return { registry: DEFAULT_REGISTRY, path: name, qualified: false };
  validateRegistry(input, first);
  return { registry: canonicalRegistry(first), path: name.slice(slash + 1), qualified: true };
}

/**
 * The canonical form of a valid registry host: lower case (DNS names are
 * case-insensitive), without the HTTPS default port 443, and Docker Hub's
 * host names as `docker.io`.
 */
export function canonicalRegistry(registry: string): string {
  let host = registry.toLowerCase();
  const port = /:(\d+)$/.exec(host);
  if (port !== null) {
    // `:0443` is port 443 to any HTTP client: the port is a number, not its digits.
    const number = Number(port[1]);
    host = number === 443 ? host.slice(0, port.index) : `${host.slice(0, port.index)}:${number}`;
  }
  return DOCKER_HUB_HOSTS.has(host) ? DEFAULT_REGISTRY : host;
}

function validateRegistry(input: string, registry: string): void {
  let host = registry;
  let port: string | undefined;
  if (registry.startsWith('[')) {
    const close = registry.indexOf(']');
    host = close === -1 ? registry : registry.slice(0, close + 1);
    const after = close === -1 ? '' : registry.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) throw new InvalidReferenceError(input, `registry ${JSON.stringify(registry)} is not valid`);
      port = after.slice(1);
    }
    if (!IPV6.test(host)) throw new InvalidReferenceError(input, `registry ${JSON.stringify(registry)} is not a valid IPv6 address`);
  } else {
    const colon = registry.indexOf(':');
    if (colon !== -1) {
      host = registry.slice(0, colon);
      port = registry.slice(colon + 1);
    }
    if (!host.split('.').every((part) => DOMAIN_COMPONENT.test(part))) {
      throw new InvalidReferenceError(input, `registry host ${JSON.stringify(host)} is not a valid host name`);
    }
  }
  if (port !== undefined && (!PORT.test(port) || Number(port) > 65535)) {
    throw new InvalidReferenceError(input, `registry port ${JSON.stringify(port)} is not a valid port number`);
  }
}

function parseDigest(input: string, digest: string): string {
  const colon = digest.indexOf(':');
  if (colon <= 0) {
    throw new InvalidReferenceError(input, `digest ${JSON.stringify(digest)} is not of the form algorithm:hex (e.g. sha256:<64 hex digits>)`);
  }
  const algorithm = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  if (!DIGEST_ALGORITHM.test(algorithm)) {
    throw new InvalidReferenceError(input, `digest algorithm ${JSON.stringify(algorithm)} is not valid`);
  }
  const length = DIGEST_HEX_LENGTHS[algorithm];
  if (length === undefined) {
    throw new InvalidReferenceError(input, `digest algorithm ${JSON.stringify(algorithm)} is not supported: use sha256 or sha512`);
  }
  if (hex.length !== length || !/^[0-9a-f]+$/.test(hex)) {
    throw new InvalidReferenceError(input, `${algorithm} digest must be ${length} lowercase hexadecimal digits, got ${JSON.stringify(hex)}`);
  }
  return digest;
}

/** `registry/repository`, the name that policy globs match against. */
export function repositoryName(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** The fully qualified form: `registry/repository[:tag][@digest]`. */
export function formatReference(ref: ImageReference): string {
  let out = repositoryName(ref);
  if (ref.tag !== undefined) out += `:${ref.tag}`;
  if (ref.digest !== undefined) out += `@${ref.digest}`;
  return out;
}
