/** Content digests: parsing, computing and verifying sha256/sha512 digests of received bytes. */

import { createHash } from 'node:crypto';

export type DigestAlgorithm = 'sha256' | 'sha512';

export interface ParsedDigest {
  readonly algorithm: DigestAlgorithm;
  /** Lowercase hex. */
  readonly hex: string;
}

const HEX_LENGTHS: Readonly<Record<DigestAlgorithm, number>> = { sha256: 64, sha512: 128 };

/** Parses `sha256:<64 hex>` or `sha512:<128 hex>`; undefined for anything else. */
export function parseDigest(digest: string): ParsedDigest | undefined {
  if (typeof digest !== 'string') return undefined;
  const colon = digest.indexOf(':');
  if (colon === -1) return undefined;
  const algorithm = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  if (algorithm !== 'sha256' && algorithm !== 'sha512') return undefined;
  if (hex.length !== HEX_LENGTHS[algorithm] || !/^[0-9a-f]+$/.test(hex)) return undefined;
  return { algorithm, hex };
}

export function isDigest(value: unknown): value is string {
  return typeof value === 'string' && parseDigest(value) !== undefined;
}

/** `algorithm:hex` of the bytes. */
export function computeDigest(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/**
 * The digest of `bytes` with the algorithm of `expected`, and whether it equals `expected`.
 * `expected` must be a valid digest (see parseDigest).
 */
export function verifyDigest(bytes: Uint8Array, expected: string): { readonly ok: boolean; readonly actual: string } {
  const parsed = parseDigest(expected);
  if (parsed === undefined) throw new TypeError(`not a sha256/sha512 digest: ${JSON.stringify(expected)}`);
  const actual = computeDigest(bytes, parsed.algorithm);
  return { ok: actual === `${parsed.algorithm}:${parsed.hex}`, actual };
}

/**
 * The tag under which the OCI referrers tag schema stores the referrers index of `digest`:
 * `<alg>-<encoded>`, the algorithm truncated to 32 and the encoded part to 64 characters,
 * characters a tag cannot hold replaced with `-` (distribution-spec v1.1 "Referrers Tag Schema").
 */
export function referrersTag(digest: string): string {
  const colon = digest.indexOf(':');
  const algorithm = digest.slice(0, colon).slice(0, 32);
  const encoded = digest.slice(colon + 1).slice(0, 64);
  return `${algorithm}-${encoded}`.replace(/[^a-zA-Z0-9_.-]/g, '-');
}

/** A digest as messages write it: algorithm and the first 12 hex digits. */
export const shortDigest = (digest: string): string => (digest.length > 19 ? `${digest.slice(0, 19)}…` : digest);
