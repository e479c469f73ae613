// A minimal OCI distribution client for assertions in e2e tests: fetch a
// manifest, list tags, list referrers. It deliberately does no more than the
// tests need and shares nothing with the webhook's own registry client, so a
// bug there cannot hide itself in both.

import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { RequestOptions } from 'node:https';
import type { Registry } from './registries.ts';

export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

export interface OciDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface OciManifest {
  schemaVersion: 2;
  mediaType: string;
  artifactType?: string;
  config: OciDescriptor;
  layers: OciDescriptor[];
  subject?: OciDescriptor;
  annotations?: Record<string, string>;
}

export interface OciIndex {
  schemaVersion: 2;
  mediaType: string;
  artifactType?: string;
  manifests: OciDescriptor[];
  subject?: OciDescriptor;
  annotations?: Record<string, string>;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** GET/HEAD against a test-bed registry, with its CA and basic auth. */
export function registryRequest(registry: Registry, method: string, path: string, accept?: string): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (accept !== undefined) headers['Accept'] = accept;
    if (registry.auth !== undefined) {
      headers['Authorization'] = `Basic ${Buffer.from(`${registry.auth.username}:${registry.auth.password}`).toString('base64')}`;
    }
    const opts: RequestOptions = { method, headers, timeout: 15_000 };
    if (registry.caPem !== undefined) opts.ca = registry.caPem;
    const req = (registry.tls ? httpsRequest : httpRequest)(new URL(path, registry.url), opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${path}`)));
    req.on('error', reject);
    req.end();
  });
}

function expectOk(answer: HttpAnswer, what: string): void {
  if (answer.status !== 200) throw new Error(`${what}: HTTP ${answer.status}: ${answer.body.toString('utf8').slice(0, 500)}`);
}

export interface FetchedManifest {
  /** Digest of the bytes received (checked against Docker-Content-Digest when sent). */
  digest: string;
  contentType: string;
  bytes: Buffer;
  json: OciManifest | OciIndex;
}

/** Fetches a manifest or index by tag or digest. */
export async function fetchManifest(registry: Registry, repository: string, reference: string): Promise<FetchedManifest> {
  const answer = await registryRequest(registry, 'GET', `/v2/${repository}/manifests/${reference}`, MANIFEST_ACCEPT);
  expectOk(answer, `GET ${registry.host}/${repository}:${reference}`);
  const digest = sha256Digest(answer.body);
  const sent = answer.headers['docker-content-digest'];
  if (typeof sent === 'string' && sent !== digest) throw new Error(`registry says ${sent} but the bytes hash to ${digest}`);
  if (reference.startsWith('sha256:') && reference !== digest) throw new Error(`asked for ${reference}, got bytes hashing to ${digest}`);
  return {
    digest,
    contentType: String(answer.headers['content-type'] ?? ''),
    bytes: answer.body,
    json: JSON.parse(answer.body.toString('utf8')) as OciManifest | OciIndex,
  };
}

/** Whether a tag or digest exists (HEAD). */
export async function manifestExists(registry: Registry, repository: string, reference: string): Promise<boolean> {
  const answer = await registryRequest(registry, 'HEAD', `/v2/${repository}/manifests/${reference}`, MANIFEST_ACCEPT);
  return answer.status === 200;
}

export async function listTags(registry: Registry, repository: string): Promise<string[]> {
  const answer = await registryRequest(registry, 'GET', `/v2/${repository}/tags/list`);
  expectOk(answer, `tags of ${registry.host}/${repository}`);
  const parsed = JSON.parse(answer.body.toString('utf8')) as { tags?: string[] | null };
  return parsed.tags ?? [];
}

export interface ReferrersAnswer {
  status: number;
  /** OCI-Filters-Applied header, when the registry filtered. */
  filtersApplied?: string;
  index?: OciIndex;
}

/** GET /v2/<repo>/referrers/<digest>[?artifactType=...]; 404 means "no referrers API". */
export async function listReferrers(registry: Registry, repository: string, digest: string, artifactType?: string): Promise<ReferrersAnswer> {
  const query = artifactType === undefined ? '' : `?artifactType=${encodeURIComponent(artifactType)}`;
  const answer = await registryRequest(registry, 'GET', `/v2/${repository}/referrers/${digest}${query}`);
  if (answer.status !== 200) return { status: answer.status };
  const filters = answer.headers['oci-filters-applied'];
  return {
    status: 200,
    ...(typeof filters === 'string' ? { filtersApplied: filters } : {}),
    index: JSON.parse(answer.body.toString('utf8')) as OciIndex,
  };
}

/** The tag-schema fallback tag for referrers of a digest: sha256-<hex>. */
export function referrersFallbackTag(digest: string): string {
  return digest.replace(':', '-');
}

/** The cosign v2 signature tag of a digest: sha256-<hex>.sig. */
export function cosignSignatureTag(digest: string): string {
  return `${digest.replace(':', '-')}.sig`;
}
