/**
 * A keyless (certificate) signature against one keyless authority. Each requirement is its own
 * step and every unmet one is reported, not only the first:
 *
 * 1. the signature verifies with the certificate's key (nothing else matters when it does not);
 * 2. transparency log (`tlog`): a Rekor entry that verifies against the trusted root's logs;
 *    `optional` accepts none, and ignores one that does not verify (as cosign's
 *    `--insecure-ignore-tlog`, Kyverno's `rekor.ignoreTlog`);
 * 3. signing time (`signingTime`): proven by a verified Rekor entry's signed integrated time
 *    (`tlog`) or an RFC 3161 timestamp from a timestamp authority of the trusted root
 *    (`timestampAuthority`); only when `certificateValidity` is chosen and nothing proves a
 *    time is "now" used instead (the certificate must be valid now);
 * 4. the certificate chains to a CA of the trusted root, valid at every signing time (chain.ts;
 *    the bundle's chain certificates may fill gaps, trust comes only from the trusted root);
 * 5. certificate transparency (`ctlog`): an embedded SCT from a CT log of the trusted root;
 *    `optional` skips the check (cosign's `--insecure-ignore-sct`, Kyverno's `ctlog.ignoreSCT`);
 * 6. a code-signing certificate whose OIDC issuer and subject match one of the identities.
 *
 * The cryptography of signatures, Rekor entries and RFC 3161 timestamps is @sigstore/verify's,
 * run one piece at a time (its Verifier with the certificate's key as a bare key) so each
 * outcome is known on its own.
 */
import { X509Certificate, crypto } from '@sigstore/core';
import type { TransparencyLogEntry } from '@sigstore/bundle';
import { Verifier, toSignedEntity } from '@sigstore/verify';
import type { SignedEntity, TrustMaterial } from '@sigstore/verify';
import type { ParsedBundle } from './bundle.ts';
import { tooManyIntermediates, utc, verifyCertificatePath } from './chain.ts';
import { errorMessage } from './errors.ts';
import { assertCodeSigning, assertIdentity, signerIdentity } from './identity.ts';
import type { KeylessAuthority } from './policy-schema.ts';
import { countSCTs } from './sct.ts';
import type { TrustedRoots } from './trust.ts';

export type KeylessCheck = { readonly ok: true; readonly detail: string } | { readonly ok: false; readonly reason: string };

type Timestamp = SignedEntity['timestamps'][number];

const NO_THRESHOLDS = { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 };

function sigstoreReason(error: unknown): string {
  const message = errorMessage(error, 160);
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error && cause.message !== '' && cause.message !== message ? `${message} (${errorMessage(cause, 100)})` : message;
}

/** The bundle's certificates, leaf first; throws when one cannot be read. */
function bundleCertificates(parsed: ParsedBundle): X509Certificate[] {
  const content = parsed.bundle.verificationMaterial.content;
  if (content.$case === 'certificate') return [X509Certificate.parse(Buffer.from(content.certificate.rawBytes))];
  if (content.$case === 'x509CertificateChain')
    return content.x509CertificateChain.certificates.map((cert) => X509Certificate.parse(Buffer.from(cert.rawBytes)));
  return [];
}

/** Runs one piece of @sigstore/verify: the entity carries the leaf's key as a bare key and only the evidence under test. */
class Pieces {
  readonly #entity: SignedEntity;
  readonly #material: TrustMaterial;

  constructor(entity: SignedEntity, material: TrustMaterial, leaf: X509Certificate) {
    const key = crypto.createPublicKey(leaf.publicKey);
    this.#entity = { ...entity, key: { $case: 'public-key', hint: '' }, tlogEntries: [], timestamps: [] };
    this.#material = { ...material, publicKey: () => ({ publicKey: key, validFor: () => true }) };
  }

  /** undefined when it verifies, else why not. */
  run(evidence: { tlogEntries?: TransparencyLogEntry[]; timestamps?: Timestamp[] }, thresholds: Partial<typeof NO_THRESHOLDS> = {}): string | undefined {
    try {
      new Verifier(this.#material, { ...NO_THRESHOLDS, ...thresholds }).verify({ ...this.#entity, ...evidence });
      return undefined;
    } catch (error) {
      return sigstoreReason(error);
    }
  }
}

interface Evidence {
  readonly times: Date[];
  readonly notes: string[];
  readonly unmet: string[];
}

/** Steps 2 and 3: Rekor entries and signing times. */
function checkTlogAndTime(authority: KeylessAuthority, entity: SignedEntity, pieces: Pieces, now: Date): Evidence {
  const times: Date[] = [];
  const notes: string[] = [];
  const unmet: string[] = [];
  const root = authority.trustedRoot;
  const logged = entity.tlogEntries.filter((entry) => {
    const problem = pieces.run({ tlogEntries: [entry] }, { tlogThreshold: 1 });
    if (problem === undefined) return true;
    if (authority.tlog === 'required') unmet.push(`its transparency-log entry does not verify against trusted root ${root}: ${problem} (tlog: required)`);
    else notes.push(`transparency-log entry ignored: ${problem}`);
    return false;
  });
  if (entity.tlogEntries.length === 0) {
    if (authority.tlog === 'required') unmet.push('no transparency-log entry (tlog: required)');
    else notes.push('no transparency-log entry (tlog: optional)');
  }
  const sources = authority.signingTime;
  if (sources.includes('tlog')) {
    // Only a signed entry timestamp (SET) vouches for the integrated time; an inclusion proof alone does not.
    for (const entry of logged) if (entry.inclusionPromise !== undefined) times.push(new Date(Number(entry.integratedTime) * 1000));
  }
  const stamps = entity.timestamps.filter((stamp) => stamp.$case === 'timestamp-authority');
  if (sources.includes('timestampAuthority')) {
    for (const stamp of stamps) {
      const problem = pieces.run({ timestamps: [stamp] }, { timestampThreshold: 1 });
      if (problem === undefined) times.push(stamp.timestamp.signingTime);
      else unmet.push(`its RFC 3161 timestamp does not verify against the timestamp authorities of trusted root ${root}: ${problem}`);
    }
  }
  if (times.length === 0 && !unmet.some((line) => line.includes('RFC 3161'))) {
    if (sources.includes('certificateValidity')) {
      times.push(now);
      notes.push('signing time not proven, certificate valid now (signingTime: certificateValidity)');
    } else {
      const wanted = sources.map((source) => (source === 'tlog' ? 'a Rekor entry with a signed timestamp' : 'an RFC 3161 timestamp')).join(' or ');
      unmet.push(`no verified signing time: ${wanted} is required (signingTime: ${sources.join(', ')})`);
    }
  }
  return { times, notes, unmet };
}

/** Verifies a keyless signature against the authority; the reason of a failure lists every unmet requirement. */
export function verifyKeyless(authority: KeylessAuthority, parsed: ParsedBundle, roots: TrustedRoots, now = new Date()): KeylessCheck {
  if (parsed.bundle.verificationMaterial.content.$case === 'publicKey')
    return { ok: false, reason: 'it was signed with a key, not a keyless (Fulcio) certificate' };
  let material: TrustMaterial;
  try {
    material = roots.get(authority.trustedRoot).material;
  } catch (error) {
    return { ok: false, reason: errorMessage(error) };
  }
  // A pushed bundle may carry thousands of chain certificates: refused by their count before any is parsed.
  const content = parsed.bundle.verificationMaterial.content;
  const tooMany = content.$case === 'x509CertificateChain' ? tooManyIntermediates(content.x509CertificateChain.certificates.length - 1) : undefined;
  if (tooMany !== undefined) return { ok: false, reason: `its certificate does not verify against trusted root ${authority.trustedRoot}: ${tooMany}` };
  let certificates: X509Certificate[];
  let entity: SignedEntity;
  try {
    certificates = bundleCertificates(parsed);
    entity = toSignedEntity(parsed.bundle, parsed.artifact);
  } catch (error) {
    return { ok: false, reason: `its certificate cannot be read: ${errorMessage(error, 160)}` };
  }
  const [leaf, ...intermediates] = certificates;
  if (leaf === undefined) return { ok: false, reason: 'it carries no certificate' };
  const pieces = new Pieces(entity, material, leaf);
  if (pieces.run({}) !== undefined) return { ok: false, reason: "the signature does not verify with the certificate's key (a changed payload?)" };

  const root = authority.trustedRoot;
  const evidence = checkTlogAndTime(authority, entity, pieces, now);
  const unmet: string[] = [];
  // Without a proven time the chain is still checked at "now", so a wrong CA is reported too.
  const path = verifyCertificatePath(leaf, intermediates, material.certificateAuthorities, evidence.times.length > 0 ? evidence.times : [now]);
  if (!path.ok)
    unmet.push(
      path.expired
        ? path.reason.replace(/^the certificate/, 'its certificate')
        : `its certificate does not verify against trusted root ${root}: ${path.reason}`,
    );
  unmet.push(...evidence.unmet);
  const notes = [...evidence.notes];
  if (authority.ctlog === 'required') {
    const issuer = path.ok ? path.path[1] : undefined;
    const scts = issuer === undefined ? { verified: 0, present: countSCTs(leaf, leaf, []).present } : countSCTs(leaf, issuer, material.ctlogs);
    if (scts.present === 0) unmet.push('no SCT in the certificate (ctlog: required)');
    else if (scts.verified === 0 && path.ok) unmet.push(`its SCT does not verify with a CT log of trusted root ${root} (ctlog: required)`);
  } else notes.push('SCT not checked (ctlog: optional)');
  const identity = signerIdentity(leaf);
  for (const check of [() => assertCodeSigning(leaf), () => assertIdentity(authority.identities, identity)]) {
    try {
      check();
    } catch (error) {
      unmet.push(errorMessage(error));
    }
  }
  if (unmet.length > 0) return { ok: false, reason: unmet.join('; ') };
  const signed =
    evidence.times.length > 0 && !notes.some((note) => note.startsWith('signing time not proven')) ? `, signed at ${evidence.times.map(utc).join(', ')}` : '';
  const extra = notes.length > 0 ? `; ${notes.join('; ')}` : '';
  return { ok: true, detail: `verified: certificate for ${identity.subject ?? '?'} (issuer ${identity.issuer ?? '?'}), chained to ${root}${signed}${extra}` };
}
