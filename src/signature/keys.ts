/**
 * Authority public keys: PEM parsing, the accepted algorithms, and how a signature made by
 * cosign with such a key is checked (which hash, if any, goes with the key).
 */
import { createHash, createPublicKey, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { KeyError } from './errors.ts';

/** The key types cosign signs with: ECDSA P-256/P-384/P-521, Ed25519, RSA (PKCS#1 v1.5). */
export type KeyAlgorithm = 'ecdsa-p256' | 'ecdsa-p384' | 'ecdsa-p521' | 'ed25519' | 'rsa';

export interface AuthorityKey {
  readonly key: KeyObject;
  readonly algorithm: KeyAlgorithm;
  /** sha256 of the DER SubjectPublicKeyInfo, hex: stable whatever the PEM's line breaks. */
  readonly fingerprint: string;
}

const CURVES: Readonly<Record<string, KeyAlgorithm>> = {
  prime256v1: 'ecdsa-p256',
  'P-256': 'ecdsa-p256',
  secp384r1: 'ecdsa-p384',
  'P-384': 'ecdsa-p384',
  secp521r1: 'ecdsa-p521',
  'P-521': 'ecdsa-p521',
};

const MIN_RSA_BITS = 2048;

const parsed = new Map<string, AuthorityKey>();

/** Parses a PEM `PUBLIC KEY` (SPKI) of an accepted type; throws KeyError saying what is wrong. */
export function parseAuthorityKey(pem: string): AuthorityKey {
  const cached = parsed.get(pem);
  if (cached !== undefined) return cached;
  if (!pem.includes('-----BEGIN PUBLIC KEY-----')) {
    const hint = pem.includes('PRIVATE KEY') ? ' (this is a private key: give the public half, e.g. cosign.pub)' : '';
    throw new KeyError({ code: 'INVALID_KEY', message: `must be a PEM public key (-----BEGIN PUBLIC KEY-----)${hint}` });
  }
  const block = /-----BEGIN PUBLIC KEY-----([\s\S]*?)-----END PUBLIC KEY-----/.exec(pem);
  const body = (block?.[1] ?? '').replace(/\s+/g, '');
  if (body === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(body))
    throw new KeyError({ code: 'INVALID_KEY', message: 'is not a readable PEM public key (the base64 between the BEGIN and END lines is damaged)' });
  // OpenSSL rejects indented or re-flowed PEM, which YAML folding easily produces: re-wrap it.
  const canonical = `-----BEGIN PUBLIC KEY-----\n${body.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END PUBLIC KEY-----\n`;
  let key: KeyObject;
  try {
    key = createPublicKey({ key: canonical, format: 'pem' });
  } catch (error) {
    throw new KeyError({ code: 'INVALID_KEY', message: 'is not a readable PEM public key', cause: error });
  }
  const algorithm = keyAlgorithm(key);
  const fingerprint = createHash('sha256')
    .update(key.export({ type: 'spki', format: 'der' }))
    .digest('hex');
  const result: AuthorityKey = { key, algorithm, fingerprint };
  if (parsed.size > 1000) parsed.clear();
  parsed.set(pem, result);
  return result;
}

function keyAlgorithm(key: KeyObject): KeyAlgorithm {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (type === 'ed25519') return 'ed25519';
  if (type === 'ec') {
    const curve = CURVES[details.namedCurve ?? ''];
    if (curve === undefined) {
      throw new KeyError({ code: 'UNSUPPORTED_KEY', message: `is an ECDSA key on curve ${details.namedCurve ?? '(unknown)'}; use P-256, P-384 or P-521` });
    }
    return curve;
  }
  if (type === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) throw new KeyError({ code: 'UNSUPPORTED_KEY', message: `is a ${bits}-bit RSA key; use at least ${MIN_RSA_BITS} bits` });
    return 'rsa';
  }
  throw new KeyError({ code: 'UNSUPPORTED_KEY', message: `is a ${type ?? 'unknown'} key; use ECDSA (P-256, P-384, P-521), Ed25519 or RSA` });
}

/** The problem with a PEM key, for schema checks; undefined when it is usable. */
export function keyProblem(pem: string): string | undefined {
  try {
    parseAuthorityKey(pem);
    return undefined;
  } catch (error) {
    return error instanceof KeyError ? error.message : 'is not a usable public key';
  }
}

/**
 * The hashes a signature by this key may have been made with: cosign hashes ECDSA and RSA
 * signatures with SHA-256 (its default for every key), and newer signers pick the hash that
 * matches the curve; Ed25519 signs the message itself (no hash, `null`).
 */
export function candidateHashes(algorithm: KeyAlgorithm, declared: string | undefined): readonly (string | null)[] {
  if (algorithm === 'ed25519') return [null];
  const out: string[] = [declared ?? 'sha256'];
  if (algorithm === 'ecdsa-p384') out.push('sha384');
  if (algorithm === 'ecdsa-p521') out.push('sha512');
  if (!out.includes('sha256')) out.push('sha256');
  return [...new Set(out)];
}

/** Whether `signature` over `data` verifies with the key under any of its candidate hashes. */
export function verifyWithKey(authority: AuthorityKey, data: Buffer, signature: Buffer, declaredHash: string | undefined): boolean {
  for (const hash of candidateHashes(authority.algorithm, declaredHash)) {
    try {
      if (verify(hash, data, authority.key, signature)) return true;
    } catch {
      // a malformed signature for this key type: try the next hash, then give up
    }
  }
  return false;
}
