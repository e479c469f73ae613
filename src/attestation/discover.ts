/**
 * Attestation discovery, bounded as signature discovery is (signature/discover.ts): at most
 * `maxCandidates` attestations read, shared fairly between the two layouts, each manifest and
 * blob at most `maxBlobBytes`, all before the deadline.
 *
 * - cosign v3: OCI 1.1 referrers of artifactType `application/vnd.dev.sigstore.bundle.v0.3+json`
 *   (or the `sha256-<hex>` referrers tag where the registry has no referrers API), as for
 *   signatures; cosign annotates each with `dev.sigstore.bundle.predicateType`.
 * - cosign v2: the `sha256-<hex>.att` tag, one DSSE envelope per layer, annotated `predicateType`.
 *
 * The annotations are unsigned: they only spare reading what the policy does not ask for. A
 * referrer or layer annotated with another predicate type is skipped (mislabelling one can only
 * hide it: the requirement then fails); the statement's own predicateType is what is judged.
 */
import { shortDigest } from '../oci/digest.ts';
import { isRegistryError } from '../oci/errors.ts';
import type { Descriptor } from '../oci/types.ts';
import { BUNDLE_ARTIFACT_TYPE } from '../signature/bundle.ts';
import { splitBudget } from '../signature/discover.ts';
import { cosignTag } from '../signature/legacy.ts';
import {
  asError,
  isTransient,
  malformed,
  oversized,
  pool,
  problemOf,
  readLayer,
  readReferrerBundle,
  signatureManifestLimit,
  timeLeft,
} from '../signature/discovery-reads.ts';
import type { DiscoveryInput, DiscoveryProblem } from '../signature/discovery-reads.ts';
import { DSSE_ENVELOPE_MEDIA_TYPE, parseAttestationBundle, parseAttestationLayer } from './envelope.ts';
import type { ParsedAttestation } from './envelope.ts';

/** One attestation found: parsed, or why it could not be read. */
export interface AttestationCandidate {
  /** `bundle sha256:9f2c417e014c…`, `sha256-3722….att layer 1`. */
  readonly source: string;
  readonly attestation: ParsedAttestation | undefined;
  readonly error: Error | undefined;
}

export interface AttestationDiscovery {
  readonly candidates: readonly AttestationCandidate[];
  /** More attestations exist than were read. */
  readonly truncated: boolean;
  readonly problems: readonly DiscoveryProblem[];
}

const CONCURRENCY = 4;
const BUNDLE_PREDICATE_ANNOTATION = 'dev.sigstore.bundle.predicateType';
const LAYER_PREDICATE_ANNOTATION = 'predicateType';

/** The cosign v2 attestation tag of a digest: `sha256-<hex>.att`. */
export const attestationTag = (digest: string): string | undefined => cosignTag(digest, 'att');

/** Whether an unsigned annotation rules a descriptor out: it names a predicate type that is not wanted. */
const unwanted = (annotations: Readonly<Record<string, string>> | undefined, key: string, wanted: ReadonlySet<string>): boolean => {
  const declared = annotations?.[key];
  return declared !== undefined && !wanted.has(declared);
};

async function readBundle(input: DiscoveryInput, descriptor: Descriptor, problems: DiscoveryProblem[]): Promise<AttestationCandidate | undefined> {
  const source = `bundle ${shortDigest(descriptor.digest)}`;
  const read = await readReferrerBundle(input, descriptor, source, problems, parseAttestationBundle);
  if (read === undefined) return undefined;
  return 'error' in read ? { source, attestation: undefined, error: read.error } : { source, attestation: read.value, error: undefined };
}

async function readEnvelopeLayer(
  input: DiscoveryInput,
  source: string,
  layer: Descriptor,
  problems: DiscoveryProblem[],
): Promise<AttestationCandidate | undefined> {
  const { registry, locator, deadline, limits } = input;
  const failed = (error: Error): AttestationCandidate => ({ source, attestation: undefined, error });
  if (!timeLeft(deadline, problems, source)) return undefined;
  if (layer.mediaType !== DSSE_ENVELOPE_MEDIA_TYPE) return failed(malformed(`the layer is a ${layer.mediaType}, not a DSSE envelope`));
  if (layer.size > limits.maxBlobBytes) return failed(oversized(`its envelope is ${layer.size} bytes, over the limit of ${limits.maxBlobBytes}`));
  try {
    const blob = await registry.fetchBlob(locator, layer.digest, { maxBytes: limits.maxBlobBytes, expectedSize: layer.size, deadline });
    return { source, attestation: parseAttestationLayer(layer.annotations ?? {}, blob.bytes), error: undefined };
  } catch (error) {
    if (isTransient(error)) problems.push(problemOf(`reading ${source} failed`, error));
    return failed(asError(error));
  }
}

/** Finds the admitted digest's attestations of the wanted predicate types (both layouts). Never throws for registry problems. */
export async function discoverAttestations(input: DiscoveryInput, wanted: ReadonlySet<string>): Promise<AttestationDiscovery> {
  const { registry, locator, digest, deadline, limits } = input;
  const problems: DiscoveryProblem[] = [];
  const candidates: AttestationCandidate[] = [];
  if (Date.now() >= deadline) return { candidates, truncated: false, problems: [{ message: 'no time was left to look for attestations', retryable: true }] };
  const tag = attestationTag(digest);
  const onFailure = (what: string, source: string, error: unknown): undefined => {
    if (isTransient(error)) problems.push(problemOf(what, error));
    else candidates.push({ source, attestation: undefined, error: asError(error) });
    return undefined;
  };
  const [referrers, att] = await Promise.all([
    registry
      .fetchReferrers(locator, digest, { artifactType: BUNDLE_ARTIFACT_TYPE, maxResults: limits.maxCandidates * 4 + 1, deadline })
      .catch((error: unknown) => onFailure('listing the sigstore bundles (referrers) failed', 'the referrers list', error)),
    tag === undefined
      ? Promise.resolve(undefined)
      : registry
          .fetchManifestByTag(locator, tag, { maxBytes: signatureManifestLimit(limits), deadline })
          .catch((error: unknown) =>
            isRegistryError(error, 'NOT_FOUND') ? undefined : onFailure(`reading the cosign attestation tag ${tag} failed`, tag, error),
          ),
  ]);
  // cosign v3 signatures are bundle referrers too: the annotation leaves them out without a read.
  const bundles = (referrers?.descriptors ?? []).filter((descriptor) => !unwanted(descriptor.annotations, BUNDLE_PREDICATE_ANNOTATION, wanted));
  const layers: { readonly source: string; readonly layer: Descriptor | undefined }[] = [];
  const listed = att?.json['layers'];
  if (att !== undefined && tag !== undefined) {
    if (!Array.isArray(listed)) candidates.push({ source: tag, attestation: undefined, error: malformed(`the attestation manifest ${tag} has no layers`) });
    else
      for (const [index, value] of listed.entries()) {
        const layer = readLayer(value);
        if (layer !== undefined && unwanted(layer.annotations, LAYER_PREDICATE_ANNOTATION, wanted)) continue;
        layers.push({ source: `${tag.length > 24 ? `${tag.slice(0, 19)}….att` : tag} layer ${index + 1}`, layer });
      }
  }
  const [bundleShare = 0, layerShare = 0] = splitBudget(limits.maxCandidates, [bundles.length, layers.length]);
  const truncated = (referrers?.truncated ?? false) || bundles.length > bundleShare || layers.length > layerShare;
  const tasks = [
    ...bundles.slice(0, bundleShare).map((descriptor) => () => readBundle(input, descriptor, problems)),
    ...layers.slice(0, layerShare).map(
      ({ source, layer }) =>
        () =>
          layer === undefined
            ? Promise.resolve<AttestationCandidate>({ source, attestation: undefined, error: malformed('the layer is not a valid OCI descriptor') })
            : readEnvelopeLayer(input, source, layer, problems),
    ),
  ];
  for (const candidate of await pool(tasks, CONCURRENCY)) if (candidate !== undefined) candidates.push(candidate);
  return { candidates, truncated, problems };
}
