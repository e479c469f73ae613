/**
 * Registry authentication: `WWW-Authenticate` challenge parsing, the Docker token flow
 * (anonymous or with Basic credentials to the token realm), Basic auth, and a token cache
 * per (registry, scope, credential identity).
 */

import type { Credential, CredentialProvider } from './credentials.ts';
import { credentialIdentity } from './credentials.ts';
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

/** A response, the user whose credentials were available (undefined: anonymous), and whether the request carried them. */
export interface AuthenticatedResponse {
  readonly response: HttpResponse;
  readonly username: string | undefined;
  /** Whether the request that got `response` carried credentials (Basic, or a token obtained with them). */
  readonly credentialsSent: boolean;
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
}

/**
 * Sends registry requests with the right Authorization header. It remembers which challenge
 * each registry sent, so that later requests (for other repositories too) get a token or
 * Basic credentials up front instead of a 401 round trip first.
 */
export class Authenticator {
  private readonly transport: RequestSender;
  private readonly endpoints: RegistryEndpoints;
  private readonly credentials: CredentialProvider | undefined;
  readonly tokens: TokenCache;
  private readonly challenges = new Map<string, Challenge>();
  private readonly pending = new Map<string, Promise<string>>();

  constructor(options: AuthenticatorOptions) {
    this.transport = options.transport;
    this.endpoints = options.endpoints;
    this.credentials = options.credentials;
    this.tokens = options.tokens ?? new TokenCache();
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
      const reason = error instanceof Error ? error.message : String(error);
      throw new RegistryError('UNAUTHORIZED', request.target, `the credentials for this registry could not be read: ${reason}`, { cause: error, retryable: true });
    }
    const scope = `repository:${repository}:pull`;
    const identity = credentialIdentity(credential);
    const known = this.challenges.get(registry);
    const first = known === undefined ? NO_AUTH : await this.answer(known, request, scope, credential, identity, undefined);
    const username = credential?.username;
    const response = await this.transport.send(withAuthorization(request, first.header));
    const sent = (choice: AuthChoice): boolean => username !== undefined && choice.header !== undefined;
    if (response.status !== 401) return { response, username, credentialsSent: sent(first) };
    if (first.tokenKey !== undefined && first.token !== undefined) this.tokens.deleteIf(first.tokenKey, first.token);
    const challenge = selectChallenge(parseChallenges(response.headers['www-authenticate']));
    if (challenge === undefined) return { response, username, credentialsSent: sent(first) };
    this.challenges.set(registry, challenge);
    // A fresh answer to the same kind of challenge was just refused: asking again would not help.
    if (first.header !== undefined && !first.fromCache && known?.scheme === challenge.scheme) return { response, username, credentialsSent: sent(first) };
    // Any token but the refused one will do: a concurrent request may have fetched one since.
    const second = await this.answer(challenge, request, scope, credential, identity, first.token ?? REFUSED_NOTHING);
    if (second.header === undefined) return { response, username, credentialsSent: sent(first) };
    const retried = await this.transport.send(withAuthorization(request, second.header));
    if (retried.status === 401 && second.tokenKey !== undefined && second.token !== undefined) this.tokens.deleteIf(second.tokenKey, second.token);
    return { response: retried, username, credentialsSent: sent(second) };
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
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && this.endpoints.isInsecure(url.host))) {
      throw new RegistryError(
        'INSECURE_NOT_ALLOWED',
        target,
        `the registry's token service ${url.protocol}//${url.host} is not HTTPS and its host is not configured as insecure; credentials are not sent there`,
      );
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
        const who = credential === undefined ? 'anonymous access' : `the credentials of user ${JSON.stringify(credential.username)}`;
        throw new RegistryError(error.code, target, `${subject} refused ${who} (status ${response.status})`, {
          status: response.status,
          ...(error.registryCode === undefined ? {} : { registryCode: error.registryCode }),
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

function withAuthorization(request: HttpRequest, header: string | undefined): HttpRequest {
  if (header === undefined) return request;
  return { ...request, headers: { ...request.headers, authorization: header } };
}
