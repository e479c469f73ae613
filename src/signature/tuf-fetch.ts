/**
 * How the TUF client reaches its mirror: tuf-js's Fetcher, on undici with the registry
 * client's egress rules (oci/egress.ts). Every connection is resolved through the EgressGuard,
 * so the mirror never lands on a loopback, private or metadata address unless the Config named
 * that mirror; redirects (at most 3, never from https to http) go through the same guard.
 * Bodies are bounded by the length tuf-js allows for each file, every request by a timeout.
 * Temporary files go under the cache directory: the webhook's root filesystem is read-only.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Fetcher } from 'tuf-js';
// Not re-exported by tuf-js's index; its Updater ends the search for the next root at this error with 403/404.
import { DownloadHTTPError } from 'tuf-js/dist/error.js';
import { Agent, request } from 'undici';
import { EgressGuard } from '../oci/egress.ts';
import { RegistryEndpoints } from '../oci/endpoints.ts';
import { TrustRootError, errorMessage } from './errors.ts';

const MAX_REDIRECTS = 3;

export interface TufFetcherOptions {
  /** Host (with port) the Config named as mirror: only it may be on an internal address. */
  readonly listedHost: string | undefined;
  /** Where temporary files go (created when needed). */
  readonly tmpDir: string;
  readonly timeoutMs: number;
}

/** A download refused or failed; tuf-js passes it on as the refresh's failure. */
const fetchError = (message: string): TrustRootError => new TrustRootError({ code: 'TUF_REFRESH_FAILED', message });

export class GuardedTufFetcher implements Fetcher {
  readonly #agent: Agent;
  readonly #guard: EgressGuard;
  readonly #options: TufFetcherOptions;

  constructor(options: TufFetcherOptions) {
    this.#options = options;
    const listed = options.listedHost === undefined ? [] : [{ host: options.listedHost, insecure: false, ca: undefined }];
    const guard = new EgressGuard(new RegistryEndpoints(listed));
    this.#guard = guard;
    this.#agent = new Agent({ connections: 2, keepAliveTimeout: 4_000, connect: { timeout: options.timeoutMs, lookup: guard.lookup } });
  }

  async downloadBytes(url: string, maxLength: number): Promise<Buffer> {
    let target = new URL(url);
    const deadline = AbortSignal.timeout(this.#options.timeoutMs);
    for (let hop = 0; ; hop++) {
      // An address literal is never looked up, so the guard's lookup would not see it: judge it first.
      const refused = this.#guard.refusal(target.hostname);
      if (refused !== undefined) throw fetchError(`GET ${target.href}: ${refused.message} (name the mirror in spec.publicGood.tufMirror to allow it)`);
      let response: Awaited<ReturnType<typeof request>>;
      try {
        response = await request(target, { dispatcher: this.#agent, method: 'GET', signal: deadline, headers: { accept: 'application/json' } });
      } catch (error) {
        throw fetchError(`GET ${target.href}: ${errorMessage(error, 160)}`);
      }
      const { statusCode, headers, body } = response;
      if (statusCode >= 300 && statusCode < 400 && typeof headers['location'] === 'string') {
        await body.dump();
        const next = new URL(headers['location'], target);
        if (hop >= MAX_REDIRECTS) throw fetchError(`GET ${url}: more than ${MAX_REDIRECTS} redirects`);
        if (next.username !== '' || next.password !== '') throw fetchError(`GET ${target.href}: redirect with user information refused`);
        if (next.protocol !== 'https:' && !(next.protocol === 'http:' && target.protocol === 'http:'))
          throw fetchError(`GET ${target.href}: redirect to ${next.protocol} refused`);
        target = next;
        continue;
      }
      if (statusCode !== 200) {
        await body.dump();
        throw new DownloadHTTPError(`GET ${target.href}: HTTP ${statusCode}`, statusCode);
      }
      const chunks: Buffer[] = [];
      let received = 0;
      for await (const chunk of body) {
        received += (chunk as Buffer).length;
        if (received > maxLength) {
          body.destroy();
          throw fetchError(`GET ${target.href}: more than ${maxLength} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
      return Buffer.concat(chunks);
    }
  }

  async downloadFile<T>(url: string, maxLength: number, handler: (file: string) => Promise<T>): Promise<T> {
    const bytes = await this.downloadBytes(url, maxLength);
    const dir = mkdtempSync(join(this.#options.tmpDir, 'download-'));
    try {
      const file = join(dir, 'file');
      writeFileSync(file, bytes);
      return await handler(file);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}
