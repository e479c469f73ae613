/**
 * Finding an artifact's OpenSSF Model Signing bundles, bounded like cosign's (discover.ts):
 *
 * - `referrer`: OCI 1.1 referrers of the manifest of artifactType
 *   `application/vnd.dev.sigstore.bundle.v0.3+json` (referrers API or the `sha256-<hex>` tag
 *   fallback, Registry.fetchReferrers), as `oras attach --artifact-type …` writes them. cosign v3
 *   signatures share that artifact type: a referrer whose annotation
 *   `dev.sigstore.bundle.predicateType` names another predicate is not read, one whose statement
 *   turns out to be another predicate is left out (not a failure: it is not an OMS signature).
 * - `layer`: the artifact's own layer at `layerPath` (found by the caller from the manifest it
 *   already holds), one blob of at most `maxBlobBytes`.
 *
 * Registry failures are problems (a "could not check"); content that cannot be read is a
 * candidate with its error, as for cosign signatures.
 */
import { shortDigest } from '../oci/digest.ts';
import type { Bundle } from '@sigstore/bundle';
import type { Descriptor } from '../oci/types.ts';
import { BUNDLE_ARTIFACT_TYPE, parseBundleJson } from './bundle.ts';
import type { ParsedBundle } from './bundle.ts';
import { asError, isTransient, malformed, oversized, pool, problemOf, readReferrerBundle, timeLeft } from './discovery-reads.ts';
import type { DiscoveryInput, DiscoveryProblem } from './discovery-reads.ts';
import { OMS_PREDICATE, OMS_PREDICATE_V01, readOmsStatement } from './oms-statement.ts';
import type { OmsStatement } from './oms-statement.ts';
import type { OmsLocation } from './oms-policy.ts';

/** The annotation cosign v3 (and sigstore-go) put on a bundle referrer: what its statement is. */
const PREDICATE_ANNOTATION = 'dev.sigstore.bundle.predicateType';
const CONCURRENCY = 4;

export interface OmsCandidate {
  /** For messages: `referrer sha256:9f2c417e014c…`, `layer 3 (model.sig)`. */
  readonly source: string;
  readonly location: 'referrer' | 'layer';
  readonly parsed: ParsedBundle | undefined;
  readonly statement: OmsStatement | undefined;
  readonly error: Error | undefined;
}

export interface OmsDiscoveryInput extends DiscoveryInput {
  readonly location: OmsLocation;
  /**
   * The layer at layerPath, when the manifest has one and the location reads layers; a promise
   * (or a function giving one) while the manifest is being read, so the referrers listing need
   * not wait for it, and a cached verdict never asks for it.
   */
  readonly signatureLayer: SignatureLayer | undefined | Promise<SignatureLayer | undefined> | (() => Promise<SignatureLayer | undefined>);
}

export interface SignatureLayer {
  readonly index: number;
  readonly path: string;
  readonly descriptor: Descriptor;
}

export interface OmsDiscovery {
  readonly candidates: readonly OmsCandidate[];
  readonly truncated: boolean;
  readonly problems: readonly DiscoveryProblem[];
  /** Bundle referrers left out because they are another predicate (cosign signatures, attestations). */
  readonly otherBundles: number;
}

const isOmsPredicate = (type: string | undefined): boolean => type === OMS_PREDICATE || type === OMS_PREDICATE_V01;

/** An OMS bundle from its JSON; 'other' when it is a DSSE statement of another predicate type. */
export function parseOmsBundle(bytes: Buffer): { readonly parsed: ParsedBundle; readonly statement: OmsStatement } | 'other' {
  const bundle: Bundle = parseBundleJson(bytes);
  if (bundle.content.$case !== 'dsseEnvelope') throw malformed('the bundle holds a message signature, not the DSSE statement a model signature is');
  const { payloadType, payload } = bundle.content.dsseEnvelope;
  const statement = readOmsStatement(payloadType, payload);
  if ('other' in statement) return 'other';
  // The digest binding of cosign signatures does not apply: the statement is mapped onto the manifest instead (oms-mapping.ts).
  return { parsed: { bundle, artifact: undefined, claims: { format: 'in-toto', digests: [], dockerReference: undefined } }, statement };
}

async function readReferrer(input: OmsDiscoveryInput, descriptor: Descriptor, problems: DiscoveryProblem[]): Promise<OmsCandidate | 'other' | undefined> {
  const source = `referrer ${shortDigest(descriptor.digest)}`;
  const read = await readReferrerBundle(input, descriptor, source, problems, parseOmsBundle);
  if (read === undefined) return undefined;
  if ('error' in read) return { source, location: 'referrer', parsed: undefined, statement: undefined, error: read.error };
  return read.value === 'other' ? 'other' : { source, location: 'referrer', ...read.value, error: undefined };
}

async function readSignatureLayer(
  input: OmsDiscoveryInput,
  signatureLayer: SignatureLayer | undefined,
  problems: DiscoveryProblem[],
): Promise<OmsCandidate | undefined> {
  const { registry, locator, deadline, limits } = input;
  if (signatureLayer === undefined) return undefined;
  const source = `layer ${signatureLayer.index + 1} (${signatureLayer.path})`;
  const failed = (error: Error): OmsCandidate => ({ source, location: 'layer', parsed: undefined, statement: undefined, error });
  const { descriptor } = signatureLayer;
  if (descriptor.size > limits.maxBlobBytes) return failed(oversized(`it is ${descriptor.size} bytes, over the limit of ${limits.maxBlobBytes}`));
  if (!timeLeft(deadline, problems, source)) return undefined;
  try {
    const blob = await registry.fetchBlob(locator, descriptor.digest, { maxBytes: limits.maxBlobBytes, expectedSize: descriptor.size, deadline });
    const read = parseOmsBundle(blob.bytes);
    if (read === 'other') return failed(malformed('it is a sigstore bundle of another predicate type, not a model signature'));
    return { source, location: 'layer', ...read, error: undefined };
  } catch (error) {
    if (isTransient(error)) problems.push(problemOf(`reading ${source} failed`, error));
    return failed(asError(error));
  }
}

export async function discoverModelSignatures(input: OmsDiscoveryInput): Promise<OmsDiscovery> {
  const { registry, locator, digest, deadline, limits, location } = input;
  const problems: DiscoveryProblem[] = [];
  const candidates: OmsCandidate[] = [];
  let truncated = false;
  let otherBundles = 0;
  // The layer once the manifest is in, beside the listing. A manifest that could not be read fails
  // the discovery (awaited below; handled now, so a failure during the listing is not unhandled).
  const layerRead =
    location === 'referrer'
      ? Promise.resolve(undefined)
      : Promise.resolve(typeof input.signatureLayer === 'function' ? input.signatureLayer() : input.signatureLayer).then((layer) =>
          readSignatureLayer(input, layer, problems),
        );
  layerRead.catch(() => undefined);
  if (location !== 'layer') {
    // Ask one more than the budget: it tells whether the list was cut.
    const listed = await registry
      .fetchReferrers(locator, digest, { artifactType: BUNDLE_ARTIFACT_TYPE, maxResults: limits.maxCandidates + 1, deadline })
      .catch((error: unknown) => {
        if (isTransient(error)) problems.push(problemOf('listing the sigstore bundle referrers failed', error));
        else candidates.push({ source: 'the referrers list', location: 'referrer', parsed: undefined, statement: undefined, error: asError(error) });
        return undefined;
      });
    const descriptors = (listed?.descriptors ?? []).filter((descriptor) => {
      const declared = descriptor.annotations?.[PREDICATE_ANNOTATION];
      if (declared === undefined || isOmsPredicate(declared)) return true;
      otherBundles++;
      return false;
    });
    truncated = (listed?.truncated ?? false) || descriptors.length > limits.maxCandidates;
    const reads = await pool(
      descriptors.slice(0, limits.maxCandidates).map((descriptor) => () => readReferrer(input, descriptor, problems)),
      CONCURRENCY,
    );
    for (const read of reads) {
      if (read === 'other') otherBundles++;
      else if (read !== undefined) candidates.push(read);
    }
  }
  const fromLayer = await layerRead;
  if (fromLayer !== undefined) candidates.push(fromLayer);
  return { candidates, truncated, problems, otherBundles };
}
