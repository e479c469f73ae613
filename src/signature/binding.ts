/**
 * Binding: what a signed payload says it signs, and whether that is the admitted artifact.
 * A signature over another digest never passes, whoever made it.
 *
 * - cosign simple signing (legacy `.sig` tags; `application/vnd.dev.cosign.simplesigning.v1+json`):
 *   `critical.type` is "cosign container image signature", `critical.image.docker-manifest-digest`
 *   must equal the admitted digest and `critical.identity.docker-reference` must name the
 *   repository that `signatures.signedIdentity` requires (by default the admitted one,
 *   `docker.io` normalisation tolerated).
 * - in-toto statements in DSSE envelopes (cosign v3 bundles): predicateType
 *   `https://sigstore.dev/cosign/sign/v1` and a subject whose digest is the admitted digest.
 *   cosign v3 writes subjects without a name, so there is no repository to compare and
 *   signedIdentity does not apply: the digest binding is all there is.
 */
import { shortDigest } from '../oci/digest.ts';
import { ANY, STRING, STRING_MAP, describeRefusal, arrayOf, objectOf, parseStrictJson } from '../core/strict-json.ts';
import type { JsonShape } from '../core/strict-json.ts';
import type { RepositoryLocator } from '../oci/types.ts';
import { parseReference } from '../reference/parse.ts';
import { BindingError } from './errors.ts';
import { MATCH_REPOSITORY, requiredRepository } from './signed-identity.ts';
import type { SignedIdentity } from './signed-identity.ts';

export const SIMPLE_SIGNING_TYPE = 'cosign container image signature';
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
const IN_TOTO_STATEMENT_TYPES = ['https://in-toto.io/Statement/v1', 'https://in-toto.io/Statement/v0.1'];

/** What a payload binds the signature to. */
export interface PayloadClaims {
  readonly format: 'simplesigning' | 'in-toto';
  /** Every digest the payload signs (`sha256:…`). */
  readonly digests: readonly string[];
  /** `critical.identity.docker-reference` (simple signing only). */
  readonly dockerReference: string | undefined;
}

/** cosign's payload.SimpleContainerImage, as Go decodes it. */
const SIMPLE_SIGNING_SHAPE: JsonShape = objectOf({
  critical: objectOf({
    identity: objectOf({ 'docker-reference': STRING }),
    image: objectOf({ 'docker-manifest-digest': STRING }),
    type: STRING,
  }),
  optional: ANY,
});

/** An in-toto Statement (v1 or v0.1) and its resource descriptors. */
const STATEMENT_SHAPE: JsonShape = objectOf({
  _type: STRING,
  subject: arrayOf(objectOf({ name: STRING, uri: STRING, digest: STRING_MAP, content: STRING, downloadLocation: STRING, mediaType: STRING, annotations: ANY })),
  predicateType: STRING,
  predicate: ANY,
});

function parseJson(bytes: Buffer, what: string, shape: JsonShape): Record<string, unknown> {
  let value: unknown;
  try {
    value = parseStrictJson(bytes, shape);
  } catch (error) {
    throw new BindingError({ code: 'INVALID_PAYLOAD', message: describeRefusal(what, error) });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BindingError({ code: 'INVALID_PAYLOAD', message: `the ${what} is not a JSON object` });
  }
  return value as Record<string, unknown>;
}

const objectAt = (value: unknown, key: string): Record<string, unknown> | undefined => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const inner = (value as Record<string, unknown>)[key];
  return typeof inner === 'object' && inner !== null && !Array.isArray(inner) ? (inner as Record<string, unknown>) : undefined;
};

/** Reads a cosign simple-signing payload. */
export function parseSimpleSigning(payload: Buffer): PayloadClaims {
  const json = parseJson(payload, 'simple-signing payload', SIMPLE_SIGNING_SHAPE);
  const critical = objectAt(json, 'critical');
  if (critical === undefined) throw new BindingError({ code: 'INVALID_PAYLOAD', message: 'the simple-signing payload has no "critical" section' });
  const type = critical['type'];
  if (typeof type !== 'string' || type.toLowerCase() !== SIMPLE_SIGNING_TYPE) {
    throw new BindingError({
      code: 'INVALID_PAYLOAD',
      message: `the simple-signing payload has type ${JSON.stringify(type ?? null)}, not "${SIMPLE_SIGNING_TYPE}"`,
    });
  }
  const digest = objectAt(critical, 'image')?.['docker-manifest-digest'];
  if (typeof digest !== 'string' || digest === '') {
    throw new BindingError({ code: 'INVALID_PAYLOAD', message: 'the simple-signing payload names no critical.image.docker-manifest-digest' });
  }
  const reference = objectAt(critical, 'identity')?.['docker-reference'];
  return { format: 'simplesigning', digests: [digest], dockerReference: typeof reference === 'string' ? reference : undefined };
}

/** Reads an in-toto statement of cosign's sign predicate (the payload of a cosign v3 DSSE bundle). */
export function parseInTotoStatement(payloadType: string, payload: Buffer): PayloadClaims {
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    throw new BindingError({ code: 'INVALID_PAYLOAD', message: `the DSSE payload type is ${JSON.stringify(payloadType)}, not ${IN_TOTO_PAYLOAD_TYPE}` });
  }
  const json = parseJson(payload, 'in-toto statement', STATEMENT_SHAPE);
  const type = json['_type'];
  if (typeof type !== 'string' || !IN_TOTO_STATEMENT_TYPES.includes(type)) {
    throw new BindingError({ code: 'INVALID_PAYLOAD', message: `the DSSE payload is not an in-toto statement (_type ${JSON.stringify(type ?? null)})` });
  }
  const predicateType = json['predicateType'];
  if (predicateType !== COSIGN_SIGN_PREDICATE) {
    // An attestation (SBOM, provenance, …) by the same signer is a statement about the image, not its signature.
    throw new BindingError({
      code: 'INVALID_PAYLOAD',
      message: `the statement is an attestation of predicate type ${JSON.stringify(predicateType ?? null)}, not a cosign signature (${COSIGN_SIGN_PREDICATE})`,
    });
  }
  const subjects = json['subject'];
  if (!Array.isArray(subjects) || subjects.length === 0) {
    throw new BindingError({ code: 'INVALID_PAYLOAD', message: 'the in-toto statement has no subject' });
  }
  const digests: string[] = [];
  for (const subject of subjects.slice(0, 64)) {
    const digest = objectAt(subject, 'digest');
    if (digest === undefined) continue;
    for (const [algorithm, hex] of Object.entries(digest)) {
      if (typeof hex === 'string') digests.push(`${algorithm}:${hex.toLowerCase()}`);
    }
  }
  if (digests.length === 0) throw new BindingError({ code: 'INVALID_PAYLOAD', message: 'the in-toto statement names no subject digest' });
  return { format: 'in-toto', digests, dockerReference: undefined };
}

/** `registry/repository`, normalised (docker.io, library/, index.docker.io); undefined when not a reference. */
export function normalizedRepository(reference: string): string | undefined {
  try {
    const parsed = parseReference(reference);
    return `${parsed.registry}/${parsed.repository}`;
  } catch {
    return undefined;
  }
}

/**
 * Throws BindingError unless the claims sign `digest` and, where the payload names a
 * repository, name the one `identity` requires for the locator's repository (signed-identity.ts).
 */
export function assertBinding(claims: PayloadClaims, digest: string, locator: RepositoryLocator, identity: SignedIdentity = MATCH_REPOSITORY): void {
  if (!claims.digests.includes(digest)) {
    const signed = claims.digests.map(shortDigest).join(', ');
    throw new BindingError({ code: 'DIGEST_MISMATCH', message: `it signs ${signed}, not the admitted ${shortDigest(digest)}` });
  }
  if (claims.format !== 'simplesigning') return;
  const admitted = normalizedRepository(`${locator.registry}/${locator.repository}`) ?? `${locator.registry}/${locator.repository}`;
  const required = requiredRepository(identity, admitted);
  if (required === undefined) return;
  if (claims.dockerReference === undefined) {
    throw new BindingError({ code: 'REPOSITORY_MISMATCH', message: 'the simple-signing payload names no critical.identity.docker-reference' });
  }
  const signed = normalizedRepository(claims.dockerReference);
  if (signed !== required.repository) {
    const because = required.because === undefined ? '' : ` (${required.because})`;
    throw new BindingError({
      code: 'REPOSITORY_MISMATCH',
      message: `it was signed for repository ${JSON.stringify(claims.dockerReference)}, not ${required.repository}${because}`,
    });
  }
}
