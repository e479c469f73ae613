// Throw-away X.509 material for one test run, made with the openssl CLI.
//
// The apiserver, the TLS registry and (in later tests) the webhook each need a
// CA and leaf certificates for 127.0.0.1. openssl is used rather than
// hand-rolled DER because Node has no certificate *issuing* API, and the
// openssl CLI is what an operator would use too. Keys are EC P-256: quick to
// generate, accepted by Go (apiserver, registries) and Node alike.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTools } from './tools.ts';
import { loopbackEnv, runCommand } from './processes.ts';

export interface KeyPairFiles {
  certFile: string;
  keyFile: string;
  certPem: string;
  keyPem: string;
}

export interface CertificateAuthority extends KeyPairFiles {
  name: string;
}

export interface LeafOptions {
  /** Base name of the files in dir. */
  name: string;
  commonName: string;
  /** Subject O= entries (Kubernetes reads them as groups). */
  organizations?: readonly string[];
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
  usage: 'server' | 'client' | 'server+client';
}

async function openssl(args: readonly string[]): Promise<void> {
  await runCommand(loadTools().paths.OPENSSL, args, { env: loopbackEnv() });
}

function readPair(certFile: string, keyFile: string): KeyPairFiles {
  return { certFile, keyFile, certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') };
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-noenc'];

/** A self-signed CA valid for two days. */
export async function createCA(dir: string, name: string): Promise<CertificateAuthority> {
  mkdirSync(dir, { recursive: true });
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  await openssl([
    'req',
    '-x509',
    '-new',
    ...EC_KEY,
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

/** A leaf certificate signed by ca, with SANs and extended key usage. */
export async function issueCert(ca: CertificateAuthority, dir: string, o: LeafOptions): Promise<KeyPairFiles> {
  mkdirSync(dir, { recursive: true });
  const certFile = join(dir, `${o.name}.crt`);
  const keyFile = join(dir, `${o.name}.key`);
  const csrFile = join(dir, `${o.name}.csr`);
  const extFile = join(dir, `${o.name}.ext`);
  const subject = `/CN=${o.commonName}${(o.organizations ?? []).map((org) => `/O=${org}`).join('')}`;
  await openssl(['req', '-new', ...EC_KEY, '-keyout', keyFile, '-out', csrFile, '-subj', subject]);
  const sans = [...(o.dnsNames ?? []).map((d) => `DNS:${d}`), ...(o.ipAddresses ?? []).map((ip) => `IP:${ip}`)];
  const eku = o.usage === 'server' ? 'serverAuth' : o.usage === 'client' ? 'clientAuth' : 'serverAuth,clientAuth';
  const ext = [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${eku}`,
    ...(sans.length > 0 ? [`subjectAltName=${sans.join(',')}`] : []),
  ];
  writeFileSync(extFile, `${ext.join('\n')}\n`);
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

/** A serving certificate for 127.0.0.1 / localhost (plus extra SANs). */
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
    ipAddresses: ['127.0.0.1', ...(extra.ipAddresses ?? [])],
    usage: 'server',
  });
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
