/**
 * Sigstore bundles as cosign v3 attaches them (OCI 1.1 referrers of artifactType
 * `application/vnd.dev.sigstore.bundle.v0.3+json`, the bundle JSON in the manifest's one layer
 * of the same media type): parsing with @sigstore/bundle and reading what the bundle signs.
 *
 * v0.3 bundles normally carry a single `certificate`, but cosign v3 `sign --certificate …
 * --certificate-chain …` and OpenSSF model-signing's certificate mode write an
 * `x509CertificateChain` (leaf first) there, which @sigstore/bundle refuses for v0.3: it is
 * accepted here (the chain only helps build the path, chain.ts; trust comes from the trusted root).
 */
import { BUNDLE_V01_MEDIA_TYPE, assertBundleV01, assertBundleV02 } from '@sigstore/bundle';
import type { Bundle } from '@sigstore/bundle';
import { Bundle as BundleMessage } from '@sigstore/protobuf-specs';
import { isPlainObject } from '../core/guards.ts';
import { describeRefusal, parseStrictJson } from '../core/strict-json.ts';
import { parseInTotoStatement } from './binding.ts';
import type { PayloadClaims } from './binding.ts';
import { SignatureFormatError, errorMessage } from './errors.ts';

/** artifactType of cosign v3's referrer manifests and media type of the layer that holds the bundle. */
export const BUNDLE_ARTIFACT_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

/** Layer media types accepted as a bundle (v0.3 and the older `+json;version=` forms). */
export function isBundleMediaType(mediaType: string): boolean {
  return mediaType === BUNDLE_ARTIFACT_TYPE || /^application\/vnd\.dev\.sigstore\.bundle(?:\.v0\.\d+)?\+json(?:;\s*version=0\.\d+)?$/.test(mediaType);
}

/** A bundle ready for verification, with what its payload binds it to. */
export interface ParsedBundle {
  readonly bundle: Bundle;
  /** The signed message of a message-signature bundle (never set for a referrer bundle, which carries no payload). */
  readonly artifact: Buffer | undefined;
  readonly claims: PayloadClaims;
}

/**
 * Parses bundle JSON (already size-capped) and reads its payload. Throws SignatureFormatError
 * (MALFORMED_BUNDLE, UNSUPPORTED_CONTENT) or BindingError (INVALID_PAYLOAD).
 */
export function parseBundle(bytes: Buffer): ParsedBundle {
  const bundle = parseBundleJson(bytes);
  switch (bundle.content.$case) {
    case 'dsseEnvelope': {
      const envelope = bundle.content.dsseEnvelope;
      return { bundle, artifact: undefined, claims: parseInTotoStatement(envelope.payloadType, envelope.payload) };
    }
    case 'messageSignature':
      throw new SignatureFormatError({
        code: 'UNSUPPORTED_CONTENT',
        message: 'the bundle holds a message signature, which carries no payload naming the image it signs (cosign signs images with DSSE in-toto statements)',
      });
  }
}

/** The bundle of bundle JSON (already size-capped), whatever it signs. Throws SignatureFormatError (MALFORMED_BUNDLE). */
export function parseBundleJson(bytes: Uint8Array): Bundle {
  let json: unknown;
  try {
    // Protobuf JSON: field names are matched exactly, so duplicates are what could be read two ways.
    json = parseStrictJson(bytes);
  } catch (error) {
    throw new SignatureFormatError({ code: 'MALFORMED_BUNDLE', message: describeRefusal('bundle', error) });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new SignatureFormatError({ code: 'MALFORMED_BUNDLE', message: 'the bundle is not a JSON object' });
  }
  return toBundle(json as Record<string, unknown>);
}

const invalid = (detail: string, cause?: unknown): SignatureFormatError =>
  new SignatureFormatError({
    code: 'MALFORMED_BUNDLE',
    message: `the bundle is not a valid sigstore bundle: ${detail}`,
    ...(cause === undefined ? {} : { cause }),
  });

/** Protobuf JSON reads one of several oneof fields silently: two of them is ambiguity, refused. */
function oneOf(object: unknown, where: string, fields: readonly string[]): void {
  if (typeof object !== 'object' || object === null) return;
  const present = fields.filter((field) => field in object);
  if (present.length > 1) throw invalid(`${where} holds both ${present.join(' and ')}; it must hold only one of ${fields.join(', ')}`);
}

/** What @sigstore/bundle's field path (`verificationMaterial.content.certificate…`) means, as the JSON field and what it must be. */
function describeField(field: string): string {
  const path = field.replace(/\.content(?=\.|$)/g, '').replace(/^content(?:\.|$)/, '');
  if (field === 'content') return 'it holds neither dsseEnvelope nor messageSignature';
  if (field === 'verificationMaterial.content') return 'verificationMaterial holds none of publicKey, certificate or x509CertificateChain';
  if (field === 'mediaType') return 'mediaType must be a sigstore bundle media type such as application/vnd.dev.sigstore.bundle.v0.3+json';
  if (path.endsWith('.inclusionProof')) return `${path} is missing: from bundle v0.2 on every tlog entry needs an inclusion proof`;
  if (path.endsWith('.inclusionPromise')) return `${path} is missing: v0.1 bundles need a signed entry timestamp for every tlog entry`;
  if (path === 'dsseEnvelope.signatures') return 'dsseEnvelope.signatures must hold exactly one signature';
  if (path.endsWith('.certificates')) return `${path} is empty: it must hold the leaf certificate first, then its chain`;
  return `${path} is missing or empty`;
}

/**
 * Most transparency-log entries and RFC 3161 timestamps a bundle may carry (cosign writes one of
 * each at most): each is a full verification, so a pushed bundle with hundreds would cost
 * hundreds of them per authority before the certificate is even looked at.
 */
export const MAX_BUNDLE_EVIDENCE = 4;

function assertFewEvidence(material: unknown): void {
  if (!isPlainObject(material)) return;
  const stamps = isPlainObject(material['timestampVerificationData']) ? material['timestampVerificationData']['rfc3161Timestamps'] : undefined;
  for (const [field, list] of [
    ['verificationMaterial.tlogEntries', material['tlogEntries']],
    ['verificationMaterial.timestampVerificationData.rfc3161Timestamps', stamps],
  ] as const) {
    if (Array.isArray(list) && list.length > MAX_BUNDLE_EVIDENCE)
      throw invalid(`${field} holds ${list.length} entries; at most ${MAX_BUNDLE_EVIDENCE} are read (cosign writes one)`);
  }
}

/** The bundle of a JSON object: protobuf JSON checked as @sigstore/bundle does, except that v0.3 may carry a chain. */
function toBundle(json: Record<string, unknown>): Bundle {
  oneOf(json, 'the bundle', ['dsseEnvelope', 'messageSignature']);
  oneOf(json['verificationMaterial'], 'verificationMaterial', ['publicKey', 'certificate', 'x509CertificateChain']);
  assertFewEvidence(json['verificationMaterial']);
  let bundle: Bundle;
  try {
    bundle = BundleMessage.fromJSON(json) as Bundle;
  } catch (error) {
    throw invalid(errorMessage(error, 120), error);
  }
  try {
    // v0.1 needs signed entry timestamps, v0.2 and later inclusion proofs; v0.3's "no chain" rule is not applied.
    if (bundle.mediaType === BUNDLE_V01_MEDIA_TYPE) assertBundleV01(bundle);
    else assertBundleV02(bundle);
  } catch (error) {
    const fields = (error as { fields?: unknown }).fields;
    const details = Array.isArray(fields) ? fields.filter((field): field is string => typeof field === 'string').slice(0, 3) : [];
    throw invalid(details.length > 0 ? details.map(describeField).join('; ') : errorMessage(error, 120), error);
  }
  return bundle;
}
