/**
 * Signature discovery: the registry reads that find an artifact's signatures, bounded in
 * count and size before anything is fetched.
 *
 * - cosign v3 (and any sigstore-bundle signer): OCI 1.1 referrers of artifactType
 *   `application/vnd.dev.sigstore.bundle.v0.3+json`. Registry.fetchReferrers falls back to the
 *   `sha256-<hex>` referrers tag where the registry has no referrers API and filters by
 *   artifactType itself. Each referrer is a manifest whose layer of media type
 *   `application/vnd.dev.sigstore.bundle.v0.3+json` is the bundle JSON.
 * - cosign v1/v2: the `sha256-<hex>.sig` tag, a manifest whose layers are simple-signing
 *   payloads with the signature (and certificate, Rekor bundle…) in annotations.
 *
 * At most `maxCandidates` signatures are read, each manifest and blob at most `maxBlobBytes`.
 * When both formats have more than their share, each gets half of the budget, so a flood of
 * referrers cannot crowd out the legacy signatures (nor the reverse). Registry failures are
 * reported as problems, so a caller can tell "unsigned" from "could not look".
 */
import { describeError } from '../core/errors.ts';
import { isPlainObject } from '../core/guards.ts';
import { isRegistryError } from '../oci/errors.ts';
import type { Descriptor, Registry, RepositoryLocator } from '../oci/types.ts';
import { BUNDLE_ARTIFACT_TYPE, isBundleMediaType, parseBundle } from './bundle.ts';
import type { ParsedBundle } from './bundle.ts';
import { SignatureFormatError, errorMessage } from './errors.ts';
import { buildLegacyBundle, legacySignatureTag, readLegacyMaterial } from './legacy.ts';
import type { DiscoveryLimits } from './policy-schema.ts';

/** Anything a read threw, as the Error a candidate keeps for its message. */
const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(describeError(error)));
const malformed = (message: string): SignatureFormatError => new SignatureFormatError({ code: 'MALFORMED_SIGNATURE', message });
const oversized = (message: string): SignatureFormatError => new SignatureFormatError({ code: 'OVERSIZED_SIGNATURE', message });

/** One signature found: parsed, or why it could not be read. */
export interface Candidate {
  /** Where it came from, for messages: `bundle sha256:9f2c417e014c…`, `sha256-3722….sig layer 1`. */
  readonly source: string;
  readonly format: 'bundle' | 'legacy';
  readonly parsed: ParsedBundle | undefined;
  /** Set when the signature could not be read or parsed. */
  readonly error: Error | undefined;
}

/** A registry failure that may have hidden signatures. */
export interface DiscoveryProblem {
  readonly message: string;
  /** Whether trying again may succeed (timeouts, 5xx, rate limits). */
  readonly retryable: boolean;
}

export interface Discovery {
  readonly candidates: readonly Candidate[];
  /** More signatures exist than were read. */
  readonly truncated: boolean;
  readonly problems: readonly DiscoveryProblem[];
  /** How the referrers were listed: `api`, `tag` (fallback), or undefined when listing failed. */
  readonly referrersSource: 'api' | 'tag' | undefined;
}

export interface DiscoveryInput {
  readonly registry: Registry;
  readonly locator: RepositoryLocator;
  readonly digest: string;
  readonly deadline: number;
  readonly limits: DiscoveryLimits;
}

const CONCURRENCY = 4;
/**
 * Registry error codes that say nothing about the signatures (the network, the registry's
 * health, credentials or configuration): they make a result incomplete. Everything else
 * (MALFORMED, TOO_LARGE, TAMPERED, NOT_FOUND of a listed manifest, unknown errors) is content
 * anyone with push access could produce, and fails that signature instead (fail closed).
 */
const TRANSIENT = new Set([
  'UNREACHABLE',
  'TIMEOUT',
  'ABORTED',
  'RATE_LIMITED',
  'SERVER_ERROR',
  'UNEXPECTED_STATUS',
  'TLS_ERROR',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'INSECURE_NOT_ALLOWED',
]);

const short = (digest: string): string => (digest.length > 19 ? `${digest.slice(0, 19)}…` : digest);

function problemOf(what: string, error: unknown): DiscoveryProblem {
  return { message: `${what}: ${errorMessage(error, 240)}`, retryable: isRegistryError(error) ? error.retryable : false };
}

/** Whether a failure to read one signature means the registry, not the signature, is at fault. */
function isTransient(error: unknown): boolean {
  return isRegistryError(error) ? TRANSIENT.has(error.code) : false;
}

/** A layer descriptor of a signature manifest, checked just enough to fetch it safely. */
function readLayer(value: unknown): Descriptor | undefined {
  if (!isPlainObject(value)) return undefined;
  const { mediaType, digest, size, annotations } = value;
  if (typeof mediaType !== 'string' || typeof digest !== 'string' || !/^sha(256:[0-9a-f]{64}|512:[0-9a-f]{128})$/.test(digest)) return undefined;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return undefined;
  const checked: Record<string, string> = {};
  if (isPlainObject(annotations)) for (const [key, item] of Object.entries(annotations)) if (typeof item === 'string') checked[key] = item;
  return { mediaType, digest, size, annotations: checked };
}

/** Runs the tasks at most `limit` at a time, in order. */
async function pool<T>(tasks: readonly (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array<T>(tasks.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await (tasks[index] as () => Promise<T>)();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

/** The fair split of the candidate budget between the two formats. */
export function splitBudget(max: number, referrers: number, legacy: number): { readonly referrers: number; readonly legacy: number } {
  const half = Math.floor(max / 2);
  const legacyShare = Math.min(legacy, Math.max(half, max - referrers));
  const referrerShare = Math.min(referrers, max - legacyShare);
  return { referrers: referrerShare, legacy: Math.min(legacy, max - referrerShare) };
}

export async function discoverSignatures(input: DiscoveryInput): Promise<Discovery> {
  const { registry, locator, digest, deadline, limits } = input;
  const problems: DiscoveryProblem[] = [];
  if (Date.now() >= deadline) {
    return {
      candidates: [],
      truncated: false,
      problems: [{ message: 'no time was left to look for signatures', retryable: true }],
      referrersSource: undefined,
    };
  }
  const tag = legacySignatureTag(digest);
  const candidates: Candidate[] = [];
  // A registry that cannot be reached is a problem (the caller's onError decides); content
  // that cannot be read is a verdict about that content: pushing garbage must not turn
  // "unsigned" into "could not check".
  const onFailure = (what: string, source: string, format: Candidate['format'], error: unknown): undefined => {
    if (isTransient(error)) problems.push(problemOf(what, error));
    else candidates.push({ source, format, parsed: undefined, error: asError(error) });
    return undefined;
  };
  // Ask one more than the budget: it tells whether the list was cut.
  const [referrers, legacy] = await Promise.all([
    registry
      .fetchReferrers(locator, digest, { artifactType: BUNDLE_ARTIFACT_TYPE, maxResults: limits.maxCandidates + 1, deadline })
      .catch((error: unknown) => onFailure('listing the sigstore bundles (referrers) failed', 'the referrers list', 'bundle', error)),
    tag === undefined
      ? Promise.resolve(undefined)
      : registry
          .fetchManifestByTag(locator, tag, { maxBytes: Math.max(limits.maxBlobBytes, 64 * 1024) * 4, deadline })
          .catch((error: unknown) =>
            isRegistryError(error, 'NOT_FOUND') ? undefined : onFailure(`reading the cosign signature tag ${tag} failed`, tag, 'legacy', error),
          ),
  ]);

  const referrerDescriptors = referrers?.descriptors ?? [];
  let legacyLayers: readonly unknown[] = [];
  if (legacy !== undefined && tag !== undefined) {
    const layers = legacy.json['layers'];
    if (Array.isArray(layers)) legacyLayers = layers;
    else candidates.push({ source: tag, format: 'legacy', parsed: undefined, error: malformed(`the signature manifest ${tag} has no layers`) });
  }
  const budget = splitBudget(limits.maxCandidates, referrerDescriptors.length, legacyLayers.length);
  const truncated = (referrers?.truncated ?? false) || referrerDescriptors.length > budget.referrers || legacyLayers.length > budget.legacy;

  const tasks: (() => Promise<Candidate | undefined>)[] = [];
  for (const descriptor of referrerDescriptors.slice(0, budget.referrers)) tasks.push(() => readReferrer(input, descriptor, problems));
  if (tag !== undefined) {
    legacyLayers.slice(0, budget.legacy).forEach((value, index) => {
      const layer = readLayer(value);
      if (layer === undefined)
        candidates.push({ source: legacySource(tag, index), format: 'legacy', parsed: undefined, error: malformed('the layer is not a valid OCI descriptor') });
      else tasks.push(() => readLegacyLayer(input, tag, layer, index, problems));
    });
  }
  for (const candidate of await pool(tasks, CONCURRENCY)) if (candidate !== undefined) candidates.push(candidate);
  return { candidates, truncated, problems, referrersSource: referrers?.source };
}

function legacySource(tag: string, index: number): string {
  return `${tag.length > 24 ? `${tag.slice(0, 19)}….sig` : tag} layer ${index + 1}`;
}

function timeLeft(deadline: number, problems: DiscoveryProblem[], what: string): boolean {
  if (Date.now() < deadline) return true;
  problems.push({ message: `${what} was not read: no time was left`, retryable: true });
  return false;
}

async function readReferrer(input: DiscoveryInput, descriptor: Descriptor, problems: DiscoveryProblem[]): Promise<Candidate | undefined> {
  const { registry, locator, digest, deadline, limits } = input;
  const source = `bundle ${short(descriptor.digest)}`;
  const failed = (error: Error): Candidate => ({ source, format: 'bundle', parsed: undefined, error });
  if (!timeLeft(deadline, problems, source)) return undefined;
  if (descriptor.size > limits.maxBlobBytes) return failed(oversized(`its manifest is ${descriptor.size} bytes, over the limit of ${limits.maxBlobBytes}`));
  try {
    const manifest = await registry.fetchManifest(locator, descriptor.digest, { maxBytes: limits.maxBlobBytes, deadline });
    const subject = manifest.json['subject'];
    if (!isPlainObject(subject) || subject['digest'] !== digest) {
      return failed(malformed('its manifest does not name the admitted digest as its subject'));
    }
    const layers = Array.isArray(manifest.json['layers']) ? manifest.json['layers'].map(readLayer) : [];
    const layer = layers.find((candidate): candidate is Descriptor => candidate !== undefined && isBundleMediaType(candidate.mediaType));
    if (layer === undefined) return failed(malformed(`its manifest has no layer of media type ${BUNDLE_ARTIFACT_TYPE}`));
    if (layer.size > limits.maxBlobBytes) return failed(oversized(`the bundle is ${layer.size} bytes, over the limit of ${limits.maxBlobBytes}`));
    if (!timeLeft(deadline, problems, source)) return undefined;
    const blob = await registry.fetchBlob(locator, layer.digest, { maxBytes: limits.maxBlobBytes, expectedSize: layer.size, deadline });
    return { source, format: 'bundle', parsed: parseBundle(blob.bytes), error: undefined };
  } catch (error) {
    if (isTransient(error)) problems.push(problemOf(`reading ${source} failed`, error));
    return failed(asError(error));
  }
}

async function readLegacyLayer(
  input: DiscoveryInput,
  tag: string,
  layer: Descriptor,
  index: number,
  problems: DiscoveryProblem[],
): Promise<Candidate | undefined> {
  const { registry, locator, deadline, limits } = input;
  const source = legacySource(tag, index);
  const failed = (error: Error): Candidate => ({ source, format: 'legacy', parsed: undefined, error });
  if (!timeLeft(deadline, problems, source)) return undefined;
  if (layer.size > limits.maxBlobBytes) return failed(oversized(`its payload is ${layer.size} bytes, over the limit of ${limits.maxBlobBytes}`));
  try {
    // The annotations are read first: garbage fails without a request.
    const material = readLegacyMaterial(layer.mediaType, layer.annotations ?? {});
    const blob = await registry.fetchBlob(locator, layer.digest, { maxBytes: limits.maxBlobBytes, expectedSize: layer.size, deadline });
    return { source, format: 'legacy', parsed: buildLegacyBundle(material, blob.bytes), error: undefined };
  } catch (error) {
    if (isTransient(error)) problems.push(problemOf(`reading ${source} failed`, error));
    return failed(asError(error));
  }
}
