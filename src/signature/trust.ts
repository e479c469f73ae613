/**
 * Trusted roots (`trusted_root.json`: Fulcio CAs, Rekor and CT log keys, timestamp
 * authorities), loaded fully offline:
 *
 * - `public-good`: the Sigstore public-good root that @sigstore/tuf ships in its `seeds.json`
 *   (`{"https://tuf-repo-cdn.sigstore.dev": {"root.json": b64, "targets": {"trusted_root.json": b64}}}`),
 *   read directly from the installed package, unless a live source is given (the webhook's
 *   PublicGoodRoot, public-good.ts, which refreshes it through TUF in the background). A Config
 *   entry named `public-good` replaces both (how an air-gapped cluster follows a key rotation
 *   without upgrading modelgate, and without any network).
 * - any other name: a trusted_root.json document supplied in the Config's `spec.trustedRoots`.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial } from '@sigstore/verify';
import type { TrustMaterial } from '@sigstore/verify';
import { TrustRootError, errorMessage } from './errors.ts';

export const PUBLIC_GOOD = 'public-good';
const PUBLIC_GOOD_MIRROR = 'https://tuf-repo-cdn.sigstore.dev';
const TRUSTED_ROOT_TARGET = 'trusted_root.json';
const TRUSTED_ROOT_MEDIA_TYPE = /^application\/vnd\.dev\.sigstore\.trustedroot(?:\.v0\.\d+)?\+json(?:;\s*version=0\.\d+)?$/;

/** A trusted root supplied in the Config: `spec.trustedRoots[]`. */
export interface TrustedRootSetting {
  readonly name: string;
  /** The trusted_root.json document, as text. */
  readonly json: string;
}

/** A parsed trusted root. */
export interface LoadedTrustedRoot {
  readonly name: string;
  /** sha256 of the document text, hex: part of verification cache keys. */
  readonly fingerprint: string;
  readonly root: TrustedRoot;
  /** Trust material without public keys (key-based authorities add theirs). */
  readonly material: TrustMaterial;
}

function noKeys(hint: string): never {
  throw new TrustRootError({ code: 'UNKNOWN_TRUSTED_ROOT', message: `no public key is configured for hint ${JSON.stringify(hint.slice(0, 80))}` });
}

/** Parses and checks a trusted_root.json document; throws TrustRootError (INVALID_TRUSTED_ROOT). */
export function parseTrustedRoot(name: string, json: string): LoadedTrustedRoot {
  const invalid = (message: string, cause?: unknown): TrustRootError =>
    new TrustRootError({ code: 'INVALID_TRUSTED_ROOT', message: `trusted root ${JSON.stringify(name)} ${message}`, cause });
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch {
    throw invalid('is not valid JSON');
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw invalid('is not a JSON object');
  const mediaType = (data as { mediaType?: unknown }).mediaType;
  if (typeof mediaType !== 'string' || !TRUSTED_ROOT_MEDIA_TYPE.test(mediaType)) {
    throw invalid(`has mediaType ${JSON.stringify(mediaType ?? null)}, not application/vnd.dev.sigstore.trustedroot+json;version=0.1`);
  }
  let root: TrustedRoot;
  let material: TrustMaterial;
  try {
    root = TrustedRoot.fromJSON(data);
    material = toTrustMaterial(root, noKeys);
  } catch (error) {
    throw invalid(`cannot be used: ${errorMessage(error, 160)}`, error);
  }
  if (root.certificateAuthorities.length === 0 && root.tlogs.length === 0) throw invalid('has neither certificate authorities nor transparency logs');
  return { name, fingerprint: createHash('sha256').update(json).digest('hex'), root, material };
}

/** Why a trusted_root.json text cannot be used, for schema checks; undefined when it can. */
export function trustedRootProblem(json: string): string | undefined {
  try {
    parseTrustedRoot('(document)', json);
    return undefined;
  } catch (error) {
    return errorMessage(error).replace(/^trusted root "\(document\)" /, '');
  }
}

let publicGood: LoadedTrustedRoot | undefined;

/** The public-good trusted_root.json text embedded in @sigstore/tuf's seeds.json (no network). */
export function embeddedPublicGoodJson(): string {
  const require = createRequire(import.meta.url);
  let seeds: unknown;
  try {
    seeds = JSON.parse(readFileSync(require.resolve('@sigstore/tuf/seeds.json'), 'utf8'));
  } catch (error) {
    throw new TrustRootError({
      code: 'INVALID_TRUSTED_ROOT',
      message: `the public-good trusted root cannot be read from @sigstore/tuf: ${errorMessage(error, 160)}`,
      cause: error,
    });
  }
  const target = (seeds as Record<string, { targets?: Record<string, unknown> } | undefined>)[PUBLIC_GOOD_MIRROR]?.targets?.[TRUSTED_ROOT_TARGET];
  if (typeof target !== 'string') {
    throw new TrustRootError({ code: 'INVALID_TRUSTED_ROOT', message: `@sigstore/tuf's seeds.json holds no ${TRUSTED_ROOT_TARGET} for ${PUBLIC_GOOD_MIRROR}` });
  }
  return Buffer.from(target, 'base64').toString('utf8');
}

/** The embedded public-good root, parsed once. */
export function publicGoodTrustedRoot(): LoadedTrustedRoot {
  publicGood ??= parseTrustedRoot(PUBLIC_GOOD, embeddedPublicGoodJson());
  return publicGood;
}

/** Where the current public-good root comes from when it can change while modelgate runs. */
export interface LivePublicGood {
  current(): LoadedTrustedRoot;
}

/**
 * The trusted roots authorities may name: `public-good` plus those of the Config. With a live
 * public-good source, `current()` gives a snapshot that keeps one public-good root for a whole
 * verification and its cache key.
 */
export class TrustedRoots {
  readonly #roots: ReadonlyMap<string, LoadedTrustedRoot>;
  readonly #live: LivePublicGood | undefined;
  readonly #publicGood: LoadedTrustedRoot | undefined;
  #snapshot: TrustedRoots | undefined;

  private constructor(roots: ReadonlyMap<string, LoadedTrustedRoot>, live?: LivePublicGood, publicGood?: LoadedTrustedRoot) {
    this.#roots = roots;
    this.#live = live;
    this.#publicGood = publicGood;
  }

  /** Parses every supplied root now, so a broken one fails at load time; throws TrustRootError. */
  static fromSettings(settings: readonly TrustedRootSetting[] = [], live?: LivePublicGood): TrustedRoots {
    const roots = new Map<string, LoadedTrustedRoot>();
    for (const setting of settings) {
      if (roots.has(setting.name))
        throw new TrustRootError({ code: 'INVALID_TRUSTED_ROOT', message: `trusted root ${JSON.stringify(setting.name)} is given twice` });
      roots.set(setting.name, parseTrustedRoot(setting.name, setting.json));
    }
    // A Config entry named public-good wins: then nothing live applies.
    return new TrustedRoots(roots, roots.has(PUBLIC_GOOD) ? undefined : live);
  }

  /** Whether public-good comes from a live source (a TUF refresh), not from the package or the Config. */
  get livePublicGood(): boolean {
    return this.#live !== undefined;
  }

  /** The roots as they are now: this, or a snapshot with the live public-good root fixed (the same object until it changes). */
  current(): TrustedRoots {
    if (this.#live === undefined) return this;
    const root = this.#live.current();
    const snapshot = this.#snapshot;
    if (snapshot !== undefined && snapshot.#publicGood === root) return snapshot;
    this.#snapshot = new TrustedRoots(this.#roots, undefined, root);
    return this.#snapshot;
  }

  /** Names that resolve (public-good always does). */
  names(): string[] {
    return [...new Set([PUBLIC_GOOD, ...this.#roots.keys()])].sort();
  }

  has(name: string): boolean {
    return name === PUBLIC_GOOD || this.#roots.has(name);
  }

  /** The root of that name; throws TrustRootError (UNKNOWN_TRUSTED_ROOT). */
  get(name: string): LoadedTrustedRoot {
    const root = this.#roots.get(name);
    if (root !== undefined) return root;
    if (name === PUBLIC_GOOD) return this.#publicGood ?? this.#live?.current() ?? publicGoodTrustedRoot();
    throw new TrustRootError({
      code: 'UNKNOWN_TRUSTED_ROOT',
      message: `trusted root ${JSON.stringify(name)} is not in the Config's spec.trustedRoots (known: ${this.names().join(', ')})`,
    });
  }

  /** The fingerprint of a root, or `unknown:<name>` (so cache keys still differ by name). */
  fingerprint(name: string): string {
    try {
      return this.get(name).fingerprint;
    } catch {
      return `unknown:${name}`;
    }
  }
}
