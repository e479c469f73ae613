/**
 * Registry authentication: `WWW-Authenticate` challenge parsing, the Docker token flow
 * (anonymous or with Basic credentials to the token realm), Basic auth, and a token cache
 * per (registry, scope, credential identity).
 */

import { describeError } from '../core/errors.ts';
import type { Credential, CredentialProvider } from './credentials.ts';
import { credentialIdentity } from './credentials.ts';
import { getDomain } from 'tldts';
import { hostWithoutPort } from './endpoints.ts';
import type { RegistryEndpoints } from './endpoints.ts';
import { RegistryError, statusError } from './errors.ts';
import type { ErrorTarget } from './errors.ts';
import type { Deadline, HttpRequest, HttpResponse, HttpTransport } from './http.ts';

export interface Challenge {
  /** Lowercased: `bearer`, `basic`. */
  readonly scheme: string;
  /** Lowercased parameter names: `realm`, `service`, `scope`, `error`. */
  readonly params: Readonly<Record<string, string>>;
}

const TOKEN_CHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;

/**
 * Parses a WWW-Authenticate value into its challenges (RFC 7235): several challenges may be
 * listed, separated by commas like their parameters, and quoted values may hold commas
 * (`scope="repository:a:pull,push"`) and backslash escapes.
 */
export function parseChallenges(header: string | undefined): Challenge[] {
  if (header === undefined) return [];
  const out: { scheme: string; params: Record<string, string> }[] = [];
  let current: { scheme: string; params: Record<string, string> } | undefined;
  let i = 0;
  const n = header.length;
  const skip = (chars: string): void => {
    while (i < n && chars.includes(header[i] ?? '')) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < n && TOKEN_CHAR.test(header[i] ?? '')) i++;
    return header.slice(start, i);
  };
  while (i < n) {
    skip(' \t,');
    if (i >= n) break;
    const name = token();
    if (name === '') {
      i++;
      continue;
    }
    skip(' \t');
    if (header[i] === '=' && current !== undefined) {
      i++;
      skip(' \t');
      let value = '';
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === '\\' && i + 1 < n) i++;
          value += header[i];
          i++;
        }
        i++;
      } else {
        const start = i;
        while (i < n && header[i] !== ',' && header[i] !== ' ' && header[i] !== '\t') i++;
        value = header.slice(start, i);
      }
      current.params[name.toLowerCase()] = value;
    } else if (header[i] === '=') {
      // A parameter before any scheme: ignore it.
      i++;
      token();
    } else {
      current = { scheme: name.toLowerCase(), params: {} };
      out.push(current);
      // A token68 (`Basic dXNlcg==`) directly after the scheme carries no parameters we use.
    }
  }
  return out;
}

/** The challenge to answer: Bearer if offered, else Basic. */
export function selectChallenge(challenges: readonly Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
}

export function basicAuthorization(credential: Credential): string {
  return `Basic ${Buffer.from(`${credential.username}:${credential.password}`, 'utf8').toString('base64')}`;
}

export interface TokenResponse {
  readonly token: string;
  /** Lifetime in seconds (60 when the service gives none). */
  readonly expiresIn: number;
}

export const DEFAULT_TOKEN_LIFETIME_SECONDS = 60;

/** Reads a token service answer: `token` or `access_token`, `expires_in` (default 60 s). */
export function parseTokenResponse(body: Buffer): TokenResponse | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const record = parsed as Record<string, unknown>;
  const token = typeof record['token'] === 'string' && record['token'] !== '' ? record['token'] : record['access_token'];
  if (typeof token !== 'string' || token === '') return undefined;
  const expiresIn = record['expires_in'];
  return {
    token,
    expiresIn: typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : DEFAULT_TOKEN_LIFETIME_SECONDS,
  };
}

/**
 * Bearer tokens by key until shortly before they expire: a token is dropped 20% of its
 * lifetime (at most 30 s) early, so that it does not expire between lookup and use.
 */
export class TokenCache {
  private readonly tokens = new Map<string, { readonly token: string; readonly until: number }>();
  private readonly now: () => number;
  private readonly maxEntries: number;

  constructor(now: () => number = Date.now, maxEntries = 1024) {
    this.now = now;
    this.maxEntries = maxEntries;
  }

  static key(registry: string, scope: string, identity: string): string {
    return `${registry}\u0000${scope}\u0000${identity}`;
  }

  get(key: string): string | undefined {
    const entry = this.tokens.get(key);
    if (entry === undefined) return undefined;
    if (this.now() >= entry.until) {
      this.tokens.delete(key);
      return undefined;
    }
    return entry.token;
  }

  set(key: string, token: string, lifetimeSeconds: number): void {
    const lifetimeMs = lifetimeSeconds * 1000;
    const until = this.now() + lifetimeMs - Math.min(30_000, lifetimeMs * 0.2);
    this.tokens.delete(key);
    if (this.tokens.size >= this.maxEntries) {
      const oldest = this.tokens.keys().next();
      if (oldest.done !== true) this.tokens.delete(oldest.value);
    }
    this.tokens.set(key, { token, until });
  }

  delete(key: string): void {
    this.tokens.delete(key);
  }

  /** Drops `token` only if it is still the one cached: a concurrent request may already have replaced it. */
  deleteIf(key: string, token: string): void {
    if (this.tokens.get(key)?.token === token) this.tokens.delete(key);
  }

  get size(): number {
    return this.tokens.size;
  }
}

/** An Authorization header chosen for a request, and where it came from. */
interface AuthChoice {
  readonly header: string | undefined;
  /** The token cache key and the token, when the header carries one. */
  readonly tokenKey: string | undefined;
  readonly token: string | undefined;
  readonly fromCache: boolean;
}

/** A response, and the credential the request that got it carried (Basic, or a token obtained with it). */
export interface AuthenticatedResponse {
  readonly response: HttpResponse;
  /** Undefined when the request went without credentials (none configured, or none asked for). */
  readonly credential: Credential | undefined;
}

const NO_AUTH: AuthChoice = { header: undefined, tokenKey: undefined, token: undefined, fromCache: false };
const TOKEN_RESPONSE_LIMIT = 1024 * 1024;
/** Passed as the refused token after a 401 to a request that carried none: every cached token is new. */
const REFUSED_NOTHING = '';

/** The one thing the authenticator needs of the transport. */
export type RequestSender = Pick<HttpTransport, 'send'>;

export interface AuthenticatorOptions {
  readonly transport: RequestSender;
  readonly endpoints: RegistryEndpoints;
  readonly credentials: CredentialProvider | undefined;
  readonly tokens?: TokenCache;
  /** Clock for challenge and token lifetimes (tests). */
  readonly now?: () => number;
}

/** How long a challenge that worked is answered up front; after that a 401 is met again. */
export const CHALLENGE_TTL_MS = 10 * 60_000;

interface KnownChallenge {
  readonly challenge: Challenge;
  readonly until: number;
}

/**
 * Sends registry requests with the right Authorization header. It remembers the challenge
 * each registry sent once answering it worked, so that later requests (for other
 * repositories too) get a token or Basic credentials up front instead of a 401 round trip
 * first. A challenge is believed only from the registry itself (not from wherever it
 * redirected to), and a token realm only on the registry's host, its registrable domain or a
 * host the Config lists, over HTTPS: credentials never follow a registry's say-so elsewhere.
 */
export class Authenticator {
  private readonly transport: RequestSender;
  private readonly endpoints: RegistryEndpoints;
  private readonly credentials: CredentialProvider | undefined;
  private readonly now: () => number;
  readonly tokens: TokenCache;
  private readonly challenges = new Map<string, KnownChallenge>();
  private readonly pending = new Map<string, Promise<string>>();

  constructor(options: AuthenticatorOptions) {
    this.transport = options.transport;
    this.endpoints = options.endpoints;
    this.credentials = options.credentials;
    this.now = options.now ?? Date.now;
    this.tokens = options.tokens ?? new TokenCache(this.now);
  }

  /**
   * Sends `request` (for a repository of a registry) authenticated. On a 401: a cached token
   * is dropped, the challenge answered (token fetched, or Basic credentials) and the request
   * sent once more. The final response is returned, a 401 included, for the caller to map.
   */
  async send(request: HttpRequest): Promise<AuthenticatedResponse> {
    const { registry, repository } = request.target;
    let credential: Credential | undefined;
    try {
      credential = await this.credentials?.credentialsFor(registry, repository);
    } catch (error) {
      if (error instanceof RegistryError) throw error;
      throw new RegistryError('UNAUTHORIZED', request.target, 'the credentials for this registry could not be read', {
        cause: error,
        retryable: true,
        diagnostic: describeError(error),
      });
    }
    const scope = `repository:${repository}:pull`;
    const identity = credentialIdentity(credential);
    const known = this.knownChallenge(registry);
    const first = known === undefined ? NO_AUTH : await this.answer(known, request, scope, credential, identity, undefined);
    const response = await this.transport.send(withAuthorization(request, first.header));
    const used = (choice: AuthChoice): Credential | undefined => (credential !== undefined && choice.header !== undefined ? credential : undefined);
    if (response.status !== 401) return { response, credential: used(first) };
    if (first.tokenKey !== undefined && first.token !== undefined) this.tokens.deleteIf(first.tokenKey, first.token);
    // A 401 from wherever the registry redirected to is not the registry's challenge.
    if (response.redirected) return { response, credential: used(first) };
    const challenge = selectChallenge(parseChallenges(response.headers['www-authenticate']));
    if (challenge === undefined) return { response, credential: used(first) };
    // A fresh answer to the same kind of challenge was just refused: asking again would not help.
    if (first.header !== undefined && !first.fromCache && known?.scheme === challenge.scheme) return { response, credential: used(first) };
    // Any token but the refused one will do: a concurrent request may have fetched one since.
    const second = await this.answer(challenge, request, scope, credential, identity, first.token ?? REFUSED_NOTHING);
    if (second.header === undefined) return { response, credential: used(first) };
    const retried = await this.transport.send(withAuthorization(request, second.header));
    if (retried.status === 401) {
      if (second.tokenKey !== undefined && second.token !== undefined) this.tokens.deleteIf(second.tokenKey, second.token);
    } else {
      // Remembered only once it worked: one bad 401 must not break the registry's later checks.
      this.challenges.set(registry, { challenge, until: this.now() + CHALLENGE_TTL_MS });
    }
    return { response: retried, credential: used(second) };
  }

  private knownChallenge(registry: string): Challenge | undefined {
    const known = this.challenges.get(registry);
    if (known === undefined) return undefined;
    if (this.now() < known.until) return known.challenge;
    this.challenges.delete(registry);
    return undefined;
  }

  private async answer(
    challenge: Challenge,
    request: HttpRequest,
    scope: string,
    credential: Credential | undefined,
    identity: string,
    refused: string | undefined,
  ): Promise<AuthChoice> {
    if (challenge.scheme === 'basic') {
      if (credential === undefined) return NO_AUTH;
      return { header: basicAuthorization(credential), tokenKey: undefined, token: undefined, fromCache: false };
    }
    if (challenge.scheme !== 'bearer') return NO_AUTH;
    const key = TokenCache.key(request.target.registry, scope, identity);
    const cached = this.tokens.get(key);
    if (cached !== undefined && cached !== refused) return { header: `Bearer ${cached}`, tokenKey: key, token: cached, fromCache: refused === undefined };
    let pending = this.pending.get(key);
    if (pending === undefined) {
      pending = this.fetchToken(challenge, scope, credential, request.target, request.deadline, key).finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    const token = await pending;
    return { header: `Bearer ${token}`, tokenKey: key, token, fromCache: false };
  }

  /**
   * Why a token realm is not believed, or undefined: it must be HTTPS (plain HTTP only for a
   * `host:port` listed insecure) and on the registry's host, its registrable domain, or a
   * host the Config lists.
   */
  private realmRefusal(url: URL, registry: string): string | undefined {
    if (url.username !== '' || url.password !== '') return 'its URL carries user information';
    if (
      url.protocol !== 'https:' &&
      !(url.protocol === 'http:' && (this.endpoints.isInsecure(url.host) || this.endpoints.isInsecure(`${url.hostname}:${url.port === '' ? '80' : url.port}`)))
    ) {
      return `it is not HTTPS (${url.protocol}//), and that host and port are not configured as insecure`;
    }
    const realm = url.hostname.toLowerCase();
    const own = apiHostName(this.endpoints, registry);
    if (realm === own || this.endpoints.isListedHost(realm)) return undefined;
    const domain = registrableDomain(realm);
    if (domain !== null && domain === registrableDomain(own)) return undefined;
    return `it is neither the registry's host ${own}, nor in its domain, nor listed in the Config`;
  }

  /** GET realm?service=…&scope=… (Basic credentials when there are some) and caches the token. */
  private async fetchToken(
    challenge: Challenge,
    scope: string,
    credential: Credential | undefined,
    target: ErrorTarget,
    deadline: Deadline,
    key: string,
  ): Promise<string> {
    const realm = challenge.params['realm'];
    if (realm === undefined || realm === '') {
      throw new RegistryError('MALFORMED', target, 'the registry asked for a bearer token without naming the token service (no realm)');
    }
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new RegistryError('MALFORMED', target, `the registry named an invalid token service URL ${JSON.stringify(realm.slice(0, 200))}`);
    }
    const refusal = this.realmRefusal(url, target.registry);
    if (refusal !== undefined) {
      throw new RegistryError('UNAUTHORIZED', target, `the registry asked for a token from ${url.host}, where modelgate sends no requests: ${refusal}`, {
        retryable: false,
        hint: "a token service must be served over HTTPS on the registry's host or its domain; list another host in the Config's registries if it is trusted",
      });
    }
    const service = challenge.params['service'];
    if (service !== undefined && service !== '') url.searchParams.set('service', service);
    url.searchParams.append('scope', scope);
    const subject = `the token service at ${url.host}`;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (credential !== undefined) headers['authorization'] = basicAuthorization(credential);
    const response = await this.transport.send({ url, headers, maxBytes: TOKEN_RESPONSE_LIMIT, target, deadline, subject });
    if (response.status !== 200) {
      const error = statusError(target, response.status, response.body, response.headers, subject);
      if (error.code === 'UNAUTHORIZED' || error.code === 'FORBIDDEN') {
        const who = credential === undefined ? 'anonymous access' : 'the configured credentials';
        throw new RegistryError(error.code, target, `${subject} refused ${who} (status ${response.status})`, {
          status: response.status,
          ...(error.registryCode === undefined ? {} : { registryCode: error.registryCode }),
          ...(error.diagnostic === undefined ? {} : { diagnostic: error.diagnostic }),
        });
      }
      throw error;
    }
    const parsed = parseTokenResponse(response.body);
    if (parsed === undefined) throw new RegistryError('MALFORMED', target, `${subject} answered without a token (no token or access_token field)`);
    this.tokens.set(key, parsed.token, parsed.expiresIn);
    return parsed.token;
  }
}

/** The registry's API host name, as a token realm is compared with it. */
function apiHostName(endpoints: RegistryEndpoints, registry: string): string {
  return hostWithoutPort(endpoints.apiHost(registry)).toLowerCase();
}

function registrableDomain(hostname: string): string | null {
  // Private suffixes (github.io, …) count as public ones: a.github.io and b.github.io are not one domain.
  return getDomain(hostname, { allowPrivateDomains: true });
}

function withAuthorization(request: HttpRequest, header: string | undefined): HttpRequest {
  if (header === undefined) return request;
  return { ...request, headers: { ...request.headers, authorization: header } };
}
