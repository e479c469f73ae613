/**
 * What the self-managed TLS Secret holds, and what it should hold next.
 *
 *   ca.crt   every CA the webhook trusts, newest first (the caBundle)
 *   ca.key   the newest CA's key
 *   tls.crt  the serving certificate, tls.key its key
 *
 * `renew` is the whole policy, pure so that it can be tested with a clock:
 * a missing or unusable Secret gets a new CA and serving pair; a CA near its
 * end gets a successor, listed next to it (old and new in the caBundle while
 * the old one lives); a serving certificate near its end, for other names, or
 * from a CA that is not the newest is issued again, from the newest CA once
 * the webhook configurations hold it (so the API server never sees a serving
 * certificate it cannot verify yet), else from the one before.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { isIP } from 'node:net';
import { createCA, issueServing } from './certificates.ts';

export interface TlsSettings {
  /** DNS names and IP addresses of the serving certificate, the first also its common name. */
  readonly names: readonly string[];
  readonly certValidityMs: number;
  readonly certRenewBeforeMs: number;
  readonly caValidityMs: number;
  readonly caRenewBeforeMs: number;
  /** How long a new CA is in the caBundle before serving certificates come from it. */
  readonly caPropagationMs: number;
}

export interface TlsMaterial {
  /** PEM, newest first. */
  readonly cas: readonly string[];
  readonly caKey: string;
  readonly cert: string;
  readonly key: string;
  /** When the newest CA was made (ms), for caPropagationMs. */
  readonly caSince: number;
}

export const CA_COMMON_NAME = 'modelgate webhook CA';
export const CA_SINCE_ANNOTATION = 'modelgate.dev/ca-since';

const PEM_CERT = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n?/g;

export const splitPem = (bundle: string): string[] => [...bundle.matchAll(PEM_CERT)].map((match) => `${match[0].trim()}\n`);
const expiry = (cert: X509Certificate): number => new Date(cert.validTo).getTime();

/** The Secret's data as material, or undefined when anything is missing, unparsable or does not fit together. */
export function readMaterial(data: Readonly<Record<string, string>>, caSince: string | undefined): TlsMaterial | undefined {
  const [caBundle, caKey, cert, key] = [data['ca.crt'], data['ca.key'], data['tls.crt'], data['tls.key']];
  if (caBundle === undefined || caKey === undefined || cert === undefined || key === undefined) return undefined;
  try {
    const cas = splitPem(caBundle);
    const newest = cas[0];
    if (newest === undefined || !new X509Certificate(newest).checkPrivateKey(createPrivateKey(caKey))) return undefined;
    if (!new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))) return undefined;
    const since = Number(caSince);
    return { cas, caKey, cert, key, caSince: Number.isFinite(since) ? since : new Date(new X509Certificate(newest).validFrom).getTime() };
  } catch {
    return undefined;
  }
}

export function materialData(material: TlsMaterial): Record<string, string> {
  return { 'ca.crt': material.cas.join(''), 'ca.key': material.caKey, 'tls.crt': material.cert, 'tls.key': material.key };
}

function fresh(settings: TlsSettings, now: Date): TlsMaterial {
  const ca = createCA(CA_COMMON_NAME, now, settings.caValidityMs);
  const serving = issueServing(ca, settings.names, now, settings.certValidityMs);
  return { cas: [ca.cert], caKey: ca.key, cert: serving.cert, key: serving.key, caSince: now.getTime() };
}

/** Why the serving certificate must be issued again; `now` when it cannot wait for a new CA to reach the caBundle. */
function servingProblem(material: TlsMaterial, settings: TlsSettings, now: number): { readonly reason: string; readonly now: boolean } | undefined {
  const cert = new X509Certificate(material.cert);
  const dnsNames = (cert.subjectAltName ?? '')
    .split(', ')
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4));
  // An IP is compared as an address: Node writes IPv6 SAN entries expanded and upper-case (`::1` as 0:0:0:0:0:0:0:1).
  const covers = (name: string): boolean => (isIP(name) === 0 ? dnsNames.includes(name) : cert.checkIP(name) !== undefined);
  if (!settings.names.every(covers)) return { reason: 'its names changed', now: true };
  if (expiry(cert) <= now) return { reason: 'it expired', now: true };
  const issuer = material.cas.findIndex((ca) => cert.checkIssued(new X509Certificate(ca)) && cert.verify(new X509Certificate(ca).publicKey));
  if (issuer === -1) return { reason: 'no CA in the bundle signed it', now: true };
  if (expiry(cert) - now < settings.certRenewBeforeMs) return { reason: 'it is due for renewal', now: false };
  if (issuer > 0) return { reason: 'a newer CA is in the caBundle', now: false };
  return undefined;
}

export interface Renewal {
  readonly material: TlsMaterial;
  /** What changed, for the log; empty when nothing did. */
  readonly changes: readonly string[];
}

/**
 * The material to keep or write. `inWebhooks`: whether every webhook
 * configuration's caBundle holds the newest CA (the caller last saw).
 */
export function renew(current: TlsMaterial | undefined, settings: TlsSettings, now: Date, inWebhooks: boolean): Renewal {
  if (current === undefined) return { material: fresh(settings, now), changes: ['created a CA and a serving certificate'] };
  const at = now.getTime();
  const changes: string[] = [];
  let material = current;
  let rolled = false;
  // Expired CAs verify nothing: out of the bundle (the newest stays, it is replaced below).
  const live = material.cas.filter((ca, index) => index === 0 || expiry(new X509Certificate(ca)) > at);
  if (live.length !== material.cas.length) {
    material = { ...material, cas: live };
    changes.push(`dropped ${current.cas.length - live.length} expired CA(s) from the caBundle`);
  }
  if (expiry(new X509Certificate(material.cas[0] as string)) - at < settings.caRenewBeforeMs) {
    const ca = createCA(CA_COMMON_NAME, now, settings.caValidityMs);
    material = { ...material, cas: [ca.cert, ...material.cas.filter((old) => expiry(new X509Certificate(old)) > at)], caKey: ca.key, caSince: at };
    rolled = true;
    changes.push('made a new CA; the old one stays in the caBundle until it expires');
  }
  // Only the newest CA signs (its key is the one kept): wait until the webhooks hold it, unless the current pair is unusable.
  const newestPropagated = inWebhooks && !rolled && at - material.caSince >= settings.caPropagationMs;
  const problem = servingProblem(material, settings, at);
  if (problem !== undefined && (problem.now || newestPropagated)) {
    const serving = issueServing({ cert: material.cas[0] as string, key: material.caKey }, settings.names, now, settings.certValidityMs);
    material = { ...material, cert: serving.cert, key: serving.key };
    changes.push(`issued a serving certificate (${problem.reason})`);
  }
  return { material, changes };
}
