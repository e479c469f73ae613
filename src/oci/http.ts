/**
 * HTTP for the registry client over undici, as layers around one attempt (undici's
 * interceptors are the model): retries (src/oci/http-retry.ts) around redirects and the
 * egress rules (http-redirect.ts, egress.ts) around one bounded attempt (http-attempt.ts)
 * on keep-alive pools (http-pool.ts); failures are classified in http-classify.ts.
 *
 * Bounds and egress (issue 9): every attempt takes a slot of one Limiter (so many in flight
 * in all, so many per host) and reads its body within one byte budget, waiting inside the
 * deadline; connections go only where the EgressGuard allows; redirects are followed only
 * when the caller asks (manifest and blob GETs), only to where a first request could go, and
 * never with the Authorization header to another origin. Connection failures all read the
 * same in messages (a tenant must not scan ports through denials); their cause is in the
 * diagnostic, for the log.
 */
import { EgressGuard } from './egress.ts';
import type { RegistryEndpoints } from './endpoints.ts';
import { BoundedAttempts } from './http-attempt.ts';
import { clientClosed } from './http-classify.ts';
import { compose } from './http-exchange.ts';
import type { Dispatch, HttpRequest, HttpResponse, TransportOptions } from './http-exchange.ts';
import { AgentPool } from './http-pool.ts';
import { followRedirects } from './http-redirect.ts';
import { retry } from './http-retry.ts';

export { Deadline } from './http-exchange.ts';
export type { HttpRequest, HttpResponse, RequestEvent, RequestHook, TransportOptions } from './http-exchange.ts';
export { isRetryableStatus, parseRetryAfter } from './http-retry.ts';

export class HttpTransport {
  readonly #pool: AgentPool;
  readonly #attempts: BoundedAttempts;
  readonly #dispatch: Dispatch;

  constructor(endpoints: RegistryEndpoints, options: TransportOptions) {
    const guard = new EgressGuard(endpoints);
    this.#pool = new AgentPool(endpoints, guard, options);
    this.#attempts = new BoundedAttempts(this.#pool, options);
    this.#dispatch = compose(retry(options), followRedirects(endpoints, guard, options.maxRedirects))(this.#attempts.dispatch);
  }

  /** HTTP requests sent so far (every attempt, redirect hop and token request). */
  get requestCount(): number {
    return this.#attempts.requestCount;
  }

  close(): Promise<void> {
    return this.#pool.close();
  }

  /** GET with retries (http-retry.ts), following redirects when the request allows them (http-redirect.ts). */
  async send(request: HttpRequest): Promise<HttpResponse> {
    if (this.#pool.closed) throw clientClosed(request);
    return this.#dispatch({ ...request, attempt: 1, redirected: false });
  }
}
