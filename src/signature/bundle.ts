/**
 * Sigstore bundles as cosign v3 attaches them (OCI 1.1 referrers of artifactType
 * `application/vnd.dev.sigstore.bundle.v0.3+json`, the bundle JSON in the manifest's one layer
 * of the same media type): parsing with @sigstore/bundle and reading what the bundle signs.
 */
import { bundleFromJSON } from '@sigstore/bundle';
import type { Bundle } from '@sigstore/bundle';
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
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(json);
  } catch (error) {
    const fields = (error as { fields?: unknown }).fields;
    const detail = Array.isArray(fields) && fields.length > 0 ? `: invalid ${fields.slice(0, 3).join(', ')}` : `: ${errorMessage(error, 120)}`;
    throw new SignatureFormatError({ code: 'MALFORMED_BUNDLE', message: `the bundle is not a valid sigstore bundle${detail}`, cause: error });
  }
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
