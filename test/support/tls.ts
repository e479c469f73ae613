/**
 * A throw-away certificate authority for tests, made with the openssl CLI: a CA, server
 * certificates for loopback (IP 127.0.0.1, ::1 and DNS localhost) and leaf certificates
 * for signing tokens (distribution's `auth: token` verifies the JWT's x5c chain against a
 * root bundle).
 */

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCa {
  readonly dir: string;
  readonly certPath: string;
  readonly keyPath: string;
  /** PEM of the CA certificate: what goes into RegistrySettings.ca. */
  readonly certPem: string;
}

export interface IssuedCert {
  readonly certPath: string;
  readonly keyPath: string;
  readonly certPem: string;
  readonly keyPem: string;
}

function openssl(args: readonly string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A new CA in `dir` (files `<name>.crt`, `<name>.key`). */
export function createTestCa(dir: string, name = 'ca'): TestCa {
  const certPath = join(dir, `${name}.crt`);
  const keyPath = join(dir, `${name}.key`);
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      certPath,
      '-days',
      '2',
      '-subj',
      `/CN=modelgate test ${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  return { dir, certPath, keyPath, certPem: readFileSync(certPath, 'utf8') };
}

function issue(ca: TestCa, name: string, subject: string, extensions: string, keyArgs: readonly string[]): IssuedCert {
  const { dir } = ca;
  const keyPath = join(dir, `${name}.key`);
  const csrPath = join(dir, `${name}.csr`);
  const certPath = join(dir, `${name}.crt`);
  const extPath = join(dir, `${name}.ext`);
  writeFileSync(extPath, extensions);
  openssl(['req', '-new', ...keyArgs, '-nodes', '-keyout', keyPath, '-out', csrPath, '-subj', subject], dir);
  openssl(
    ['x509', '-req', '-in', csrPath, '-CA', ca.certPath, '-CAkey', ca.keyPath, '-CAcreateserial', '-out', certPath, '-days', '2', '-extfile', extPath],
    dir,
  );
  return { certPath, keyPath, certPem: readFileSync(certPath, 'utf8'), keyPem: readFileSync(keyPath, 'utf8') };
}

/** A TLS server certificate for loopback, signed by `ca`. */
export function issueServerCert(ca: TestCa, name = 'server'): IssuedCert {
  return issue(
    ca,
    name,
    '/CN=127.0.0.1',
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost',
      '',
    ].join('\n'),
    ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'],
  );
}

/** An RSA leaf certificate for signing JWTs (RS256), signed by `ca`. */
export function issueSigningCert(ca: TestCa, name = 'token-signer'): IssuedCert {
  return issue(ca, name, `/CN=modelgate test ${name}`, ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', ''].join('\n'), [
    '-newkey',
    'rsa:2048',
  ]);
}
