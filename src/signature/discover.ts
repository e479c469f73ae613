/**
 * Signature discovery: the registry reads that find an artifact's signatures, bounded in
 * count and size before anything is fetched. Three layouts, as cosign writes them:
 *
 * - cosign v3 (and any sigstore-bundle signer): OCI 1.1 referrers of artifactType
 *   `application/vnd.dev.sigstore.bundle.v0.3+json`. Each referrer is a manifest whose layer of
 *   media type `application/vnd.dev.sigstore.bundle.v0.3+json` is the bundle JSON.
 * - cosign v2 in OCI 1.1 mode (`--registry-referrers-mode=oci-1-1`, signature-referrers.ts):
 *   OCI 1.1 referrers of artifactType `application/vnd.dev.cosign.artifact.sig.v1+json` whose
 *   layers are simple-signing layers, as in the `.sig` manifest.
 * - cosign v1/v2: the `sha256-<hex>.sig` tag, a manifest whose layers are simple-signing
 *   payloads with the signature (and certificate, Rekor bundle…) in annotations.
 *
 * Registry.fetchReferrers falls back to the `sha256-<hex>` referrers tag where the registry has
 * no referrers API and filters by artifactType itself; both referrer types come from one listing
 * (one round trip) in which each is capped on its own, so a flood of one cannot crowd the other out.
 *
 * At most `maxCandidates` signatures are read, each blob at most `maxBlobBytes`. The budget is
 * shared fairly between the layouts (splitBudget), so a flood in one cannot crowd out the
 * others. A cosign signature referrer's layers are only known once its manifest is read: the
 * manifests are read first, within that layout's share, then the budget is split over the
 * signatures. A simple-signing layer found twice (cosign copies the `.sig` layers into every
 * OCI 1.1 referrer it writes) is read once. Registry failures are reported as problems, so a
 * caller can tell "unsigned" from "could not look".
 */
import { isRegistryError } from '../oci/errors.ts';
import type { Descriptor } from '../oci/types.ts';
import { BUNDLE_ARTIFACT_TYPE } from './bundle.ts';
import {
  asError,
  isTransient,
  malformed,
  pool,
  problemOf,
  readBundleReferrer,
  readLayer,
  readSimpleSigningLayer,
  signatureManifestLimit,
} from './discovery-reads.ts';
import type { Candidate, DiscoveryInput, DiscoveryProblem } from './discovery-reads.ts';
import { legacySignatureTag } from './legacy.ts';
import { COSIGN_SIGNATURE_ARTIFACT_TYPE, readSignatureReferrer } from './signature-referrers.ts';

export type { Candidate, DiscoveryInput, DiscoveryProblem } from './discovery-reads.ts';

export interface Discovery {
  readonly candidates: readonly Candidate[];
  /** More signatures exist than were read. */
  readonly truncated: boolean;
  readonly problems: readonly DiscoveryProblem[];
  /** How the referrers were listed: `api`, `tag` (fallback), or undefined when listing failed. */
  readonly referrersSource: 'api' | 'tag' | undefined;
}

const CONCURRENCY = 4;
/**
 * The layouts sharing the budget. Whatever the others hold, splitBudget gives the `.sig` tag at
 * least maxCandidates / LAYOUTS (one unit per layout and round, the tag last), so that many of its
 * layers are read as soon as the tag arrives, beside the referrers listing, not a round trip
 * after it (with their own CONCURRENCY: at most twice that many reads at once).
 */
const LAYOUTS = 3;

/** A signature to read (a simple-signing layer) or one already judged (unreadable descriptor, refused manifest). */
type Entry = { readonly source: string; readonly layer: Descriptor } | { readonly candidate: Candidate };

/**
 * The fair split of `max` between sources that want `demands[i]` each: one unit at a time to
 * each source still wanting more, in order, so none gets less than an equal share unless it
 * wants less, and what one does not need goes to the others.
 */
export function splitBudget(max: number, demands: readonly number[]): number[] {
  const shares = demands.map(() => 0);
  let left = max;
  for (let progress = true; left > 0 && progress; ) {
    progress = false;
    for (let index = 0; index < demands.length && left > 0; index++) {
      if ((shares[index] ?? 0) < (demands[index] ?? 0)) {
        shares[index] = (shares[index] ?? 0) + 1;
        left--;
        progress = true;
      }
    }
  }
  return shares;
}

function legacySource(tag: string, index: number): string {
  return `${tag.length > 24 ? `${tag.slice(0, 19)}….sig` : tag} layer ${index + 1}`;
}

/** The key under which a simple-signing layer is read once: its payload digest and every annotation. */
function layerKey(layer: Descriptor): string {
  const annotations = Object.entries(layer.annotations ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `${layer.digest}\n${JSON.stringify(annotations)}`;
}

/** The referrer layouts of signatures, listed together. */
const REFERRER_TYPES: readonly string[] = [BUNDLE_ARTIFACT_TYPE, COSIGN_SIGNATURE_ARTIFACT_TYPE];

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
  const seen = new Set<string>();
  const entryOf = (source: string, layer: Descriptor | undefined): Entry | undefined => {
    if (layer === undefined) return { candidate: { source, format: 'legacy', parsed: undefined, error: malformed('the layer is not a valid OCI descriptor') } };
    const key = layerKey(layer);
    if (seen.has(key)) return undefined;
    seen.add(key);
    return { source, layer };
  };
  const read = (entry: Entry) => (): Promise<Candidate | undefined> =>
    'candidate' in entry ? Promise.resolve(entry.candidate) : readSimpleSigningLayer(input, entry.source, entry.layer, problems);

  // One listing for both referrer layouts (one round trip), each capped on its own at one more
  // than the budget: that tells whether its list was cut. The `.sig` tag is read beside it, and
  // its first layers as soon as it arrives (see LAYOUTS).
  const [referrers, legacy] = await Promise.all([
    registry
      .fetchReferrers(locator, digest, { artifactType: REFERRER_TYPES, maxResults: limits.maxCandidates + 1, deadline })
      .catch((error: unknown) =>
        onFailure('listing the signature referrers (sigstore bundles, cosign signatures) failed', 'the referrers list', 'bundle', error),
      ),
    tag === undefined
      ? Promise.resolve(undefined)
      : registry
          .fetchManifestByTag(locator, tag, { maxBytes: signatureManifestLimit(limits), deadline })
          .catch((error: unknown) =>
            isRegistryError(error, 'NOT_FOUND') ? undefined : onFailure(`reading the cosign signature tag ${tag} failed`, tag, 'legacy', error),
          )
          .then((manifest) => {
            const layers = manifest?.json['layers'];
            const entries: Entry[] = [];
            // Only the layers the budget could ever read are looked at; the rest count towards "truncated".
            if (Array.isArray(layers))
              for (const [index, value] of layers.slice(0, limits.maxCandidates).entries()) {
                const entry = entryOf(legacySource(tag, index), readLayer(value));
                if (entry !== undefined) entries.push(entry);
              }
            const earlyCount = Math.min(entries.length, Math.floor(limits.maxCandidates / LAYOUTS));
            return { manifest, entries, earlyCount, early: pool(entries.slice(0, earlyCount).map(read), CONCURRENCY) };
          }),
  ]);

  if (tag !== undefined && legacy?.manifest !== undefined && !Array.isArray(legacy.manifest.json['layers']))
    candidates.push({ source: tag, format: 'legacy', parsed: undefined, error: malformed(`the signature manifest ${tag} has no layers`) });
  const legacyEntries = legacy?.entries ?? [];
  const legacyEarlyCount = legacy?.earlyCount ?? 0;
  const legacyEarly = legacy?.early ?? Promise.resolve([]);
  const legacyLayers = legacy?.manifest?.json['layers'];
  const legacyCount = Array.isArray(legacyLayers) ? legacyLayers.length : 0;
  const listed = referrers?.descriptors ?? [];
  const bundleDescriptors = listed.filter((descriptor) => descriptor.artifactType === BUNDLE_ARTIFACT_TYPE);
  const referrerDescriptors = listed.filter((descriptor) => descriptor.artifactType === COSIGN_SIGNATURE_ARTIFACT_TYPE);

  // The cosign signature referrers' manifests, within that layout's share of the budget.
  const [, manifestShare = 0] = splitBudget(limits.maxCandidates, [bundleDescriptors.length, referrerDescriptors.length, legacyCount]);
  const manifests = await pool(
    referrerDescriptors.slice(0, manifestShare).map((descriptor) => () => readSignatureReferrer(input, descriptor, problems)),
    CONCURRENCY,
  );
  const referrerEntries: Entry[] = [];
  for (const manifest of manifests) {
    if (manifest === undefined) continue;
    if ('refused' in manifest) referrerEntries.push({ candidate: manifest.refused });
    else
      for (const { source, layer } of manifest.layers.slice(0, limits.maxCandidates)) {
        const entry = entryOf(source, layer);
        if (entry !== undefined) referrerEntries.push(entry);
      }
  }

  const [bundleShare = 0, referrerShare = 0, legacyShare = 0] = splitBudget(limits.maxCandidates, [
    bundleDescriptors.length,
    referrerEntries.length,
    legacyEntries.length,
  ]);
  const truncated =
    (referrers?.truncated ?? false) ||
    bundleDescriptors.length > bundleShare ||
    referrerDescriptors.length > manifestShare ||
    referrerEntries.length > referrerShare ||
    legacyEntries.length > legacyShare ||
    legacyCount > limits.maxCandidates ||
    manifests.some((manifest) => manifest !== undefined && 'layers' in manifest && manifest.layers.length > limits.maxCandidates);

  // The legacy layers read early are a prefix of the legacy share, which is never smaller; the rest are read now.
  const head = [
    ...bundleDescriptors.slice(0, bundleShare).map((descriptor) => () => readBundleReferrer(input, descriptor, problems)),
    ...referrerEntries.slice(0, referrerShare).map(read),
  ];
  const [reads, early] = await Promise.all([pool([...head, ...legacyEntries.slice(legacyEarlyCount, legacyShare).map(read)], CONCURRENCY), legacyEarly]);
  for (const candidate of [...reads.slice(0, head.length), ...early, ...reads.slice(head.length)]) if (candidate !== undefined) candidates.push(candidate);
  return { candidates, truncated, problems, referrersSource: referrers?.source };
}
