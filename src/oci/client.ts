/**
 * The registry client: OCI distribution API v2 reads (manifests by digest or tag, blobs,
 * referrers) with every byte verified against the digest it was asked for.
 */

import type { RegistrySettings } from './settings.ts';
import { Authenticator } from './auth.ts';
import type { AuthenticatedResponse } from './auth.ts';
import { PUBLIC, audienceOf, narrower } from './credentials.ts';
import type { Audience, Credential, CredentialProvider } from './credentials.ts';
import { computeDigest, isDigest, referrersTag, verifyDigest } from './digest.ts';
import { RegistryEndpoints } from './endpoints.ts';
import { RegistryError, errorBodyCode, statusError } from './errors.ts';
import { ReferrerSelection, artifactTypesOf } from './referrer-selection.ts';
import { ReferrersCapabilities, notFoundMeansNoApi } from './referrers-capability.ts';
import type { ErrorTarget, RegistryOperation } from './errors.ts';
import { Deadline, HttpTransport } from './http.ts';
import type { HttpResponse, RequestHook } from './http.ts';
import { INDEX_ACCEPT, MANIFEST_ACCEPT } from './media-types.ts';
import { ManifestDocumentError, readIndexDocument, readManifestDocument } from './documents.ts';
import type { ManifestDocument } from './documents.ts';
import type {
  BlobOptions,
  CallOptions,
  Descriptor,
  FetchedBlob,
  FetchedManifest,
  ManifestOptions,
  Referrers,
  ReferrersOptions,
  Registry,
  RepositoryLocator,
} from './types.ts';

export const MiB = 1024 * 1024;

export interface RegistryClientOptions {
  /** Per-host settings (plain HTTP, CA bundle): the `registries` of the modelgate Config. */
  readonly registries?: readonly RegistrySettings[];
  /** Where credentials come from; anonymous access without. */
  readonly credentials?: CredentialProvider;
  /** Limit of one HTTP attempt, headers and body (default 5000 ms). */
  readonly requestTimeoutMs?: number;
  /** Deadline of a call that passes neither `deadline` nor `signal`… nor only a signal (default 8000 ms). */
  readonly defaultDeadlineMs?: number;
  /** Retries of 429, 5xx, resets and timeouts (default 2). */
  readonly maxRetries?: number;
  readonly retryBaseDelayMs?: number;
  readonly retryMaxDelayMs?: number;
  readonly connectTimeoutMs?: number;
  readonly keepAliveTimeoutMs?: number;
  readonly connectionsPerOrigin?: number;
  readonly maxRedirects?: number;
  /** Manifest size limit (default 4 MiB). */
  readonly maxManifestBytes?: number;
  /** Blob size limit (default 16 MiB): blobs are read into memory. */
  readonly maxBlobBytes?: number;
  /** Most referrers returned by fetchReferrers (default 128). */
  readonly maxReferrers?: number;
  /** Size limit of a referrers index (default 4 MiB). */
  readonly maxReferrersBytes?: number;
  /** Most pages of the referrers API followed through Link headers (default 8). */
  readonly maxReferrersPages?: number;
  readonly userAgent?: string;
  /** Called after every HTTP exchange (for metrics). */
  readonly onRequest?: RequestHook;
  /** Randomness for retry jitter, in [0, 1) (tests). */
  readonly random?: () => number;
  /** Requests in flight at once, in all (default 64) and per host (default 16); more wait inside their deadline. */
  readonly maxInFlight?: number;
  readonly maxInFlightPerHost?: number;
  /** Bytes of registry answers held at once (default 8 MiB); larger answers wait inside their deadline. */
  readonly bodyBudgetBytes?: number;
  /** Which registries serve the referrers API, as learnt (tests pass one with their clock). */
  readonly referrersCapabilities?: ReferrersCapabilities;
}

export const DEFAULT_CLIENT_OPTIONS = {
  requestTimeoutMs: 5000,
  defaultDeadlineMs: 8000,
  maxRetries: 2,
  retryBaseDelayMs: 200,
  retryMaxDelayMs: 2000,
  connectTimeoutMs: 5000,
  keepAliveTimeoutMs: 30_000,
  connectionsPerOrigin: 16,
  maxRedirects: 5,
  maxManifestBytes: 4 * MiB,
  maxBlobBytes: 16 * MiB,
  maxReferrers: 128,
  maxReferrersBytes: 4 * MiB,
  maxReferrersPages: 8,
  maxInFlight: 64,
  maxInFlightPerHost: 16,
  bodyBudgetBytes: 8 * MiB,
  userAgent: 'modelgate/0.1 (+registry client)',
} as const;

const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const REGISTRY = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?$/;

export class RegistryClient implements Registry {
  private readonly endpoints: RegistryEndpoints;
  private readonly transport: HttpTransport;
  private readonly auth: Authenticator;
  private readonly referrersApi: ReferrersCapabilities;
  private readonly limits: {
    readonly defaultDeadlineMs: number;
    readonly maxManifestBytes: number;
    readonly maxBlobBytes: number;
    readonly maxReferrers: number;
    readonly maxReferrersBytes: number;
    readonly maxReferrersPages: number;
  };

  constructor(options: RegistryClientOptions = {}) {
    const o = { ...DEFAULT_CLIENT_OPTIONS, ...definedOnly(options) };
    this.endpoints = new RegistryEndpoints(options.registries ?? []);
    this.transport = new HttpTransport(this.endpoints, {
      requestTimeoutMs: o.requestTimeoutMs,
      maxRetries: o.maxRetries,
      retryBaseDelayMs: o.retryBaseDelayMs,
      retryMaxDelayMs: o.retryMaxDelayMs,
      connectTimeoutMs: o.connectTimeoutMs,
      keepAliveTimeoutMs: o.keepAliveTimeoutMs,
      connectionsPerOrigin: o.connectionsPerOrigin,
      maxRedirects: o.maxRedirects,
      userAgent: o.userAgent,
      random: options.random ?? Math.random,
      onRequest: options.onRequest,
      maxInFlight: o.maxInFlight,
      maxInFlightPerHost: o.maxInFlightPerHost,
      bodyBudgetBytes: Math.max(o.bodyBudgetBytes, o.maxManifestBytes, o.maxBlobBytes, o.maxReferrersBytes),
    });
    this.auth = new Authenticator({ transport: this.transport, endpoints: this.endpoints, credentials: options.credentials });
    this.referrersApi = options.referrersCapabilities ?? new ReferrersCapabilities();
    this.limits = {
      defaultDeadlineMs: o.defaultDeadlineMs,
      maxManifestBytes: o.maxManifestBytes,
      maxBlobBytes: o.maxBlobBytes,
      maxReferrers: o.maxReferrers,
      maxReferrersBytes: o.maxReferrersBytes,
      maxReferrersPages: o.maxReferrersPages,
    };
  }

  /** HTTP requests made by this client (attempts, redirects and token requests included). */
  get requestCount(): number {
    return this.transport.requestCount;
  }

  /** Closes the keep-alive connections. */
  close(): Promise<void> {
    return this.transport.close();
  }

  async fetchManifest(locator: RepositoryLocator, digest: string, options: ManifestOptions = {}): Promise<FetchedManifest> {
    const target = this.target('manifest', locator, digest);
    requireDigest(target, digest);
    const deadline = this.deadline(options);
    const { response, audience } = await this.get(target, `manifests/${digest}`, MANIFEST_ACCEPT, options.maxBytes ?? this.limits.maxManifestBytes, deadline);
    const verified = verifyDigest(response.body, digest);
    if (!verified.ok) throw tampered(target, verified.actual, digest);
    // The computed digest, equal to the requested one: that one is often a slice of a whole
    // image reference, which a cached copy would keep alive.
    return toManifest(target, verified.actual, response, audience);
  }

  async fetchManifestByTag(locator: RepositoryLocator, tag: string, options: ManifestOptions = {}): Promise<FetchedManifest> {
    const target = this.target('tag', locator, tag);
    if (typeof tag !== 'string' || !TAG.test(tag)) {
      throw new RegistryError('INVALID_ARGUMENT', target, `${JSON.stringify(tag)} is not a valid tag`, {
        hint: "use 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'",
      });
    }
    const deadline = this.deadline(options);
    const { response, audience } = await this.get(target, `manifests/${tag}`, MANIFEST_ACCEPT, options.maxBytes ?? this.limits.maxManifestBytes, deadline);
    return toManifest(target, computeDigest(response.body), response, audience);
  }

  async fetchBlob(locator: RepositoryLocator, digest: string, options: BlobOptions = {}): Promise<FetchedBlob> {
    const target = this.target('blob', locator, digest);
    requireDigest(target, digest);
    const maxBytes = options.maxBytes ?? this.limits.maxBlobBytes;
    const { expectedSize } = options;
    if (expectedSize !== undefined && expectedSize > maxBytes) {
      throw new RegistryError('TOO_LARGE', target, `the descriptor gives ${expectedSize} bytes, more than the limit of ${maxBytes} bytes`);
    }
    const deadline = this.deadline(options);
    const { response, audience } = await this.get(target, `blobs/${digest}`, '*/*', maxBytes, deadline);
    const verified = verifyDigest(response.body, digest);
    if (!verified.ok) throw tampered(target, verified.actual, digest);
    if (expectedSize !== undefined && response.body.length !== expectedSize) {
      throw new RegistryError('MALFORMED', target, `the blob has ${response.body.length} bytes where its descriptor gives ${expectedSize}`);
    }
    return { digest: verified.actual, size: response.body.length, bytes: response.body, audience };
  }

  async fetchReferrers(locator: RepositoryLocator, subject: string, options: ReferrersOptions = {}): Promise<Referrers> {
    const target = this.target('referrers', locator, subject);
    requireDigest(target, subject);
    const deadline = this.deadline(options);
    const maxResults = Math.max(0, options.maxResults ?? this.limits.maxReferrers);
    const maxBytes = options.maxBytes ?? this.limits.maxReferrersBytes;
    const types = artifactTypesOf(options.artifactType);
    const fromTag = (): Promise<Referrers> => this.referrersFromTag(target, new ReferrerSelection(types, maxResults), maxBytes, deadline);
    const origin = this.endpoints.baseUrl(locator.registry).origin;
    const known = this.referrersApi.get(origin);
    if (known === 'absent') return fromTag();
    // Not known: the tag goes out beside the API (one round trip on a registry without it); the API's answer decides.
    const early = known === undefined ? fromTag() : undefined;
    early?.catch(() => undefined);
    const api = await this.referrersFromApi(target, origin, types, new ReferrerSelection(types, maxResults), maxBytes, deadline);
    return api ?? early ?? fromTag();
  }

  /** The referrers API's listing, followed through its pages; undefined when the API answered 404 (no API). */
  private async referrersFromApi(
    target: ErrorTarget,
    origin: string,
    types: readonly string[] | undefined,
    selection: ReferrerSelection,
    maxBytes: number,
    deadline: Deadline,
  ): Promise<Referrers | undefined> {
    const subject = target.reference;
    // The API filters by one artifactType at most; several are filtered here from one listing.
    const query = types?.length === 1 ? `?artifactType=${encodeURIComponent(types[0] as string)}` : '';
    let url = new URL(`/v2/${target.repository}/referrers/${subject}${query}`, origin);
    let audience: Audience = PUBLIC;
    for (let page = 1; ; page++) {
      const { response, credential } = await this.send(target, url, INDEX_ACCEPT, maxBytes, deadline, false);
      if (page === 1 && response.status === 404) {
        if (notFoundMeansNoApi(errorBodyCode(response.body))) this.referrersApi.learn(origin, 'absent');
        return undefined;
      }
      if (response.status !== 200) throw failure(target, response, credential);
      audience = narrower(audience, audienceOf(credential));
      // Whatever OCI-Filters-Applied claims, the filter is applied here too.
      const descriptors = readIndex(target, response.body, 'the referrers API');
      if (page === 1) this.referrersApi.learn(origin, 'present');
      for (const descriptor of descriptors) {
        if (!selection.offer(descriptor)) return { subject, descriptors: selection.kept, source: 'api', truncated: true, audience };
      }
      const next = nextLink(response.headers['link'], url);
      if (next === undefined) return { subject, descriptors: selection.kept, source: 'api', truncated: selection.truncated, audience };
      if (next.origin !== url.origin) {
        throw new RegistryError('MALFORMED', target, `the referrers API pointed its next page at another host (${next.host})`);
      }
      if (page >= this.limits.maxReferrersPages) return { subject, descriptors: selection.kept, source: 'api', truncated: true, audience };
      url = next;
    }
  }

  /** The referrers tag schema: an index tagged `<alg>-<hex>`; no such tag means no referrers. */
  private async referrersFromTag(target: ErrorTarget, selection: ReferrerSelection, maxBytes: number, deadline: Deadline): Promise<Referrers> {
    const subject = target.reference;
    const tag = referrersTag(subject);
    const url = new URL(`/v2/${target.repository}/manifests/${tag}`, this.endpoints.baseUrl(target.registry));
    const { response, credential } = await this.send(target, url, INDEX_ACCEPT, maxBytes, deadline, true);
    if (response.status === 404) return { subject, descriptors: [], source: 'tag', truncated: false, audience: audienceOf(credential) };
    if (response.status !== 200) throw failure(target, response, credential);
    for (const descriptor of readIndex(target, response.body, `the referrers tag ${tag}`)) if (!selection.offer(descriptor)) break;
    return { subject, descriptors: selection.kept, source: 'tag', truncated: selection.truncated, audience: audienceOf(credential) };
  }

  private target(operation: RegistryOperation, locator: RepositoryLocator, reference: string): ErrorTarget {
    const target: ErrorTarget = { operation, registry: String(locator.registry), repository: String(locator.repository), reference: String(reference) };
    if (!REGISTRY.test(target.registry)) {
      throw new RegistryError('INVALID_ARGUMENT', target, `${JSON.stringify(target.registry)} is not a registry host`, {
        hint: 'pass the registry as in a parsed image reference: host or host:port',
      });
    }
    if (!REPOSITORY.test(target.repository)) {
      throw new RegistryError('INVALID_ARGUMENT', target, `${JSON.stringify(target.repository)} is not a valid repository name`, {
        hint: "repository names are lowercase path components separated by '/'",
      });
    }
    return target;
  }

  private deadline(options: CallOptions): Deadline {
    const fallback = Date.now() + this.limits.defaultDeadlineMs;
    const at = options.deadline !== undefined && Number.isFinite(options.deadline) ? options.deadline : fallback;
    return new Deadline(at, options.signal);
  }

  /** An authenticated GET of a manifest or blob (redirects followed); anything but 200 is an error. */
  private async get(
    target: ErrorTarget,
    path: string,
    accept: string,
    maxBytes: number,
    deadline: Deadline,
  ): Promise<{ response: HttpResponse; audience: Audience }> {
    const url = new URL(`/v2/${target.repository}/${path}`, this.endpoints.baseUrl(target.registry));
    const { response, credential } = await this.send(target, url, accept, maxBytes, deadline, true);
    if (response.status !== 200) throw failure(target, response, credential);
    return { response, audience: audienceOf(credential) };
  }

  private async send(
    target: ErrorTarget,
    url: URL,
    accept: string,
    maxBytes: number,
    deadline: Deadline,
    followRedirects: boolean,
  ): Promise<AuthenticatedResponse> {
    return this.auth.send({ url, headers: { accept }, maxBytes, target, deadline, followRedirects });
  }
}

function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}

function requireDigest(target: ErrorTarget, digest: string): void {
  if (!isDigest(digest)) {
    throw new RegistryError('INVALID_ARGUMENT', target, `${JSON.stringify(digest)} is not a sha256 or sha512 digest`);
  }
}

function tampered(target: ErrorTarget, actual: string, pinned: string): RegistryError {
  return new RegistryError('TAMPERED', target, `the registry returned content whose digest is ${actual}, not the pinned ${pinned}`, { retryable: false });
}

/** The error for a non-200 answer, saying on 401/403 whether credentials were sent (never whose). */
function failure(target: ErrorTarget, response: HttpResponse, credential: Credential | undefined): RegistryError {
  const error = statusError(target, response.status, response.body, response.headers);
  if (error.code !== 'UNAUTHORIZED' && error.code !== 'FORBIDDEN') return error;
  const who = credential === undefined ? 'the request carried no credentials' : 'the request carried the configured credentials';
  return new RegistryError(error.code, target, `${error.detail}; ${who}`, {
    status: response.status,
    ...(error.registryCode === undefined ? {} : { registryCode: error.registryCode }),
    ...(error.diagnostic === undefined ? {} : { diagnostic: error.diagnostic }),
  });
}

function toManifest(target: ErrorTarget, digest: string, response: HttpResponse, audience: Audience): FetchedManifest {
  let document: ManifestDocument;
  try {
    document = readManifestDocument(response.body, response.headers['content-type']);
  } catch (error) {
    if (error instanceof ManifestDocumentError) throw new RegistryError('MALFORMED', target, error.reason, { cause: error, retryable: false });
    throw error;
  }
  return { digest, mediaType: document.mediaType, bytes: response.body, json: document.json, audience };
}

/** The descriptors of an OCI index (the referrers API answer or the referrers tag). */
function readIndex(target: ErrorTarget, bytes: Buffer, what: string): Descriptor[] {
  let json: Readonly<Record<string, unknown>>;
  try {
    json = readIndexDocument(bytes);
  } catch (error) {
    if (error instanceof ManifestDocumentError)
      throw new RegistryError('MALFORMED', target, `${what} answered an index that was refused: ${error.reason}`, { cause: error, retryable: false });
    throw error;
  }
  const manifests = json['manifests'];
  if (!Array.isArray(manifests)) return [];
  return manifests.map((entry: unknown, index) => {
    const descriptor = parseDescriptor(entry);
    if (descriptor === undefined) throw new RegistryError('MALFORMED', target, `descriptor #${index} of the index from ${what} is not a valid OCI descriptor`);
    return descriptor;
  });
}

/** A valid descriptor (mediaType, sha256/sha512 digest, size), or undefined. */
export function parseDescriptor(value: unknown): Descriptor | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  const { mediaType, digest, size, artifactType, annotations, platform } = record;
  if (typeof mediaType !== 'string' || mediaType === '') return undefined;
  if (!isDigest(digest)) return undefined;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return undefined;
  if (artifactType !== undefined && typeof artifactType !== 'string') return undefined;
  let checkedAnnotations: Record<string, string> | undefined;
  if (annotations !== undefined && annotations !== null) {
    if (typeof annotations !== 'object' || Array.isArray(annotations)) return undefined;
    const entries = Object.entries(annotations);
    if (entries.some(([, val]) => typeof val !== 'string')) return undefined;
    checkedAnnotations = Object.fromEntries(entries) as Record<string, string>;
  }
  const out: { -readonly [K in keyof Descriptor]: Descriptor[K] } = { mediaType, digest, size };
  if (artifactType !== undefined) out.artifactType = artifactType;
  if (checkedAnnotations !== undefined) out.annotations = checkedAnnotations;
  if (typeof platform === 'object' && platform !== null && !Array.isArray(platform)) out.platform = platform as Record<string, unknown>;
  return out;
}

/** The `rel="next"` target of a Link header, resolved against the current URL. */
export function nextLink(header: string | undefined, base: URL): URL | undefined {
  if (header === undefined) return undefined;
  for (const match of header.matchAll(/<([^>]*)>\s*((?:;\s*[^;,]*)*)/g)) {
    const params = match[2] ?? '';
    if (!/;\s*rel\s*=\s*"?next"?/i.test(params)) continue;
    try {
      return new URL(match[1] ?? '', base);
    } catch {
      return undefined;
    }
  }
  return undefined;
}
