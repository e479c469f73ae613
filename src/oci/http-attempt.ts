/**
 * One HTTP attempt and its bounds, the innermost layer of the registry client: a slot of the
 * request Limiter (so many in flight in all, so many per host), a timer of min(requestTimeout,
 * what is left of the deadline) that covers headers and body, a 2xx body read within the
 * request's maxBytes and within the shared byte budget, an error body cut at 64 KiB, and one
 * event for the `onRequest` hook. Waiting for a slot or for room happens inside the deadline.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { LimitWaitError, Limiter } from '../core/limiter.ts';
import type { Release } from '../core/limiter.ts';
import { RegistryError, upstreamExcerpt } from './errors.ts';
import { discard, normalizeHeaders, readCapped, readExactly } from './http-body.ts';
import { AttemptTimeout, callerAbort, classifyFailure, clientClosed, deadlineExceeded, tooLarge } from './http-classify.ts';
import { MINIMUM_ATTEMPT_MS } from './http-exchange.ts';
import type { Dispatch, Exchange, RequestEvent, TransportOptions } from './http-exchange.ts';
import type { AgentPool } from './http-pool.ts';
import { isRedirectStatus } from './http-redirect.ts';

const ERROR_BODY_LIMIT = 64 * 1024;

export type AttemptOptions = Pick<TransportOptions, 'requestTimeoutMs' | 'userAgent' | 'onRequest' | 'maxInFlight' | 'maxInFlightPerHost' | 'bodyBudgetBytes'>;

export class BoundedAttempts {
  readonly #pool: AgentPool;
  readonly #options: AttemptOptions;
  readonly #slots: Limiter;
  readonly #bodies: Limiter;
  #requests = 0;

  constructor(pool: AgentPool, options: AttemptOptions) {
    this.#pool = pool;
    this.#options = options;
    this.#slots = new Limiter(options.maxInFlight, options.maxInFlightPerHost, 'registry request slot');
    this.#bodies = new Limiter(options.bodyBudgetBytes, Number.POSITIVE_INFINITY, 'memory for a registry answer');
  }

  /** HTTP requests sent so far (every attempt, redirect hop and token request). */
  get requestCount(): number {
    return this.#requests;
  }

  /** One HTTP request and its (capped) body, within min(requestTimeout, deadline), in a slot of the limiter. */
  readonly dispatch: Dispatch = async (exchange) => {
    if (this.#pool.closed) throw clientClosed(exchange);
    const { deadline, url } = exchange;
    if (deadline.signal?.aborted === true) throw callerAbort(exchange);
    // An attempt with almost no time left only adds load: it could not finish.
    if (deadline.remaining() < Math.min(MINIMUM_ATTEMPT_MS, this.#options.requestTimeoutMs)) throw deadlineExceeded(exchange, url);
    const slot = await this.#wait(this.#slots, url.host, 1, exchange);
    let room: Release | undefined;
    const remaining = deadline.remaining();
    const byDeadline = remaining <= this.#options.requestTimeoutMs;
    const limitMs = Math.max(1, Math.min(this.#options.requestTimeoutMs, remaining));
    const timer = new AbortController();
    const timeout = setTimeout(() => timer.abort(new AttemptTimeout(limitMs, byDeadline)), limitMs);
    const signal = deadline.signal === undefined ? timer.signal : AbortSignal.any([timer.signal, deadline.signal]);
    const started = performance.now();
    let status = 0;
    this.#requests++;
    try {
      const response = await this.#pool.dispatcherFor(url).request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: 'GET',
        headers: { ...exchange.headers, 'user-agent': this.#options.userAgent },
        signal,
        headersTimeout: limitMs + 1000,
        bodyTimeout: limitMs + 1000,
      });
      status = response.statusCode;
      const responseHeaders = normalizeHeaders(response.headers);
      let body: Buffer;
      if (status >= 200 && status < 300) {
        const length = responseHeaders['content-length'];
        const declared = length === undefined ? undefined : Number(length);
        const known = declared !== undefined && Number.isSafeInteger(declared) && declared >= 0;
        if (known && declared > exchange.maxBytes) {
          discard(response.body);
          throw tooLarge(exchange, `${exchange.subject ?? 'the registry'} announced ${declared} bytes`);
        }
        // Room for the whole body before reading it: what it announced, else the most it may be.
        try {
          room = await this.#wait(this.#bodies, '', known ? declared : exchange.maxBytes, exchange);
        } catch (error) {
          discard(response.body);
          throw error;
        }
        const read = known ? await readExactly(response.body, declared) : await readCapped(response.body, exchange.maxBytes);
        if (read === undefined) throw tooLarge(exchange, 'reading stopped at the limit');
        body = read;
      } else if (isRedirectStatus(status)) {
        await response.body.dump({ limit: ERROR_BODY_LIMIT });
        body = Buffer.alloc(0);
      } else {
        body = (await readCapped(response.body, ERROR_BODY_LIMIT, true)) ?? Buffer.alloc(0);
      }
      this.#report(exchange, status, started, undefined, status >= 400 ? upstreamExcerpt(body) : undefined);
      // undici gives a keep-alive connection back to its pool one event-loop turn after the answer
      // (client-h1: setImmediate(resume)): a request the caller sends at once, the next step of a
      // discovery, would open a new connection, a round trip more at a distant registry.
      await nextTurn();
      return { status, headers: responseHeaders, body, url, redirected: exchange.redirected };
    } catch (error) {
      const mapped = error instanceof RegistryError ? error : classifyFailure(error, timer.signal, exchange, url);
      this.#report(exchange, status, started, mapped.code, mapped.diagnostic);
      throw mapped;
    } finally {
      clearTimeout(timeout);
      room?.();
      slot();
    }
  };

  /** A slot or room from a limiter, or the error that says the call ran out of time (or was cancelled) waiting. */
  async #wait(limiter: Limiter, key: string, weight: number, exchange: Exchange): Promise<Release> {
    try {
      return await limiter.acquire(key, { deadline: exchange.deadline.at, signal: exchange.deadline.signal }, weight);
    } catch (error) {
      if (!(error instanceof LimitWaitError)) throw error;
      if (error.aborted) throw callerAbort(exchange);
      throw new RegistryError(
        'TIMEOUT',
        exchange.target,
        `modelgate was too busy with other registry requests to reach ${exchange.url.host} before the deadline`,
        {
          retryable: false,
          diagnostic: error.message,
        },
      );
    }
  }

  #report(exchange: Exchange, status: number, started: number, error: string | undefined, diagnostic: string | undefined): void {
    const hook = this.#options.onRequest;
    if (hook === undefined) return;
    const event: RequestEvent = {
      registry: exchange.target.registry,
      method: 'GET',
      host: exchange.url.host,
      path: exchange.url.pathname,
      status,
      durationMs: performance.now() - started,
      attempt: exchange.attempt,
      ...(error === undefined ? {} : { error }),
      ...(diagnostic === undefined ? {} : { diagnostic }),
    };
    try {
      hook(event);
    } catch {
      // A metrics hook must never break a pull.
    }
  }
}
