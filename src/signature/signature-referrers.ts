/**
 * cosign v2's OCI 1.1 layout (`COSIGN_EXPERIMENTAL=1 cosign sign --registry-referrers-mode=oci-1-1`,
 * read back by `cosign verify --experimental-oci11`). Each `cosign sign` pushes one referrer of
 * the signed digest, as cosign v2.6 writes it:
 *
 * - an OCI image manifest with `artifactType` and `config.mediaType` both
 *   `application/vnd.dev.cosign.artifact.sig.v1+json` (the config blob is the image config of
 *   the signature image), `subject` = the signed manifest, no annotations;
 * - its layers are the simple-signing layers of the legacy `.sig` manifest, annotations and all:
 *   the signatures that were in the `.sig` tag when it signed, then the new one, last.
 *
 * On a registry without the referrers API, go-containerregistry inside cosign adds the manifest
 * to the `sha256-<hex>` referrers tag index. `cosign verify --experimental-oci11` reads only the
 * last referrer listed; here every listed referrer is read (within the discovery budget), and
 * each layer is one signature judged as a `.sig` layer is.
 */
import { shortDigest } from '../oci/digest.ts';
import { isPlainObject } from '../core/guards.ts';
import { OCI_MANIFEST } from '../oci/media-types.ts';
import type { Descriptor } from '../oci/types.ts';
import { asError, isTransient, malformed, oversized, problemOf, readLayer, signatureManifestLimit, timeLeft } from './discovery-reads.ts';
import type { Candidate, DiscoveryInput, DiscoveryProblem } from './discovery-reads.ts';

/** artifactType (and config media type) of cosign v2's OCI 1.1 signature referrers: `ArtifactType("sig")` in cosign. */
export const COSIGN_SIGNATURE_ARTIFACT_TYPE = 'application/vnd.dev.cosign.artifact.sig.v1+json';

/** One layer of a signature referrer: a descriptor to read, or why it cannot be. */
export interface ReferrerLayer {
  readonly source: string;
  readonly layer: Descriptor | undefined;
}

/** A signature referrer's layers, or the candidate that says why the manifest was refused. */
export type SignatureReferrer = { readonly layers: readonly ReferrerLayer[] } | { readonly refused: Candidate };

export function signatureReferrerSource(descriptor: Descriptor): string {
  return `cosign referrer ${shortDigest(descriptor.digest)}`;
}

/** The artifact type a manifest declares: `artifactType`, else `config.mediaType` (OCI 1.1). */
function declaredArtifactType(json: Readonly<Record<string, unknown>>): unknown {
  if ('artifactType' in json) return json['artifactType'];
  const config = json['config'];
  return isPlainObject(config) ? config['mediaType'] : undefined;
}

/**
 * Fetches one listed signature referrer and checks that it is what cosign writes: an OCI image
 * manifest of the signature artifact type whose subject is the admitted digest. Anything else
 * (another subject, another type, an index, no layers, too large) is refused as that signature's
 * verdict; a registry-side failure is a problem. Undefined when no time was left.
 */
export async function readSignatureReferrer(
  input: DiscoveryInput,
  descriptor: Descriptor,
  problems: DiscoveryProblem[],
): Promise<SignatureReferrer | undefined> {
  const { registry, locator, digest, deadline, limits } = input;
  const source = signatureReferrerSource(descriptor);
  const refused = (error: Error): SignatureReferrer => ({ refused: { source, format: 'legacy', parsed: undefined, error } });
  if (!timeLeft(deadline, problems, source)) return undefined;
  const maxBytes = signatureManifestLimit(limits);
  if (descriptor.size > maxBytes) return refused(oversized(`its manifest is ${descriptor.size} bytes, over the limit of ${maxBytes}`));
  try {
    const manifest = await registry.fetchManifest(locator, descriptor.digest, { maxBytes, deadline });
    const { json } = manifest;
    if (manifest.mediaType !== OCI_MANIFEST) return refused(malformed(`it is a ${manifest.mediaType}, not an OCI image manifest`));
    const subject = json['subject'];
    if (!isPlainObject(subject) || subject['digest'] !== digest) return refused(malformed('its manifest does not name the admitted digest as its subject'));
    const declared = declaredArtifactType(json);
    if (declared !== COSIGN_SIGNATURE_ARTIFACT_TYPE) {
      return refused(malformed(`it was listed as a cosign signature but its manifest declares artifactType ${JSON.stringify(declared ?? null)}`));
    }
    const layers = json['layers'];
    if (!Array.isArray(layers) || layers.length === 0) return refused(malformed('its manifest has no signature layers'));
    return { layers: layers.map((value, index) => ({ source: `${source} layer ${index + 1}`, layer: readLayer(value) })) };
  } catch (error) {
    if (isTransient(error)) problems.push(problemOf(`reading ${source} failed`, error));
    return refused(asError(error));
  }
}
