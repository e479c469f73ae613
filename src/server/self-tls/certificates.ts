/**
 * The self-managed webhook PKI: a CA and the serving certificates it signs,
 * ECDSA P-256 with SHA-256. Certificates are built as DER with
 * @peculiar/asn1-x509 (pure JavaScript) and signed with node's crypto; no
 * openssl in the image. Read back with node's X509Certificate.
 */
import { X509Certificate, createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  GeneralName,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  Name,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  id_kp_serverAuth,
} from '@peculiar/asn1-x509';

/** A certificate and its private key, both PEM. */
export interface PemPair {
  readonly cert: string;
  readonly key: string;
}

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const COMMON_NAME = '2.5.4.3';
/** Certificates start a little in the past: a clock behind ours must not find them not yet valid. */
export const BACKDATE_MS = 5 * 60_000;

function name(commonName: string): Name {
  const attribute = new AttributeTypeAndValue({ type: COMMON_NAME });
  attribute.value.utf8String = commonName;
  return new Name([new RelativeDistinguishedName([attribute])]);
}

function extension(oid: string, critical: boolean, value: unknown): Extension {
  return new Extension({ extnID: oid, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

const spkiOf = (key: KeyObject): SubjectPublicKeyInfo => AsnConvert.parse(key.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo);
/** RFC 5280's method 1: SHA-1 of the subject public key bits. */
const keyIdOf = (key: KeyObject): ArrayBuffer =>
  arrayBuffer(
    createHash('sha1')
      .update(Buffer.from(spkiOf(key).subjectPublicKey))
      .digest(),
  );
/** A copy of the bytes as an ArrayBuffer of their own. */
const arrayBuffer = (bytes: Uint8Array): ArrayBuffer => new Uint8Array(bytes).buffer;

interface Signed {
  readonly subject: string;
  readonly issuer: string;
  readonly publicKey: KeyObject;
  readonly signer: KeyObject;
  readonly issuerKeyId: ArrayBuffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly extensions: readonly Extension[];
}

/**
 * A positive serial of 16 random bytes whose first byte is 0x40–0x7f: a first byte of 0
 * followed by one under 0x80 is not minimal DER, which OpenSSL refuses (1 certificate in 256).
 */
export function serialNumber(random: Buffer = randomBytes(16)): Buffer {
  const serial = Buffer.from(random);
  serial[0] = ((serial[0] as number) & 0x3f) | 0x40;
  return serial;
}

function signCertificate(spec: Signed): string {
  const serial = serialNumber();
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: arrayBuffer(serial),
    signature: new AlgorithmIdentifier({ algorithm: ECDSA_WITH_SHA256 }),
    issuer: name(spec.issuer),
    validity: new Validity({ notBefore: spec.notBefore, notAfter: spec.notAfter }),
    subject: name(spec.subject),
    subjectPublicKeyInfo: spkiOf(spec.publicKey),
    extensions: new Extensions([
      ...spec.extensions,
      extension(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(keyIdOf(spec.publicKey))),
      extension(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(spec.issuerKeyId) })),
    ]),
  });
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  const certificate = new Certificate({
    tbsCertificate: tbs,
    signatureAlgorithm: new AlgorithmIdentifier({ algorithm: ECDSA_WITH_SHA256 }),
    // node's ECDSA signatures are DER (ECDSA-Sig-Value), as X.509 wants them.
    signatureValue: arrayBuffer(sign('sha256', tbsDer, spec.signer)),
  });
  const der = Buffer.from(AsnConvert.serialize(certificate));
  return new X509Certificate(der).toString();
}

const newKey = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
const keyPem = (key: KeyObject): string => key.export({ type: 'pkcs8', format: 'pem' }).toString();

export function createCA(commonName: string, now: Date, validityMs: number): PemPair {
  const { publicKey, privateKey } = newKey();
  const cert = signCertificate({
    subject: commonName,
    issuer: commonName,
    publicKey,
    signer: privateKey,
    issuerKeyId: keyIdOf(publicKey),
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + validityMs),
    extensions: [
      extension(id_ce_basicConstraints, true, new BasicConstraints({ cA: true, pathLenConstraint: 0 })),
      extension(id_ce_keyUsage, true, new KeyUsage(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign)),
    ],
  });
  return { cert, key: keyPem(privateKey) };
}

/** A serving certificate for `names` (DNS names or IP addresses) signed by the CA; expires no later than it. */
export function issueServing(ca: PemPair, names: readonly string[], now: Date, validityMs: number): PemPair {
  const caCert = new X509Certificate(ca.cert);
  const signer = createPrivateKey(ca.key);
  const { publicKey, privateKey } = newKey();
  const notAfter = Math.min(now.getTime() + validityMs, new Date(caCert.validTo).getTime());
  const altNames = names.map((entry) => (isIP(entry) === 0 ? new GeneralName({ dNSName: entry }) : new GeneralName({ iPAddress: entry })));
  const cert = signCertificate({
    subject: names[0] ?? 'modelgate',
    issuer: commonNameOf(caCert),
    publicKey,
    signer,
    issuerKeyId: keyIdOf(caCert.publicKey),
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(notAfter),
    extensions: [
      extension(id_ce_basicConstraints, true, new BasicConstraints({ cA: false })),
      extension(id_ce_keyUsage, true, new KeyUsage(KeyUsageFlags.digitalSignature)),
      extension(id_ce_extKeyUsage, false, new ExtendedKeyUsage([id_kp_serverAuth])),
      extension(id_ce_subjectAltName, false, new SubjectAlternativeName(altNames)),
    ],
  });
  return { cert, key: keyPem(privateKey) };
}

function commonNameOf(cert: X509Certificate): string {
  const match = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject);
  return match?.[1] ?? 'modelgate';
}
