/**
 * Throw-away X.509 material for tests, made with the openssl CLI: CAs, loopback serving
 * certificates, client certificates (Kubernetes reads O= as groups), leaf certificates for
 * signing tokens (distribution's `auth: token` verifies the JWT's x5c chain against a root
 * bundle) and bare key pairs. openssl rather than hand-rolled DER: Node has no certificate
 * issuing API, and the CLI is what an operator uses too. Keys are EC P-256 (quick, accepted
 * by Go and Node alike) unless RSA is asked for. The Sigstore stand-ins are in sigstore/.
 */

import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface KeyPairFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly certPem: string;
  readonly keyPem: string;
}

export interface CertificateAuthority extends KeyPairFiles {
  readonly name: string;
}

export interface LeafOptions {
  /** Base name of the files in dir. */
  readonly name: string;
  readonly commonName: string;
  /** Subject O= entries (Kubernetes reads them as groups). */
  readonly organizations?: readonly string[];
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  /** `signing`: digitalSignature only, no extended key usage (JWT signers). */
  readonly usage: 'server' | 'client' | 'server+client' | 'signing';
  readonly key?: 'ec' | 'rsa';
}

async function openssl(args: readonly string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`openssl ${args.join(' ')} failed: ${stderr || String(error)}`);
  }
}

function readPair(certFile: string, keyFile: string): KeyPairFiles {
  return { certFile, keyFile, certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') };
}

const NEW_KEY = { ec: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-noenc'], rsa: ['-newkey', 'rsa:2048', '-noenc'] } as const;

/** A self-signed CA valid for two days (files `<name>.crt`, `<name>.key` in dir). */
export async function createCA(dir: string, name: string): Promise<CertificateAuthority> {
  mkdirSync(dir, { recursive: true });
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  await openssl([
    'req',
    '-x509',
    '-new',
    ...NEW_KEY.ec,
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { name, ...readPair(certFile, keyFile) };
}

function extensions(o: LeafOptions): string[] {
  const sans = [...(o.dnsNames ?? []).map((d) => `DNS:${d}`), ...(o.ipAddresses ?? []).map((ip) => `IP:${ip}`)];
  const eku = { server: 'serverAuth', client: 'clientAuth', 'server+client': 'serverAuth,clientAuth', signing: undefined }[o.usage];
  return [
    'basicConstraints=critical,CA:FALSE',
    o.usage === 'signing' ? 'keyUsage=critical,digitalSignature' : 'keyUsage=critical,digitalSignature,keyEncipherment',
    ...(eku === undefined ? [] : [`extendedKeyUsage=${eku}`]),
    ...(sans.length > 0 ? [`subjectAltName=${sans.join(',')}`] : []),
  ];
}

/** A leaf certificate signed by ca, with SANs and key usages. */
export async function issueCert(ca: CertificateAuthority, dir: string, o: LeafOptions): Promise<KeyPairFiles> {
  mkdirSync(dir, { recursive: true });
  const certFile = join(dir, `${o.name}.crt`);
  const keyFile = join(dir, `${o.name}.key`);
  const csrFile = join(dir, `${o.name}.csr`);
  const extFile = join(dir, `${o.name}.ext`);
  const subject = `/CN=${o.commonName}${(o.organizations ?? []).map((org) => `/O=${org}`).join('')}`;
  await openssl(['req', '-new', ...NEW_KEY[o.key ?? 'ec'], '-keyout', keyFile, '-out', csrFile, '-subj', subject]);
  writeFileSync(extFile, `${extensions(o).join('\n')}\n`);
  await openssl([
    'x509',
    '-req',
    '-in',
    csrFile,
    '-CA',
    ca.certFile,
    '-CAkey',
    ca.keyFile,
    '-set_serial',
    `0x${Date.now().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`,
    '-days',
    '2',
    '-sha256',
    '-extfile',
    extFile,
    '-out',
    certFile,
  ]);
  return readPair(certFile, keyFile);
}

/** A serving certificate for 127.0.0.1, ::1 and localhost (plus extra SANs). */
export function issueLoopbackServerCert(
  ca: CertificateAuthority,
  dir: string,
  name: string,
  extra: { dnsNames?: readonly string[]; ipAddresses?: readonly string[] } = {},
): Promise<KeyPairFiles> {
  return issueCert(ca, dir, {
    name,
    commonName: name,
    dnsNames: ['localhost', ...(extra.dnsNames ?? [])],
    ipAddresses: ['127.0.0.1', '::1', ...(extra.ipAddresses ?? [])],
    usage: 'server',
  });
}

/** An RSA leaf certificate for signing JWTs (RS256), signed by ca. */
export function issueSigningCert(ca: CertificateAuthority, dir: string, name: string): Promise<KeyPairFiles> {
  return issueCert(ca, dir, { name, commonName: `modelgate test ${name}`, usage: 'signing', key: 'rsa' });
}

/** An EC key pair (PKCS#8 private key, SPKI public key) in PEM files. */
export async function createKeyPair(dir: string, name: string): Promise<{ privateKeyFile: string; publicKeyFile: string }> {
  mkdirSync(dir, { recursive: true });
  const privateKeyFile = join(dir, `${name}.key`);
  const publicKeyFile = join(dir, `${name}.pub`);
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', privateKeyFile]);
  await openssl(['pkey', '-in', privateKeyFile, '-pubout', '-out', publicKeyFile]);
  return { privateKeyFile, publicKeyFile };
}
