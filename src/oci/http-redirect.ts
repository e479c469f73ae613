/**
 * The redirect layer, and where the egress rules (src/oci/egress.ts) are applied to every URL
 * the client is sent to: the first, and each a registry redirects to. Redirects are followed
 * only when the caller asks (manifest and blob GETs), only to where a first request could go,
 * and never with the Authorization header to another origin. Plain HTTP goes only to hosts
 * listed insecure with their port; never to an internal address the Config does not list.
 */
import type { EgressGuard } from './egress.ts';
import type { RegistryEndpoints } from './endpoints.ts';
import { RegistryError } from './errors.ts';
import type { HttpRequest, Interceptor } from './http-exchange.ts';

const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

export function isRedirectStatus(status: number): boolean {
  return REDIRECT_STATUSES.has(status);
}

export function followRedirects(endpoints: RegistryEndpoints, guard: EgressGuard, maxRedirects: number): Interceptor {
  return (next) => async (exchange) => {
    let url = exchange.url;
    const headers: Record<string, string> = { ...exchange.headers };
    for (let hop = 0; ; hop++) {
      checkDestination(endpoints, guard, url, exchange);
      const response = await next({ ...exchange, url, headers, redirected: hop > 0 });
      const location = response.headers['location'];
      if (!isRedirectStatus(response.status) || location === undefined || exchange.followRedirects !== true) return response;
      if (hop >= maxRedirects) {
        throw new RegistryError('UNEXPECTED_STATUS', exchange.target, `more than ${maxRedirects} redirects, the last to ${url.host}`, {
          status: response.status,
        });
      }
      let target: URL;
      try {
        target = new URL(location, url);
      } catch (error) {
        throw new RegistryError('MALFORMED', exchange.target, 'the registry redirected to an invalid location', { status: response.status, cause: error });
      }
      if (target.origin !== url.origin) {
        // Credentials for the registry are not for a storage backend, nor for anyone a registry names.
        delete headers['authorization'];
      }
      url = target;
    }
  };
}

/** Throws the RegistryError that refuses `url`, if the client may not go there. */
function checkDestination(endpoints: RegistryEndpoints, guard: EgressGuard, url: URL, request: HttpRequest): void {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new RegistryError('MALFORMED', request.target, `unsupported URL scheme ${JSON.stringify(url.protocol)} for ${url.host}`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new RegistryError('MALFORMED', request.target, `a URL for ${url.hostname} carries user information, which is never followed`);
  }
  if (url.protocol === 'http:' && !isInsecureUrl(endpoints, url)) {
    throw new RegistryError('INSECURE_NOT_ALLOWED', request.target, `refusing plain HTTP to ${url.host}, which is not configured as insecure`);
  }
  const refusal = guard.refusal(url.hostname);
  if (refusal !== undefined)
    throw new RegistryError('EGRESS_DENIED', request.target, `refusing to connect to ${url.host}: ${refusal.message}`, { retryable: false });
}

/** Plain HTTP is allowed for the exact `host:port` listed insecure (port 80 when the URL has none). */
function isInsecureUrl(endpoints: RegistryEndpoints, url: URL): boolean {
  return endpoints.isInsecure(url.host) || endpoints.isInsecure(`${url.hostname}:${url.port === '' ? '80' : url.port}`);
}
