/**
 * One TUF refresh of `trusted_root.json`, with tuf-js: the client @sigstore/tuf wraps, used
 * directly because @sigstore/tuf builds its own fetcher (make-fetch-happen, temp files in the
 * OS temp dir) with no way to apply modelgate's egress rules (tuf-fetch.ts).
 *
 * The start of trust is the Config's `tufRoot`, else the root.json @sigstore/tuf embeds in its
 * seeds.json for Sigstore's repository; it is written into the metadata directory only while
 * that holds none, so a root rotated through TUF (and the timestamp, snapshot and targets
 * versions that guard against rollback) carries on from the cache. tuf-js checks signatures,
 * thresholds, versions, expiry and the target's length and hashes; anything wrong throws.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Updater } from 'tuf-js';
import { TrustRootError, errorMessage } from './errors.ts';
import type { Logger } from '../core/log.ts';
import { PublicGoodRoot } from './public-good.ts';
import type { TrustedRootFetcher } from './public-good.ts';
import { PUBLIC_GOOD_TUF_MIRROR } from './public-good-settings.ts';
import type { PublicGoodSettings } from './public-good-settings.ts';
import { GuardedTufFetcher } from './tuf-fetch.ts';

const TRUSTED_ROOT_TARGET = 'trusted_root.json';
const FETCH_TIMEOUT_MS = 10_000;
/** What modelgate keeps beside tuf-js's files: the last trusted_root.json TUF returned, and when. */
const RECORD = 'modelgate-trusted-root.json';

export interface TufClientOptions {
  readonly mirror: string;
  /** The start of trust (TUF root.json text); undefined: @sigstore/tuf's embedded root for Sigstore's repository. */
  readonly rootJson: string | undefined;
  /** The cache directory (metadata goes to `tuf/<hash of mirror and start of trust>/`); undefined: a private temporary one. */
  readonly cacheDir: string | undefined;
  /** Host (with port) that may be on an internal address: the Config named it. */
  readonly listedHost: string | undefined;
}

/** @sigstore/tuf's embedded root.json for Sigstore's public repository. */
export function embeddedTufRoot(): string {
  const require = createRequire(import.meta.url);
  const seeds = JSON.parse(readFileSync(require.resolve('@sigstore/tuf/seeds.json'), 'utf8')) as Record<string, { 'root.json'?: unknown } | undefined>;
  const root = seeds[PUBLIC_GOOD_TUF_MIRROR]?.['root.json'];
  if (typeof root !== 'string') throw new TrustRootError({ code: 'INVALID_TRUSTED_ROOT', message: "@sigstore/tuf's seeds.json holds no TUF root.json" });
  return Buffer.from(root, 'base64').toString('utf8');
}

export class TufTrustedRootClient implements TrustedRootFetcher {
  readonly #options: TufClientOptions;
  #dir: string | undefined;
  #fetcher: GuardedTufFetcher | undefined;

  constructor(options: TufClientOptions) {
    this.#options = options;
    // A different mirror or start of trust gets a directory of its own: metadata never mixes.
    const id = createHash('sha256')
      .update(`${options.mirror}\n${options.rootJson ?? ''}`)
      .digest('hex')
      .slice(0, 16);
    this.#dir = options.cacheDir === undefined ? undefined : join(options.cacheDir, 'tuf', id);
  }

  readCached(): { json: string; refreshedAt: number } | undefined {
    if (this.#dir === undefined || !existsSync(join(this.#dir, RECORD))) return undefined;
    const record = JSON.parse(readFileSync(join(this.#dir, RECORD), 'utf8')) as { refreshedAt?: unknown; trustedRoot?: unknown };
    if (typeof record.refreshedAt !== 'number' || typeof record.trustedRoot !== 'string') throw new Error(`${RECORD} is malformed`);
    return { json: record.trustedRoot, refreshedAt: record.refreshedAt };
  }

  /** Refreshes the TUF metadata and returns the current trusted_root.json text; throws on any TUF or network failure. */
  async fetchTrustedRoot(): Promise<string> {
    try {
      this.#dir ??= mkdtempSync(join(tmpdir(), 'modelgate-tuf-'));
      const dir = this.#dir;
      const json = await this.#refresh(dir);
      // Written whole or not at all: a crash mid-write never leaves half a root for the next start.
      writeFileSync(join(dir, `${RECORD}.tmp`), JSON.stringify({ refreshedAt: Date.now(), trustedRoot: json }), { mode: 0o600 });
      renameSync(join(dir, `${RECORD}.tmp`), join(dir, RECORD));
      return json;
    } catch (error) {
      throw new TrustRootError({
        code: 'TUF_REFRESH_FAILED',
        message: `TUF refresh from ${this.#options.mirror} failed: ${errorMessage(error, 240)}`,
        cause: error,
      });
    }
  }

  async #refresh(dir: string): Promise<string> {
    this.#fetcher ??= new GuardedTufFetcher({ listedHost: this.#options.listedHost, tmpDir: join(dir, 'tmp'), timeoutMs: FETCH_TIMEOUT_MS });
    const targets = join(dir, 'targets');
    mkdirSync(join(dir, 'tmp'), { recursive: true, mode: 0o700 });
    mkdirSync(targets, { recursive: true, mode: 0o700 });
    const rootFile = join(dir, 'root.json');
    if (!existsSync(rootFile)) writeFileSync(rootFile, this.#options.rootJson ?? embeddedTufRoot(), { mode: 0o600 });
    const updater = new Updater({
      metadataDir: dir,
      metadataBaseUrl: this.#options.mirror,
      targetDir: targets,
      targetBaseUrl: `${this.#options.mirror}/targets`,
      fetcher: this.#fetcher,
    });
    await updater.refresh();
    const info = await updater.getTargetInfo(TRUSTED_ROOT_TARGET);
    if (info === undefined) throw new Error(`the repository's targets hold no ${TRUSTED_ROOT_TARGET}`);
    const path = (await updater.findCachedTarget(info)) ?? (await updater.downloadTarget(info));
    return readFileSync(path, 'utf8');
  }

  async close(): Promise<void> {
    await this.#fetcher?.close();
  }
}

/** The webhook's public-good root for the Config's settings: refreshed through TUF from the mirror, unless offline. */
export function createPublicGoodRoot(settings: PublicGoodSettings, cacheDir: string | undefined, logger?: Logger): PublicGoodRoot {
  const fetcher =
    settings.refresh === 'offline'
      ? undefined
      : new TufTrustedRootClient({
          mirror: settings.tufMirror,
          rootJson: settings.tufRoot,
          cacheDir,
          // Only a mirror the Config names may be on an internal address; Sigstore's never is.
          listedHost: settings.mirrorConfigured ? new URL(settings.tufMirror).host : undefined,
        });
  return new PublicGoodRoot({ settings, fetcher, logger });
}
