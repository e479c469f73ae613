/**
 * Registry credentials from docker config.json documents (the `.dockerconfigjson` of a
 * kubernetes.io/dockerconfigjson Secret, or the legacy `.dockercfg` form), looked up the
 * way the kubelet's credential keyring does it. Reading Secrets is the caller's job: this
 * module only takes the JSON text.
 */

import { ModelgateError } from '../core/errors.ts';
import { createHash } from 'node:crypto';
import { isPlainObject } from '../core/guards.ts';

/** A user name and password (or a registry token used as password). */
export interface Credential {
  readonly username: string;
  readonly password: string;
  /**
   * Who may be told what was read with it. Absent: everyone (the webhook's own
   * credentials, configured by the cluster admin). A pod's pull secret sets it,
   * so that what it reads is told only to reviews that hold the same credential.
   */
  readonly audience?: Audience;
}

/**
 * Who may be told about content read from a registry: `public` (read without
 * credentials), `shared` (read with the webhook's own credentials), or
 * `pod:<identity>` (read with a pod's pull secret: only for reviews whose pods
 * pull with that same credential).
 */
export type Audience = 'public' | 'shared' | `pod:${string}`;
export const PUBLIC: Audience = 'public';

/** The audience of what a request that carried `credential` read. */
export function audienceOf(credential: Credential | undefined): Audience {
  return credential === undefined ? PUBLIC : (credential.audience ?? 'shared');
}

/** Of two audiences, the narrower: content read partly with a pod's credential is that pod's. */
export function narrower(a: Audience, b: Audience): Audience {
  if (a.startsWith('pod:')) return a;
  if (b.startsWith('pod:')) return b;
  return a === 'shared' || b === 'shared' ? 'shared' : PUBLIC;
}

export interface CredentialProvider {
  /**
   * Credentials for pulling `repository` from `registry` (a registry as in
   * ImageReference.registry: `docker.io`, `ghcr.io`, `localhost:5000`), or undefined for
   * anonymous access.
   */
  credentialsFor(registry: string, repository: string): Promise<Credential | undefined>;
}

/** A config.json document and a name for it in messages (e.g. `secret modelgate/registry-creds`). */
export interface DockerConfigSource {
  readonly name: string;
  readonly text: string;
}

export class DockerConfigError extends ModelgateError<'INVALID_DOCKER_CONFIG'> {
  static readonly codes = { INVALID_DOCKER_CONFIG: {} } as const;
  override readonly name = 'DockerConfigError';
  readonly source: string;
  constructor(source: string, reason: string) {
    super(DockerConfigError.codes, 'INVALID_DOCKER_CONFIG', `docker config ${source}: ${reason}`);
    this.source = source;
  }
}

/** One usable `auths` entry. */
export interface DockerConfigEntry {
  /** The key as written. */
  readonly key: string;
  /** Normalised key: host[:port][/path], without scheme and /v1/ or /v2/. */
  readonly normalized: string;
  readonly host: string;
  /** Path prefix, `` or `/acme/models`. */
  readonly path: string;
  readonly source: string;
  readonly credential: Credential;
}

const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_KEY_HOSTS: ReadonlySet<string> = new Set(['index.docker.io', 'docker.io']);

/**
 * Splits a config.json key the way the kubelet does (pkg/credentialprovider keyring):
 * an optional `http://`/`https://` scheme is dropped, a path starting with `/v1/` or `/v2/`
 * loses that prefix, and a remaining path of `` or `/` means the whole host. The host is
 * lowercased; Docker Hub's legacy key `https://index.docker.io/v1/` (and `index.docker.io`)
 * stands for docker.io.
 */
export function normalizeConfigKey(key: string): { readonly host: string; readonly path: string } | undefined {
  let rest = key.trim();
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(rest);
  if (scheme !== null) rest = rest.slice(scheme[0].length);
  if (rest === '') return undefined;
  const slash = rest.indexOf('/');
  let host = (slash === -1 ? rest : rest.slice(0, slash)).toLowerCase();
  let path = slash === -1 ? '' : rest.slice(slash);
  // Query strings and fragments are not part of a registry key.
  path = path.replace(/[?#].*$/, '');
  if (path.startsWith('/v1/') || path.startsWith('/v2/')) path = path.slice(3);
  if (path === '/') path = '';
  if (host === '') return undefined;
  if (DOCKER_HUB_KEY_HOSTS.has(host)) host = DOCKER_HUB;
  return { host, path };
}

/** `host` → `[parts split at dots, port]`; the port is `` when absent. */
function splitHost(host: string): { readonly parts: readonly string[]; readonly port: string } {
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    const port = close !== -1 && host[close + 1] === ':' ? host.slice(close + 2) : '';
    return { parts: [close === -1 ? host : host.slice(0, close + 1)], port };
  }
  const colon = host.lastIndexOf(':');
  return colon === -1 ? { parts: host.split('.'), port: '' } : { parts: host.slice(0, colon).split('.'), port: host.slice(colon + 1) };
}

/** Shell-style match of one host label: `*` any run of characters, `?` one character (filepath.Match, without classes). */
function matchLabel(pattern: string, label: string): boolean {
  if (!pattern.includes('*') && !pattern.includes('?')) return pattern === label;
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '[^.]*')
    .replace(/\?/g, '[^.]');
  return new RegExp(`^${source}$`).test(label);
}

/**
 * Whether a config key matches `registry/repository`, as the kubelet's URLsMatch does: same
 * port, same number of host labels, each label matching its glob (so `*.example.com`
 * matches `a.example.com` but neither `example.com` nor `a.b.example.com`), and the key's
 * path a prefix of `/repository` (a plain string prefix, as in the kubelet).
 */
export function configKeyMatches(key: { readonly host: string; readonly path: string }, registry: string, repository: string): boolean {
  const wanted = splitHost(normalizeRegistry(registry));
  const glob = splitHost(key.host);
  if (glob.port !== wanted.port) return false;
  if (glob.parts.length !== wanted.parts.length) return false;
  if (!`/${repository}`.startsWith(key.path)) return false;
  return glob.parts.every((part, index) => matchLabel(part, wanted.parts[index] ?? ''));
}

function normalizeRegistry(registry: string): string {
  const lower = registry.toLowerCase();
  return DOCKER_HUB_KEY_HOSTS.has(lower) || lower === 'registry-1.docker.io' ? DOCKER_HUB : lower;
}

function decodeAuth(auth: string): Credential | undefined {
  const decoded = Buffer.from(auth.trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * The usable entries of one config.json text, and notes on the entries that were skipped.
 * Accepts `{"auths": {...}}` and the legacy `.dockercfg` map. Throws DockerConfigError when
 * the text is not a JSON object; messages never contain secrets.
 */
export function parseDockerConfig(source: DockerConfigSource): { readonly entries: DockerConfigEntry[]; readonly notes: string[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(source.text);
  } catch {
    throw new DockerConfigError(source.name, 'is not valid JSON');
  }
  if (!isPlainObject(parsed)) throw new DockerConfigError(source.name, 'is not a JSON object');
  const auths = 'auths' in parsed ? parsed['auths'] : parsed;
  if (auths === null || auths === undefined) return { entries: [], notes: [] };
  if (!isPlainObject(auths)) throw new DockerConfigError(source.name, '`auths` is not an object');
  const entries: DockerConfigEntry[] = [];
  const notes: string[] = [];
  for (const [key, value] of Object.entries(auths)) {
    const where = `${source.name}: entry ${JSON.stringify(key)}`;
    const normalized = normalizeConfigKey(key);
    if (normalized === undefined) {
      notes.push(`${where} skipped: not a registry host`);
      continue;
    }
    if (!isPlainObject(value)) {
      notes.push(`${where} skipped: not an object`);
      continue;
    }
    const hasIdentityToken = typeof value['identitytoken'] === 'string' && value['identitytoken'] !== '';
    let credential: Credential | undefined;
    // As in the kubelet, `auth` (base64 user:password) wins over username/password.
    if (typeof value['auth'] === 'string' && value['auth'] !== '') {
      credential = decodeAuth(value['auth']);
      if (credential === undefined) {
        notes.push(`${where} skipped: \`auth\` is not base64 of user:password`);
        continue;
      }
    } else if (typeof value['username'] === 'string' && value['username'] !== '' && typeof value['password'] === 'string') {
      credential = { username: value['username'], password: value['password'] };
    }
    if (credential === undefined) {
      notes.push(
        hasIdentityToken
          ? `${where} skipped: identitytoken (OAuth refresh token) credentials are not supported; use auth or username/password`
          : `${where} skipped: no auth or username/password`,
      );
      continue;
    }
    if (hasIdentityToken) notes.push(`${where}: identitytoken ignored, using the user name and password`);
    const path = normalized.path;
    entries.push({
      key,
      normalized: `${normalized.host}${path}`,
      host: normalized.host,
      path,
      source: source.name,
      credential,
    });
  }
  return { entries, notes };
}

/**
 * A CredentialProvider over docker config.json documents, merged in the order given (e.g.
 * the webhook's Secret first, then the pod's imagePullSecrets). For a lookup the matching
 * keys are ordered as the kubelet orders its keyring (reverse lexicographic order of the
 * normalised key, which puts `host/longer/path` before `host/path` before `host`, and a
 * literal host before a wildcard); among identical keys the earlier document wins. The
 * first match is returned.
 */
export class DockerConfigCredentialProvider implements CredentialProvider {
  /** All usable entries, in lookup order. */
  readonly entries: readonly DockerConfigEntry[];
  /** Skipped or partly used entries, for logging (no secrets). */
  readonly notes: readonly string[];

  constructor(sources: readonly (DockerConfigSource | string)[]) {
    const all: DockerConfigEntry[] = [];
    const notes: string[] = [];
    sources.forEach((source, index) => {
      const named = typeof source === 'string' ? { name: `#${index + 1}`, text: source } : source;
      const parsed = parseDockerConfig(named);
      all.push(...parsed.entries);
      notes.push(...parsed.notes);
    });
    // Array.prototype.sort is stable: identical keys keep the order of the documents.
    this.entries = all.sort((a, b) => (a.normalized < b.normalized ? 1 : a.normalized > b.normalized ? -1 : 0));
    this.notes = notes;
  }

  /** The entry that supplies credentials for `registry/repository`, if any. */
  match(registry: string, repository: string): DockerConfigEntry | undefined {
    return this.entries.find((entry) => configKeyMatches(entry, registry, repository));
  }

  credentialsFor(registry: string, repository: string): Promise<Credential | undefined> {
    return Promise.resolve(this.match(registry, repository)?.credential);
  }
}

/**
 * A stable, non-secret identity of a credential for cache keys: the user name and a hash
 * of the password, so that a rotated password does not reuse a token obtained with the old
 * one. `anonymous` without credentials.
 */
export function credentialIdentity(credential: Credential | undefined): string {
  if (credential === undefined) return 'anonymous';
  const digest = createHash('sha256').update(credential.username).update('\u0000').update(credential.password).digest('hex');
  return `user:${credential.username}:${digest.slice(0, 16)}`;
}
