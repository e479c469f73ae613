/**
 * Signed certificate timestamps embedded in a keyless certificate (RFC 6962 §3.2): each is a
 * CT log's signature over the precertificate (the TBS certificate without its SCT extension,
 * bound to the issuer's key). Only CT logs of the trusted root count, with keys valid at the
 * SCT's time. @sigstore/verify checks SCTs only against the issuer it found itself; here the
 * issuer is the one of the path chain.ts built (which may come from the bundle's chain).
 */
import { EXTENSION_OID_SCT, crypto } from '@sigstore/core';
import type { X509Certificate, X509SCTExtension } from '@sigstore/core';
import type { TrustMaterial } from '@sigstore/verify';

export interface SctCount {
  /** SCTs that verify with a CT log of the trusted root. */
  readonly verified: number;
  /** SCTs present (verified or not). */
  readonly present: number;
}

/** The precertificate signed by CT logs: sha256(issuer SPKI) ‖ uint24 length ‖ TBS without the SCT extension. */
function preCertificate(leaf: X509Certificate, issuer: X509Certificate): Buffer | undefined {
  const clone = leaf.clone();
  const index = clone.extensions.findIndex((extension) => extension.subs[0]?.toOID() === EXTENSION_OID_SCT);
  if (index < 0) return undefined;
  clone.extensions.splice(index, 1);
  const tbs = clone.tbsCertificate.toDER();
  const length = Buffer.alloc(3);
  length.writeUIntBE(tbs.length, 0, 3);
  return Buffer.concat([crypto.digest('sha256', issuer.publicKey), length, tbs]);
}

/** Counts the leaf's embedded SCTs and those that verify with the trusted root's CT logs; never throws. */
export function countSCTs(leaf: X509Certificate, issuer: X509Certificate, ctlogs: TrustMaterial['ctlogs']): SctCount {
  let scts: X509SCTExtension['signedCertificateTimestamps'];
  try {
    scts = leaf.extSCT?.signedCertificateTimestamps ?? [];
  } catch {
    return { verified: 0, present: 1 };
  }
  if (scts.length === 0) return { verified: 0, present: 0 };
  const signed = preCertificate(leaf, issuer);
  if (signed === undefined) return { verified: 0, present: scts.length };
  const logIds = new Set<string>();
  for (const sct of scts) {
    const logs = ctlogs.filter((log) => log.logID.equals(sct.logID) && log.validFor.start <= sct.datetime && sct.datetime <= log.validFor.end);
    const good = logs.some((log) => {
      try {
        return sct.verify(signed, log.publicKey);
      } catch {
        return false;
      }
    });
    // One log's SCTs count once.
    if (good) logIds.add(sct.logID.toString('hex'));
  }
  return { verified: logIds.size, present: scts.length };
}
