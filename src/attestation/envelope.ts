/**
 * Attestations as sigstore bundles with a DSSE envelope, whichever cosign wrote them:
 *
 * - cosign v3: a sigstore bundle v0.3 whose content is a DSSE envelope (as a signature, but
 *   with the attestation's predicate type), read with signature/bundle.ts's checks;
 * - cosign v2: a layer of the `sha256-<hex>.att` manifest, media type
 *   `application/vnd.dsse.envelope.v1+json`, whose blob is the DSSE envelope JSON
 *   (`{payloadType, payload, signatures: [{keyid, sig}]}`) and whose annotations carry the
 *   certificate, chain and Rekor bundle as a `.sig` layer's do (an empty signature annotation:
 *   the signature is in the envelope). It becomes a v0.1 bundle, as legacy.ts makes of a `.sig` layer.
 */
import { BUNDLE_V01_MEDIA_TYPE, assertBundleV01 } from '@sigstore/bundle';
import type { Bundle } from '@sigstore/bundle';
import { BYTES, STRING, arrayOf, describeRefusal, objectOf, parseStrictJson } from '../core/strict-json.ts';
import type { JsonShape } from '../core/strict-json.ts';
import type { ParsedBundle } from '../signature/bundle.ts';
import { parseBundleJson } from '../signature/bundle.ts';
import { SignatureFormatError, errorMessage } from '../signature/errors.ts';
import { CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, REKOR_BUNDLE_ANNOTATION, pemCertificates, rekorBundleToTlogEntry } from '../signature/legacy.ts';
import { parseStatement } from './statement.ts';
import type { Statement } from './statement.ts';

/** Media type of a cosign v2 attestation layer. */
export const DSSE_ENVELOPE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';

/** An attestation ready for verification: the bundle, and the statement its envelope carries. */
export interface ParsedAttestation {
  readonly parsed: ParsedBundle;
  readonly statement: Statement;
}

const malformed = (message: string): SignatureFormatError => new SignatureFormatError({ code: 'MALFORMED_SIGNATURE', message });

const ENVELOPE_SHAPE: JsonShape = objectOf({ payloadType: STRING, payload: BYTES, signatures: arrayOf(objectOf({ keyid: STRING, sig: BYTES }), 8) });

function withStatement(bundle: Bundle): ParsedAttestation {
  if (bundle.content.$case !== 'dsseEnvelope') {
    throw new SignatureFormatError({ code: 'UNSUPPORTED_CONTENT', message: 'the bundle holds a message signature, not a DSSE attestation' });
  }
  const envelope = bundle.content.dsseEnvelope;
  const statement = parseStatement(envelope.payloadType, envelope.payload);
  // claims: the digests the statement signs; attestation/verify.ts checks them against the admitted digest.
  return { parsed: { bundle, artifact: undefined, claims: { format: 'in-toto', digests: statement.digests, dockerReference: undefined } }, statement };
}

/** A cosign v3 attestation bundle (JSON bytes, size-capped by the caller). */
export function parseAttestationBundle(bytes: Uint8Array): ParsedAttestation {
  return withStatement(parseBundleJson(bytes));
}

/** A cosign v2 `.att` layer: its annotations (certificate, Rekor bundle) and the envelope blob. */
export function parseAttestationLayer(annotations: Readonly<Record<string, string>>, blob: Uint8Array): ParsedAttestation {
  let json: Record<string, unknown>;
  try {
    json = parseStrictJson(blob, ENVELOPE_SHAPE) as Record<string, unknown>;
  } catch (error) {
    throw malformed(describeRefusal('DSSE envelope', error));
  }
  const { payloadType, payload, signatures } = json;
  if (typeof payloadType !== 'string' || typeof payload !== 'string' || !Array.isArray(signatures) || signatures.length !== 1) {
    throw malformed('the DSSE envelope must have a payloadType, a payload and exactly one signature');
  }
  const signature = signatures[0] as Record<string, unknown>;
  if (typeof signature['sig'] !== 'string') throw malformed('the DSSE envelope signature has no sig');
  const certificate = annotations[CERTIFICATE_ANNOTATION];
  const chain = annotations[CHAIN_ANNOTATION];
  const certificates = certificate === undefined || certificate === '' ? [] : pemCertificates(certificate, 'certificate');
  if (certificates.length > 0 && chain !== undefined && chain !== '') certificates.push(...pemCertificates(chain, 'chain'));
  const rekor = annotations[REKOR_BUNDLE_ANNOTATION];
  const bundle: Bundle = {
    mediaType: BUNDLE_V01_MEDIA_TYPE,
    verificationMaterial: {
      content:
        certificates.length > 0
          ? { $case: 'x509CertificateChain', x509CertificateChain: { certificates: certificates.map((rawBytes) => ({ rawBytes })) } }
          : { $case: 'publicKey', publicKey: { hint: '' } },
      tlogEntries: rekor === undefined || rekor === '' ? [] : [rekorBundleToTlogEntry(rekor)],
      timestampVerificationData: { rfc3161Timestamps: [] },
    },
    content: {
      $case: 'dsseEnvelope',
      dsseEnvelope: {
        payloadType,
        payload: Buffer.from(payload, 'base64'),
        signatures: [{ sig: Buffer.from(signature['sig'], 'base64'), keyid: typeof signature['keyid'] === 'string' ? signature['keyid'] : '' }],
      },
    },
  };
  try {
    assertBundleV01(bundle);
  } catch (error) {
    throw malformed(`the attestation does not make a valid bundle: ${errorMessage(error, 120)}`);
  }
  return withStatement(bundle);
}
