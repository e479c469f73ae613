/**
 * The reads of signature discovery (discover.ts), one signature at a time: a sigstore bundle
 * referrer (manifest, then its bundle layer) and a simple-signing layer (annotations, then the
 * payload), whether that layer sits in the legacy `.sig` manifest or in a cosign OCI 1.1
 * signature referrer. Each read is bounded by the discovery limits and the deadline, and
 * turns into a Candidate: parsed, or the reason it could not be read.
 */
import { describeError } from '../core/errors.ts';
import { isPlainObject } from '../core/guards.ts';
import { shortDigest } from '../oci/digest.ts';
import { isRegistryError } from '../oci/errors.ts';
import type { Descriptor, Registry, RepositoryLocator } from '../oci/types.ts';
import { BUNDLE_ARTIFACT_TYPE, isBundleMediaType, parseBundle } from './bundle.ts';
import type { ParsedBundle } from './bundle.ts';
import { SignatureFormatError, errorMessage } from './errors.ts';
import { buildLegacyBundle, readLegacyMaterial } from './legacy.ts';
import type { DiscoveryLimits } from './policy-schema.ts';

/** One signature found: parsed, or why it could not be read. */
export interface Candidate {
  /** Where it came from, for messages: `bundle sha256:9f2c417e014c…`, `sha256-3722….sig layer 1`, `cosign referrer sha256:5e1a04c2d9b7… layer 2`. */
  readonly source: string;
  /** `bundle`: a sigstore bundle; `legacy`: a cosign simple-signing layer (from the `.sig` tag or a cosign OCI 1.1 referrer). */
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

export interface DiscoveryInput {
  readonly registry: Registry;
  readonly locator: RepositoryLocator;
  readonly digest: string;
  readonly deadline: number;
  readonly limits: DiscoveryLimits;
}

/** Anything a read threw, as the Error a candidate keeps for its message. */
export const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(describeError(error)));
export const malformed = (message: string): SignatureFormatError => new SignatureFormatError({ code: 'MALFORMED_SIGNATURE', message });
/** Every signature size limit derives from one setting: the message names it, so a larger signature (a model of many files) can be let in. */
export const oversized = (message: string): SignatureFormatError =>
  new SignatureFormatError({ code: 'OVERSIZED_SIGNATURE', message: `${message} bytes (the Config's spec.signatureDiscovery.maxBlobKiB sets it)` });

/**
 * Size limit of a manifest that holds simple-signing layers (the `.sig` tag, a cosign
 * signature referrer): one layer per signature, each with its certificate and Rekor bundle
 * in annotations, so larger than one bundle.
 */
export const signatureManifestLimit = (limits: DiscoveryLimits): number => Math.max(limits.maxBlobBytes, 64 * 1024) * 4;

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

export function problemOf(what: string, error: unknown): DiscoveryProblem {
  return { message: `${what}: ${errorMessage(error, 240)}`, retryable: isRegistryError(error) ? error.retryable : false };
}

/** Whether a failure to read one signature means the registry, not the signature, is at fault. */
export function isTransient(error: unknown): boolean {
  return isRegistryError(error) ? TRANSIENT.has(error.code) : false;
}

/** A layer descriptor of a signature manifest, checked just enough to fetch it safely. */
export function readLayer(value: unknown): Descriptor | undefined {
  if (!isPlainObject(value)) return undefined;
  const { mediaType, digest, size, annotations } = value;
  if (typeof mediaType !== 'string' || typeof digest !== 'string' || !/^sha(256:[0-9a-f]{64}|512:[0-9a-f]{128})$/.test(digest)) return undefined;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return undefined;
  const checked: Record<string, string> = {};
  if (isPlainObject(annotations)) for (const [key, item] of Object.entries(annotations)) if (typeof item === 'string') checked[key] = item;
  return { mediaType, digest, size, annotations: checked };
}

/** Runs the tasks at most `limit` at a time, in order. */
export async function pool<T>(tasks: readonly (() => Promise<T>)[], limit: number): Promise<T[]> {
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

export function timeLeft(deadline: number, problems: DiscoveryProblem[], what: string): boolean {
  if (Date.now() < deadline) return true;
  problems.push({ message: `${what} was not read: no time was left`, retryable: true });
  return false;
}

/** A read that produced a value, or the reason it could not. */
export type ReferrerRead<T> = { readonly value: T } | { readonly error: Error };

/**
 * A sigstore bundle referrer (cosign v3 signatures and attestations, OMS model signatures): its
 * manifest (bounded, the admitted digest as its subject), then its bundle layer (bounded), whose
 * bytes `parse` reads. Undefined when no time was left; a transient registry failure is also told
 * in `problems` (it may have hidden a signature).
 */
export async function readReferrerBundle<T>(
  input: DiscoveryInput,
  descriptor: Descriptor,
  source: string,
  problems: DiscoveryProblem[],
  parse: (bytes: Buffer) => T,
): Promise<ReferrerRead<T> | undefined> {
  const { registry, locator, digest, deadline, limits } = input;
  if (!timeLeft(deadline, problems, source)) return undefined;
  if (descriptor.size > limits.maxBlobBytes) return { error: oversized(`its manifest is ${descriptor.size} bytes, over the limit of ${limits.maxBlobBytes}`) };
  try {
    const manifest = await registry.fetchManifest(locator, descriptor.digest, { maxBytes: limits.maxBlobBytes, deadline });
    const subject = manifest.json['subject'];
    if (!isPlainObject(subject) || subject['digest'] !== digest) return { error: malformed('its manifest does not name the admitted digest as its subject') };
    const layers = Array.isArray(manifest.json['layers']) ? manifest.json['layers'].map(readLayer) : [];
    const layer = layers.find((candidate): candidate is Descriptor => candidate !== undefined && isBundleMediaType(candidate.mediaType));
    if (layer === undefined) return { error: malformed(`its manifest has no layer of media type ${BUNDLE_ARTIFACT_TYPE}`) };
    if (layer.size > limits.maxBlobBytes) return { error: oversized(`the bundle is ${layer.size} bytes, over the limit of ${limits.maxBlobBytes}`) };
    if (!timeLeft(deadline, problems, source)) return undefined;
    const blob = await registry.fetchBlob(locator, layer.digest, { maxBytes: limits.maxBlobBytes, expectedSize: layer.size, deadline });
    return { value: parse(blob.bytes) };
  } catch (error) {
    if (isTransient(error)) problems.push(problemOf(`reading ${source} failed`, error));
    return { error: asError(error) };
  }
}

/** A cosign v3 bundle referrer: its manifest (subject checked), then the bundle layer. */
export async function readBundleReferrer(input: DiscoveryInput, descriptor: Descriptor, problems: DiscoveryProblem[]): Promise<Candidate | undefined> {
  const source = `bundle ${shortDigest(descriptor.digest)}`;
  const read = await readReferrerBundle(input, descriptor, source, problems, parseBundle);
  if (read === undefined) return undefined;
  return 'error' in read
    ? { source, format: 'bundle', parsed: undefined, error: read.error }
    : { source, format: 'bundle', parsed: read.value, error: undefined };
}

/** A simple-signing layer: its annotations first (garbage fails without a request), then the payload. */
export async function readSimpleSigningLayer(
  input: DiscoveryInput,
  source: string,
  layer: Descriptor,
  problems: DiscoveryProblem[],
): Promise<Candidate | undefined> {
  const { registry, locator, deadline, limits } = input;
  const failed = (error: Error): Candidate => ({ source, format: 'legacy', parsed: undefined, error });
  if (!timeLeft(deadline, problems, source)) return undefined;
  if (layer.size > limits.maxBlobBytes) return failed(oversized(`its payload is ${layer.size} bytes, over the limit of ${limits.maxBlobBytes}`));
  try {
    const material = readLegacyMaterial(layer.mediaType, layer.annotations ?? {});
    const blob = await registry.fetchBlob(locator, layer.digest, { maxBytes: limits.maxBlobBytes, expectedSize: layer.size, deadline });
    return { source, format: 'legacy', parsed: buildLegacyBundle(material, blob.bytes), error: undefined };
  } catch (error) {
    if (isTransient(error)) problems.push(problemOf(`reading ${source} failed`, error));
    return failed(asError(error));
  }
}
