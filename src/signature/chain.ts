/**
 * Certificate paths of keyless signatures: from the leaf to a CA of the trusted root, at the
 * signing times. Bundles may carry intermediates (a v0.3 `x509CertificateChain`, cosign's chain
 * annotation): they help build the path but never make it trusted. A path is accepted only when
 * it reaches a certificate of a trusted root's certificate authority; from there on only that
 * authority's own certificates are used (the anchor), so a bundle can add links below a trusted
 * CA, never above or instead of one.
 *
 * Every link is a verified signature with name chaining; every certificate above the leaf must be
 * a CA (basic constraints and keyCertSign), path-length constraints hold, and every certificate
 * of the path is valid at every signing time (as @sigstore/verify checks Fulcio chains).
 */
import type { X509Certificate } from '@sigstore/core';
import type { TrustMaterial } from '@sigstore/verify';

type CertificateAuthority = TrustMaterial['certificateAuthorities'][number];

/** Most intermediates a bundle may bring, and most signature checks while searching: hostile chains cost little. */
export const MAX_BUNDLE_INTERMEDIATES = 8;
const MAX_LINK_CHECKS = 128;
const MAX_DEPTH = 12;

export type PathResult =
  | { readonly ok: true; readonly path: readonly X509Certificate[] }
  | { readonly ok: false; readonly reason: string; readonly expired: boolean };

/** A time as the messages write it (seconds, UTC). */
export const utc = (date: Date): string => date.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** True when `issuer` signed `cert` (name chaining and signature); never throws. */
function issued(issuer: X509Certificate, cert: X509Certificate, budget: { checks: number }): boolean {
  if (!issuer.subject.equals(cert.issuer) || budget.checks <= 0) return false;
  budget.checks -= 1;
  try {
    return cert.verify(issuer);
  } catch {
    return false;
  }
}

function selfSigned(cert: X509Certificate, budget: { checks: number }): boolean {
  return cert.subject.equals(cert.issuer) && issued(cert, cert, budget);
}

/** Paths from the leaf up that reach the authority's certificates, shortest first. */
function anchoredPaths(leaf: X509Certificate, intermediates: readonly X509Certificate[], authority: CertificateAuthority): X509Certificate[][] {
  const trusted = authority.certChain;
  const isTrusted = (cert: X509Certificate): boolean => trusted.some((anchor) => anchor.equals(cert));
  const pool = [...trusted, ...intermediates];
  const budget = { checks: MAX_LINK_CHECKS };
  const found: X509Certificate[][] = [];
  const walk = (path: X509Certificate[], anchored: boolean): void => {
    const cert = path[path.length - 1] as X509Certificate;
    const here = anchored || isTrusted(cert);
    if (path.length > MAX_DEPTH || (path.length > 1 && selfSigned(cert, budget))) {
      if (here) found.push(path);
      return;
    }
    // Above the anchor only the authority's own certificates count.
    const candidates = (here ? trusted : pool).filter((next) => !path.some((seen) => seen.equals(next)) && issued(next, cert, budget));
    if (candidates.length === 0) {
      if (here) found.push(path);
      return;
    }
    for (const next of candidates) walk([...path, next], here);
  };
  walk([leaf], false);
  return found.sort((a, b) => a.length - b.length);
}

/** Why a path breaks the rules for CAs above the leaf; undefined when it keeps them. */
function pathProblem(path: readonly X509Certificate[]): string | undefined {
  for (let index = 1; index < path.length; index += 1) {
    const cert = path[index] as X509Certificate;
    if (!cert.isCA) return 'a certificate above the leaf is not a CA (basic constraints or keyCertSign missing)';
    const limit = cert.extBasicConstraints?.pathLenConstraint;
    // Intermediates below this CA, not counting the leaf.
    if (limit !== undefined && limit < index - 1) return 'a CA path-length constraint is exceeded';
  }
  return undefined;
}

/**
 * Verifies the leaf against the certificate authorities at every given time (at least one).
 * The reason of a failure names what is wrong, for denial messages.
 */
/** Why a bundle's chain is refused by its length alone (before any certificate of it is parsed), if it is. */
export function tooManyIntermediates(count: number): string | undefined {
  return count > MAX_BUNDLE_INTERMEDIATES ? `the bundle carries ${count} chain certificates (at most ${MAX_BUNDLE_INTERMEDIATES})` : undefined;
}

export function verifyCertificatePath(
  leaf: X509Certificate,
  intermediates: readonly X509Certificate[],
  authorities: readonly CertificateAuthority[],
  times: readonly Date[],
): PathResult {
  const tooMany = tooManyIntermediates(intermediates.length);
  if (tooMany !== undefined) return { ok: false, reason: tooMany, expired: false };
  const inTime = authorities.filter((ca) => times.every((time) => ca.validFor.start <= time && time <= ca.validFor.end));
  if (inTime.length === 0)
    return { ok: false, reason: `no certificate authority of the trusted root is valid at ${times.map(utc).join(', ')}`, expired: false };
  let problem: string | undefined;
  for (const authority of inTime) {
    for (const path of anchoredPaths(leaf, intermediates, authority)) {
      problem = pathProblem(path);
      if (problem !== undefined) continue;
      const stale = path.find((cert) => times.some((time) => !cert.validForDate(time)));
      if (stale === undefined) return { ok: true, path };
      const which = stale === leaf ? 'the certificate' : 'a CA certificate of its chain';
      return {
        ok: false,
        reason: `${which} is valid from ${utc(stale.notBefore)} to ${utc(stale.notAfter)}, not at the signing time ${times.map(utc).join(', ')}`,
        expired: true,
      };
    }
  }
  return { ok: false, reason: problem ?? 'it does not chain to a certificate authority of the trusted root', expired: false };
}
