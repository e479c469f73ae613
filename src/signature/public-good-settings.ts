/**
 * The Config's `spec.publicGood`: where the `public-good` trusted root comes from and how it
 * stays current. Declared, checked and converted here; the refresh itself is public-good.ts.
 *
 * ```yaml
 * spec:
 *   publicGood:
 *     refresh: tuf                 # default; offline: never any network, the embedded root only
 *     tufMirror: https://tuf-repo-cdn.sigstore.dev   # default: Sigstore's public TUF repository
 *     tufRoot: |                   # optional: the TUF root.json to start trust from
 *       {"signed": {"_type": "root", ...}, "signatures": [...]}
 *     refreshIntervalSeconds: 3600 # default
 * ```
 *
 * Without the section, modelgate refreshes the root through TUF in the background as soon as a
 * policy names `public-good`; a Config `trustedRoots` entry named `public-good` replaces it and
 * turns every refresh off (the strictly offline way to follow a rotation).
 */
import Type from 'typebox';
import type { Static } from 'typebox';
import { stringEnum, strictObject, withCheck } from '../core/schema.ts';

export const PUBLIC_GOOD_TUF_MIRROR = 'https://tuf-repo-cdn.sigstore.dev';
export const REFRESH_MODES = ['tuf', 'offline'] as const;
export type RefreshMode = (typeof REFRESH_MODES)[number];

export const DEFAULT_REFRESH_INTERVAL_SECONDS = 3600;
const MAX_TUF_ROOT_CHARS = 256 * 1024;

/** Why a TUF mirror URL cannot be used, or undefined. */
export function mirrorProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute http(s) URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an http(s) URL';
  if (url.username !== '' || url.password !== '') return 'must not hold credentials';
  if (url.search !== '' || url.hash !== '') return 'must have no query or fragment';
  return undefined;
}

/** Why a TUF root.json text cannot start trust, or undefined (the signatures are tuf-js's to check). */
export function tufRootProblem(value: string): string | undefined {
  let data: unknown;
  try {
    data = JSON.parse(value);
  } catch {
    return 'is not valid JSON';
  }
  const signed = typeof data === 'object' && data !== null && 'signed' in data ? data.signed : undefined;
  const type = typeof signed === 'object' && signed !== null && '_type' in signed ? signed._type : undefined;
  if (type !== 'root') return 'is not TUF root metadata ({"signed": {"_type": "root", ...}, "signatures": [...]})';
  return undefined;
}

export const publicGoodSchema = strictObject(
  {
    refresh: Type.Optional(
      stringEnum(REFRESH_MODES, { description: 'tuf (default): refresh in the background through TUF; offline: never any network, the embedded root' }),
    ),
    tufMirror: Type.Optional(
      withCheck(Type.String({ maxLength: 2048, description: `the TUF repository to refresh from (default ${PUBLIC_GOOD_TUF_MIRROR})` }), mirrorProblem),
    ),
    tufRoot: Type.Optional(
      withCheck(
        Type.String({
          maxLength: MAX_TUF_ROOT_CHARS,
          description: "a TUF root.json to start trust from (default: the one @sigstore/tuf embeds for Sigstore's repository)",
        }),
        tufRootProblem,
      ),
    ),
    refreshIntervalSeconds: Type.Optional(
      Type.Integer({ minimum: 5, maximum: 7 * 86_400, description: `seconds between refreshes (default ${DEFAULT_REFRESH_INTERVAL_SECONDS})` }),
    ),
  },
  { description: 'where the public-good trusted root comes from and how it stays current' },
);
export type PublicGoodSection = Static<typeof publicGoodSchema>;

/** The resolved `spec.publicGood`. */
export interface PublicGoodSettings {
  readonly refresh: RefreshMode;
  readonly tufMirror: string;
  /** Whether the Config names the mirror: only then may it be on an internal address (see oci/egress.ts). */
  readonly mirrorConfigured: boolean;
  /** The TUF root.json text; undefined: the one @sigstore/tuf embeds. */
  readonly tufRoot: string | undefined;
  readonly refreshIntervalMs: number;
}

export const DEFAULT_PUBLIC_GOOD_SETTINGS: PublicGoodSettings = {
  refresh: 'tuf',
  tufMirror: PUBLIC_GOOD_TUF_MIRROR,
  mirrorConfigured: false,
  tufRoot: undefined,
  refreshIntervalMs: DEFAULT_REFRESH_INTERVAL_SECONDS * 1000,
};

/** Converts a checked `spec.publicGood` section. */
export function toPublicGoodSettings(section: PublicGoodSection | undefined): PublicGoodSettings {
  if (section === undefined) return DEFAULT_PUBLIC_GOOD_SETTINGS;
  const mirror = section.tufMirror?.replace(/\/+$/, '');
  return {
    refresh: section.refresh ?? 'tuf',
    tufMirror: mirror ?? PUBLIC_GOOD_TUF_MIRROR,
    mirrorConfigured: mirror !== undefined && mirror !== PUBLIC_GOOD_TUF_MIRROR,
    tufRoot: section.tufRoot,
    refreshIntervalMs: (section.refreshIntervalSeconds ?? DEFAULT_REFRESH_INTERVAL_SECONDS) * 1000,
  };
}
