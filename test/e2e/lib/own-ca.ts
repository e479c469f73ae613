// An enterprise's own code-signing PKI, made with the real openssl of the test
// bed: a root, an intermediate and leaf certificates shaped like Fulcio's
// (OIDC issuer in extensions 1.3.6.1.4.1.57264.1.8 (UTF8String) and .1.1
// (raw), an e-mail or URI SAN, the codeSigning EKU), no SCT. Leaves are issued
// with `openssl ca` so their validity can lie in the past. The leaf key is
// imported into cosign's key format (`cosign import-key-pair`), which
// `cosign sign --key … --certificate … --certificate-chain …` needs.
//
// Also: sigstore trusted_root.json documents naming such CAs (no Rekor, no CT
// log) and, optionally, a timestamp authority's certificate chain.

import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from './processes.ts';
import { loadTools } from './tools.ts';

export interface OwnCa {
  readonly dir: string;
  readonly rootFile: string;
  readonly intermediateFile: string;
  /** The intermediate then the root: what `--certificate-chain` takes. */
  readonly chainFile: string;
}

export interface OwnLeaf {
  readonly certFile: string;
  /** cosign's encrypted key (password: COSIGN_PASSWORD given to issueLeaf). */
  readonly cosignKeyFile: string;
}

const CA_CONFIG = `
[req]
distinguished_name = dn
[dn]
[ca]
default_ca = own
[own]
database = index.txt
new_certs_dir = issued
serial = serial
default_md = sha256
policy = any
unique_subject = no
[any]
organizationName = optional
commonName = optional
[root]
basicConstraints = critical,CA:TRUE,pathlen:1
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[intermediate]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
extendedKeyUsage = codeSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

const openssl = (args: readonly string[], cwd: string): Promise<unknown> => runCommand(loadTools().paths.OPENSSL, args, { cwd });

/** `YYMMDDHHMMSSZ`, as `openssl ca -startdate/-enddate` takes it. */
const asn1Time = (date: Date): string => `${date.toISOString().replace(/[-:T]/g, '').slice(2, 14)}Z`;

/** `openssl ca` over a CSR, with explicit validity (cosign checks the chain at the leaf's notBefore). */
function sign(
  dir: string,
  csr: string,
  out: string,
  issuer: readonly string[],
  notBefore: Date,
  notAfter: Date,
  extensions: readonly string[],
): Promise<unknown> {
  const dates = ['-startdate', asn1Time(notBefore), '-enddate', asn1Time(notAfter)];
  return openssl(['ca', '-batch', '-notext', '-config', 'ca.cnf', ...issuer, '-in', csr, '-out', out, ...dates, ...extensions], dir);
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** Root and intermediate (EC P-256, valid from a year ago) in a directory of their own. */
export async function createOwnCa(dir: string, name: string): Promise<OwnCa> {
  mkdirSync(join(dir, 'issued'), { recursive: true });
  writeFileSync(join(dir, 'ca.cnf'), CA_CONFIG);
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '1000\n');
  const from = new Date(Date.now() - 365 * 86_400_000);
  const until = new Date(Date.now() + 3650 * 86_400_000);
  await openssl(['req', ...EC, '-keyout', 'root.key', '-out', 'root.csr', '-subj', `/O=${name}/CN=${name} Root`, '-config', 'ca.cnf'], dir);
  await sign(dir, 'root.csr', 'root.pem', ['-selfsign', '-keyfile', 'root.key'], from, until, ['-extensions', 'root']);
  await openssl(
    ['req', ...EC, '-keyout', 'intermediate.key', '-out', 'intermediate.csr', '-subj', `/O=${name}/CN=${name} Intermediate`, '-config', 'ca.cnf'],
    dir,
  );
  await sign(dir, 'intermediate.csr', 'intermediate.pem', ['-cert', 'root.pem', '-keyfile', 'root.key'], from, until, ['-extensions', 'intermediate']);
  const chainFile = join(dir, 'chain.pem');
  writeFileSync(chainFile, readFileSync(join(dir, 'intermediate.pem'), 'utf8') + readFileSync(join(dir, 'root.pem'), 'utf8'));
  return { dir, rootFile: join(dir, 'root.pem'), intermediateFile: join(dir, 'intermediate.pem'), chainFile };
}

/** A Fulcio-shaped leaf from the CA's intermediate, valid from `notBefore` to `notAfter`. */
export async function issueLeaf(
  ca: OwnCa,
  options: { name: string; issuer: string; email?: string; uri?: string; notBefore: Date; notAfter: Date; cosign: string; password: string },
): Promise<OwnLeaf> {
  const { dir } = ca;
  const san = [options.email === undefined ? [] : [`email:${options.email}`], options.uri === undefined ? [] : [`URI:${options.uri}`]].flat().join(',');
  const rawIssuer = Buffer.from(options.issuer, 'utf8').toString('hex');
  writeFileSync(
    join(dir, `${options.name}.cnf`),
    `[leaf]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\nextendedKeyUsage = codeSigning\nsubjectKeyIdentifier = hash\n` +
      `authorityKeyIdentifier = keyid\nsubjectAltName = critical,${san}\n1.3.6.1.4.1.57264.1.8 = ASN1:UTF8String:${options.issuer}\n1.3.6.1.4.1.57264.1.1 = DER:${rawIssuer}\n`,
  );
  const key = `${options.name}.key`;
  await openssl(['req', ...EC, '-keyout', key, '-out', `${options.name}.csr`, '-subj', `/O=${options.name}`, '-config', 'ca.cnf'], dir);
  const issuer = ['-cert', 'intermediate.pem', '-keyfile', 'intermediate.key'];
  await sign(dir, `${options.name}.csr`, `${options.name}.pem`, issuer, options.notBefore, options.notAfter, [
    '-extfile',
    `${options.name}.cnf`,
    '-extensions',
    'leaf',
  ]);
  await runCommand(options.cosign, ['import-key-pair', '--key', key, '--output-key-prefix', `${options.name}-cosign`], {
    cwd: dir,
    env: { ...process.env, COSIGN_PASSWORD: options.password },
  });
  return { certFile: join(dir, `${options.name}.pem`), cosignKeyFile: join(dir, `${options.name}-cosign.key`) };
}

/** The DER (base64) of every certificate of a PEM file. */
export function pemChain(file: string): string[] {
  const pems = readFileSync(file, 'utf8').match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  return pems.map((pem) => new X509Certificate(pem).raw.toString('base64'));
}

/**
 * A trusted_root.json whose certificate authorities are the given PEM chains
 * (each: the certificates of one CA entry, issuing CA first) and, when given,
 * a timestamp authority's chain (TSA leaf first). No Rekor, no CT log.
 */
export function ownTrustedRoot(caChains: readonly string[], tsaChainFile?: string): string {
  const entry = (file: string, name: string) => ({
    subject: { organization: name, commonName: name },
    uri: `https://${name}.example`,
    certChain: { certificates: pemChain(file).map((rawBytes) => ({ rawBytes })) },
    validFor: { start: '2020-01-01T00:00:00Z' },
  });
  return JSON.stringify({
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [],
    ctlogs: [],
    certificateAuthorities: caChains.map((file, index) => entry(file, `ca-${index}`)),
    timestampAuthorities: tsaChainFile === undefined ? [] : [entry(tsaChainFile, 'tsa')],
  });
}
