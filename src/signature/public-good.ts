/**
 * The `public-good` trusted root as it stays current: starts from the root @sigstore/tuf embeds
 * (or the one the cache directory holds from an earlier TUF refresh) and refreshes it through
 * TUF in the background. Nothing here ever blocks an admission or startup: `current()` answers
 * at once with the last good root, the first refresh runs after `start()` returns, and a failed
 * refresh keeps the last good root, logs once per failure streak and retries with backoff
 * (30 s, doubling, never beyond the refresh interval).
 *
 * Verifiers read `current()` for each verification; a refresh swaps in a new parsed root in
 * one assignment, so every verification sees one root or the other, never a mix, and nothing
 * waits on the refresh (no stampede: one refresh loop per process and settings).
 */
import type { Logger } from '../core/log.ts';
import { realTimers } from '../core/timers.ts';
import type { TimerHandle, Timers } from '../core/timers.ts';
import { errorMessage } from './errors.ts';
import type { PublicGoodSettings, RefreshMode } from './public-good-settings.ts';
import { PUBLIC_GOOD, parseTrustedRoot, publicGoodTrustedRoot } from './trust.ts';
import type { LoadedTrustedRoot } from './trust.ts';

/** Where the root in use came from: the package (embedded), the cache directory, a TUF refresh, or the Config's trustedRoots. */
export type RootSource = 'embedded' | 'cache' | 'tuf' | 'config';

export interface TrustedRootStatus {
  readonly name: string;
  readonly source: RootSource;
  readonly fingerprint: string;
  /**
   * When the root in use was last known current (ms): the last TUF refresh that returned it;
   * for an embedded or Config root, the newest validity start in it (it is at least that old).
   */
  readonly asOf: number | undefined;
  readonly refresh: RefreshMode;
  /** Failed refreshes since the last good one, and the last failure. */
  readonly failures: number;
  readonly lastError: string | undefined;
}

/** A trusted_root.json from TUF (tuf-client.ts), or a stand-in in tests. */
export interface TrustedRootFetcher {
  /** The root an earlier refresh left in the cache directory, with when it was fetched. */
  readCached(): { readonly json: string; readonly refreshedAt: number } | undefined;
  /** Refreshes through TUF and returns the current trusted_root.json text; throws on any failure. */
  fetchTrustedRoot(): Promise<string>;
  close(): Promise<void>;
}

export interface PublicGoodRootOptions {
  readonly settings: PublicGoodSettings;
  /** Undefined when refresh is offline. */
  readonly fetcher: TrustedRootFetcher | undefined;
  readonly logger?: Logger | undefined;
  readonly timers?: Timers;
}

export const FIRST_RETRY_MS = 30_000;

/** The newest validity start in a root (ms), or undefined: how old an embedded root is at least. */
export function newestValidityStart(root: LoadedTrustedRoot): number | undefined {
  const starts = [
    ...root.root.certificateAuthorities.map((ca) => ca.validFor?.start),
    ...root.root.timestampAuthorities.map((tsa) => tsa.validFor?.start),
    ...root.root.tlogs.map((log) => log.publicKey?.validFor?.start),
    ...root.root.ctlogs.map((log) => log.publicKey?.validFor?.start),
  ].flatMap((start) => (start === undefined ? [] : [start.getTime()]));
  return starts.length === 0 ? undefined : Math.max(...starts);
}

export class PublicGoodRoot {
  readonly #settings: PublicGoodSettings;
  readonly #fetcher: TrustedRootFetcher | undefined;
  readonly #logger: Logger | undefined;
  readonly #timers: Timers;
  #current: LoadedTrustedRoot;
  #source: RootSource;
  #asOf: number | undefined;
  #failures = 0;
  #lastError: string | undefined;
  #timer: TimerHandle | undefined;
  #running: Promise<boolean> | undefined;
  #started = false;
  #closed = false;

  constructor(options: PublicGoodRootOptions) {
    this.#settings = options.settings;
    this.#fetcher = options.settings.refresh === 'tuf' ? options.fetcher : undefined;
    this.#logger = options.logger;
    this.#timers = options.timers ?? realTimers;
    this.#current = publicGoodTrustedRoot();
    this.#source = 'embedded';
    this.#asOf = newestValidityStart(this.#current);
    this.#loadCached();
  }

  /** The root to verify with now. */
  current(): LoadedTrustedRoot {
    return this.#current;
  }

  status(): TrustedRootStatus {
    return {
      name: PUBLIC_GOOD,
      source: this.#source,
      fingerprint: this.#current.fingerprint,
      asOf: this.#asOf,
      refresh: this.#settings.refresh,
      failures: this.#failures,
      lastError: this.#lastError,
    };
  }

  /** Starts the background refresh (once; nothing when refresh is offline). Returns at once. */
  start(): void {
    if (this.#started || this.#closed || this.#fetcher === undefined) return;
    this.#started = true;
    this.#schedule(0);
  }

  /** One refresh now (joins one under way); resolves to whether it succeeded. Tests and the loop use it. */
  refreshNow(): Promise<boolean> {
    this.#running ??= this.#refresh().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#fetcher?.close();
  }

  #loadCached(): void {
    if (this.#fetcher === undefined) return;
    try {
      const cached = this.#fetcher.readCached();
      if (cached === undefined) return;
      this.#current = parseTrustedRoot(PUBLIC_GOOD, cached.json);
      this.#source = 'cache';
      this.#asOf = cached.refreshedAt;
    } catch (error) {
      this.#logger?.warn({ err: errorMessage(error, 200) }, 'the cached public-good trusted root is not usable; starting from the embedded one');
    }
  }

  #schedule(delayMs: number): void {
    if (this.#closed) return;
    const timer = this.#timers.setTimeout(() => {
      void this.refreshNow().then((ok) => this.#schedule(ok ? this.#settings.refreshIntervalMs : this.#retryDelay()));
    }, delayMs);
    timer.unref();
    this.#timer = timer;
  }

  #retryDelay(): number {
    return Math.min(this.#settings.refreshIntervalMs, FIRST_RETRY_MS * 2 ** Math.min(this.#failures - 1, 16));
  }

  async #refresh(): Promise<boolean> {
    const fetcher = this.#fetcher;
    if (fetcher === undefined) return false;
    let next: LoadedTrustedRoot;
    try {
      next = parseTrustedRoot(PUBLIC_GOOD, await fetcher.fetchTrustedRoot());
    } catch (error) {
      this.#failures++;
      this.#lastError = errorMessage(error, 300);
      const fields = { mirror: this.#settings.tufMirror, err: this.#lastError, failures: this.#failures, source: this.#source };
      // Once per streak: an air-gapped cluster would otherwise log the same line for ever.
      if (this.#failures === 1) this.#logger?.warn(fields, 'public-good trusted root refresh failed; keeping the last good root');
      else this.#logger?.debug(fields, 'public-good trusted root refresh failed again');
      return false;
    }
    if (this.#closed) return false;
    const previous = this.#current;
    if (this.#failures > 0) this.#logger?.info({ mirror: this.#settings.tufMirror, failures: this.#failures }, 'public-good trusted root refresh works again');
    this.#failures = 0;
    this.#lastError = undefined;
    this.#source = 'tuf';
    this.#asOf = this.#timers.now();
    if (next.fingerprint !== previous.fingerprint) {
      this.#current = next;
      this.#logger?.info(
        { mirror: this.#settings.tufMirror, previous: previous.fingerprint.slice(0, 12), fingerprint: next.fingerprint.slice(0, 12) },
        'public-good trusted root updated',
      );
    }
    return true;
  }
}
