/**
 * Legacy cosign signatures (the `<alg>-<hex>.sig` tag that cosign v1/v2 write) turned into
 * sigstore bundles, so that one verifier serves both formats.
 *
 * The tag names an OCI (or Docker v2) image manifest whose every layer is one signature:
 * the layer blob is the simple-signing payload (`application/vnd.dev.cosign.simplesigning.v1+json`)
 * and its annotations carry the rest:
 *
 * - `dev.cosignproject.cosign/signature`: base64 signature over the payload bytes;
 * - `dev.sigstore.cosign/certificate`: PEM leaf certificate (keyless);
 * - `dev.sigstore.cosign/chain`: PEM chain up to the root (informational: the trusted root decides);
 * - `dev.sigstore.cosign/bundle`: the Rekor entry and its signed entry timestamp,
 *   `{"SignedEntryTimestamp": b64, "Payload": {"body": b64, "integratedTime": n, "logIndex": n, "logID": hex}}`;
 * - `dev.sigstore.cosign/rfc3161timestamp`: `{"SignedRFC3161Timestamp": b64}` from a timestamp authority.
 *
 * The bundle built here is a message signature over sha256(payload) with the payload as the
 * artifact, and the Rekor entry as a tlog entry with an inclusion promise (the SET).
 */
import { createHash } from 'node:crypto';
import { BUNDLE_V01_MEDIA_TYPE, assertBundleV01 } from '@sigstore/bundle';
import type { Bundle, TransparencyLogEntry } from '@sigstore/bundle';
import { X509Certificate, pem } from '@sigstore/core';
import { HashAlgorithm } from '@sigstore/protobuf-specs';
import type { RFC3161SignedTimestamp } from '@sigstore/protobuf-specs';
import { isPlainObject } from '../core/guards.ts';
import { ANY, INTEGER, STRING, describeRefusal, objectOf, parseStrictJson, parseStrictJsonText } from '../core/strict-json.ts';
import type { JsonShape } from '../core/strict-json.ts';
import { parseSimpleSigning } from './binding.ts';
import type { ParsedBundle } from './bundle.ts';
import { SignatureFormatError, errorMessage } from './errors.ts';

export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
export const CERTIFICATE_ANNOTATION = 'dev.sigstore.cosign/certificate';
export const CHAIN_ANNOTATION = 'dev.sigstore.cosign/chain';
export const REKOR_BUNDLE_ANNOTATION = 'dev.sigstore.cosign/bundle';
export const RFC3161_ANNOTATION = 'dev.sigstore.cosign/rfc3161timestamp';

/** A cosign tag of a digest (`sha256-<hex>.sig`, `.att`); undefined where it would not be a valid tag. */
export function cosignTag(digest: string, suffix: 'sig' | 'att'): string | undefined {
  const tag = `${digest.replace(':', '-')}.${suffix}`;
  return /^[\w][\w.-]{0,127}$/.test(tag) ? tag : undefined;
}

/** The cosign signature tag of a digest: `sha256-<hex>.sig`. */
export const legacySignatureTag = (digest: string): string | undefined => cosignTag(digest, 'sig');

/** One layer of the signature manifest, as read from the registry. */
export interface LegacySignatureLayer {
  readonly mediaType: string;
  readonly annotations: Readonly<Record<string, string>>;
  /** The layer blob: the simple-signing payload. */
  readonly payload: Buffer;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const MAX_SIGNATURE_BYTES = 2048;

function malformed(message: string, cause?: unknown): SignatureFormatError {
  return new SignatureFormatError({ code: 'MALFORMED_SIGNATURE', message, cause });
}

function decodeBase64(value: string, what: string): Buffer {
  const compact = value.replace(/\s+/g, '');
  if (compact === '' || compact.length % 4 !== 0 || !BASE64.test(compact)) throw malformed(`the ${what} is not base64`);
  return Buffer.from(compact, 'base64');
}

/** Every certificate of a PEM text, DER-encoded. */
export function pemCertificates(text: string, what: string): Buffer[] {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw malformed(`the ${what} annotation holds no PEM certificate`);
  return blocks.slice(0, 10).map((block) => {
    const der = pem.toDER(block);
    try {
      X509Certificate.parse(der);
    } catch (error) {
      throw malformed(`the ${what} annotation holds a certificate that cannot be parsed`, error);
    }
    return der;
  });
}

/** cosign's bundle.RekorBundle, as Go decodes the annotation. */
const REKOR_BUNDLE_SHAPE: JsonShape = objectOf({
  SignedEntryTimestamp: STRING,
  Payload: objectOf({ body: ANY, integratedTime: INTEGER, logIndex: INTEGER, logID: STRING }),
});
const REKOR_ENTRY_SHAPE: JsonShape = objectOf({ kind: STRING, apiVersion: STRING, spec: ANY });
const RFC3161_SHAPE: JsonShape = objectOf({ SignedRFC3161Timestamp: STRING });

function strictAnnotation(annotation: string, what: string, shape: JsonShape): unknown {
  try {
    return parseStrictJsonText(annotation, shape);
  } catch (error) {
    throw malformed(describeRefusal(`${what} annotation`, error));
  }
}

/** The Rekor entry of a `dev.sigstore.cosign/bundle` annotation as a tlog entry with an inclusion promise. */
export function rekorBundleToTlogEntry(annotation: string): TransparencyLogEntry {
  const json = strictAnnotation(annotation, 'Rekor bundle', REKOR_BUNDLE_SHAPE);
  const payload = isPlainObject(json) ? json['Payload'] : undefined;
  const set = isPlainObject(json) ? json['SignedEntryTimestamp'] : undefined;
  if (!isPlainObject(payload) || typeof set !== 'string') throw malformed('the Rekor bundle annotation lacks SignedEntryTimestamp or Payload');
  const { body, integratedTime, logIndex, logID } = payload;
  if (typeof body !== 'string') throw malformed('the Rekor bundle annotation has no entry body');
  if (typeof integratedTime !== 'number' || !Number.isSafeInteger(integratedTime) || integratedTime <= 0) {
    throw malformed('the Rekor bundle annotation has no valid integratedTime');
  }
  if (typeof logIndex !== 'number' || !Number.isSafeInteger(logIndex) || logIndex < 0) throw malformed('the Rekor bundle annotation has no valid logIndex');
  if (typeof logID !== 'string' || !/^[0-9a-f]{64}$/i.test(logID)) throw malformed('the Rekor bundle annotation has no valid logID');
  const canonicalizedBody = decodeBase64(body, 'Rekor entry body');
  let entry: unknown;
  try {
    entry = parseStrictJson(canonicalizedBody, REKOR_ENTRY_SHAPE);
  } catch (error) {
    throw malformed(describeRefusal('Rekor entry body', error));
  }
  const kind = isPlainObject(entry) ? entry['kind'] : undefined;
  const version = isPlainObject(entry) ? entry['apiVersion'] : undefined;
  if (typeof kind !== 'string' || typeof version !== 'string') throw malformed('the Rekor entry body names no kind and apiVersion');
  return {
    logIndex: String(logIndex),
    logId: { keyId: Buffer.from(logID, 'hex') },
    kindVersion: { kind, version },
    integratedTime: String(integratedTime),
    inclusionPromise: { signedEntryTimestamp: decodeBase64(set, 'SignedEntryTimestamp') },
    inclusionProof: undefined,
    canonicalizedBody,
  };
}

function rfc3161Timestamp(annotation: string): RFC3161SignedTimestamp {
  const json = strictAnnotation(annotation, 'RFC 3161 timestamp', RFC3161_SHAPE);
  const value = isPlainObject(json) ? json['SignedRFC3161Timestamp'] : undefined;
  if (typeof value !== 'string') throw malformed('the RFC 3161 timestamp annotation has no SignedRFC3161Timestamp');
  return { signedTimestamp: decodeBase64(value, 'RFC 3161 timestamp') };
}

/** What a signature layer's media type and annotations hold, read before its payload is fetched. */
export interface LegacyMaterial {
  readonly signature: Buffer;
  /** DER certificates: the leaf first, then the chain annotation's. Empty for key-based signatures. */
  readonly certificates: readonly Buffer[];
  readonly tlogEntries: readonly TransparencyLogEntry[];
  readonly rfc3161Timestamps: readonly RFC3161SignedTimestamp[];
}

/**
 * Reads the signature material of a layer from its media type and annotations, so garbage
 * fails before the payload is fetched. Throws SignatureFormatError (MALFORMED_SIGNATURE, UNSUPPORTED_CONTENT).
 */
export function readLegacyMaterial(mediaType: string, annotations: Readonly<Record<string, string>>): LegacyMaterial {
  if (mediaType !== SIMPLE_SIGNING_MEDIA_TYPE) {
    throw new SignatureFormatError({ code: 'UNSUPPORTED_CONTENT', message: `the layer is a ${mediaType}, not a cosign simple-signing payload` });
  }
  const encoded = annotations[SIGNATURE_ANNOTATION];
  if (encoded === undefined || encoded === '') throw malformed(`the layer has no ${SIGNATURE_ANNOTATION} annotation`);
  const signature = decodeBase64(encoded, 'signature annotation');
  if (signature.length > MAX_SIGNATURE_BYTES) throw malformed(`the signature annotation is ${signature.length} bytes long, more than any signature`);

  const certificatePem = annotations[CERTIFICATE_ANNOTATION];
  const chainPem = annotations[CHAIN_ANNOTATION];
  const certificates = certificatePem !== undefined && certificatePem !== '' ? pemCertificates(certificatePem, 'certificate') : [];
  if (certificates.length > 0 && chainPem !== undefined && chainPem !== '') certificates.push(...pemCertificates(chainPem, 'chain'));

  const rekor = annotations[REKOR_BUNDLE_ANNOTATION];
  const tlogEntries = rekor !== undefined && rekor !== '' ? [rekorBundleToTlogEntry(rekor)] : [];
  const timestamp = annotations[RFC3161_ANNOTATION];
  const rfc3161Timestamps = timestamp !== undefined && timestamp !== '' ? [rfc3161Timestamp(timestamp)] : [];
  return { signature, certificates, tlogEntries, rfc3161Timestamps };
}

/**
 * The bundle of a signature layer: a message signature over sha256(payload), with the payload
 * as the artifact, the certificate (if any) and the Rekor entry as a tlog entry with an
 * inclusion promise. Throws BindingError (INVALID_PAYLOAD) when the payload is not simple signing.
 */
export function buildLegacyBundle(material: LegacyMaterial, payload: Buffer): ParsedBundle {
  const claims = parseSimpleSigning(payload);
  const bundle: Bundle = {
    mediaType: BUNDLE_V01_MEDIA_TYPE,
    verificationMaterial: {
      content:
        material.certificates.length > 0
          ? { $case: 'x509CertificateChain', x509CertificateChain: { certificates: material.certificates.map((rawBytes) => ({ rawBytes })) } }
          : { $case: 'publicKey', publicKey: { hint: '' } },
      tlogEntries: [...material.tlogEntries],
      timestampVerificationData: { rfc3161Timestamps: [...material.rfc3161Timestamps] },
    },
    content: {
      $case: 'messageSignature',
      messageSignature: {
        messageDigest: { algorithm: HashAlgorithm.SHA2_256, digest: createHash('sha256').update(payload).digest() },
        signature: material.signature,
      },
    },
  };
  try {
    assertBundleV01(bundle);
  } catch (error) {
    throw malformed(`the signature does not make a valid bundle: ${errorMessage(error, 120)}`, error);
  }
  return { bundle, artifact: payload, claims };
}

/** Converts one signature layer into a bundle and reads its payload (readLegacyMaterial, then buildLegacyBundle). */
export function legacyToBundle(layer: LegacySignatureLayer): ParsedBundle {
  return buildLegacyBundle(readLegacyMaterial(layer.mediaType, layer.annotations), layer.payload);
}
