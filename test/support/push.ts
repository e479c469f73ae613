/**
 * Pushes test content through the distribution API (monolithic blob uploads: POST then
 * PUT ?digest=, and manifest PUTs), as any client would, so that the registry under test
 * stores exactly the bytes the test built.
 */

import { Agent, request } from 'undici';
import type { TestBlob, TestManifest } from './artifacts.ts';

export interface PushTarget {
  /** `http://127.0.0.1:PORT` or `https://…`. */
  readonly url: string;
  /** CA to trust for an HTTPS registry. */
  readonly ca?: string;
  /** The Authorization header to send for a repository (push and pull), if any. */
  readonly authorization?: (repository: string) => Promise<string | undefined> | string | undefined;
}

export function basicAuthorization(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

const agents = new Map<string, Agent>();

function agentFor(ca: string | undefined): Agent {
  const key = ca ?? '';
  let agent = agents.get(key);
  if (agent === undefined) {
    agent = new Agent(ca === undefined ? {} : { connect: { ca } });
    agents.set(key, agent);
  }
  return agent;
}

/** Closes the push helpers' connections (call in an after() hook). */
export async function closePushAgents(): Promise<void> {
  const all = [...agents.values()];
  agents.clear();
  await Promise.all(all.map((agent) => agent.close()));
}

async function headers(target: PushTarget, repository: string, extra: Record<string, string>): Promise<Record<string, string>> {
  const authorization = await target.authorization?.(repository);
  return authorization === undefined ? extra : { ...extra, authorization };
}

async function expectStatus(what: string, response: Awaited<ReturnType<typeof request>>, statuses: readonly number[]): Promise<void> {
  if (statuses.includes(response.statusCode)) {
    await response.body.dump();
    return;
  }
  const text = await response.body.text();
  throw new Error(`${what}: HTTP ${response.statusCode}: ${text.slice(0, 500)}`);
}

export async function pushBlob(target: PushTarget, repository: string, blob: TestBlob): Promise<void> {
  const dispatcher = agentFor(target.ca);
  const start = await request(`${target.url}/v2/${repository}/blobs/uploads/`, {
    method: 'POST',
    dispatcher,
    headers: await headers(target, repository, { 'content-length': '0' }),
  });
  const location = start.headers['location'];
  await expectStatus(`start upload of ${blob.digest} to ${repository}`, start, [202]);
  if (typeof location !== 'string') throw new Error('upload without Location');
  const uploadUrl = new URL(location, target.url);
  uploadUrl.searchParams.set('digest', blob.digest);
  const put = await request(uploadUrl, {
    method: 'PUT',
    dispatcher,
    body: blob.bytes,
    headers: await headers(target, repository, { 'content-type': 'application/octet-stream', 'content-length': String(blob.bytes.length) }),
  });
  await expectStatus(`upload of ${blob.digest} to ${repository}`, put, [201]);
}

/** PUTs raw manifest bytes under a tag or digest. */
export async function putManifest(target: PushTarget, repository: string, reference: string, mediaType: string, bytes: Buffer): Promise<void> {
  const response = await request(`${target.url}/v2/${repository}/manifests/${reference}`, {
    method: 'PUT',
    dispatcher: agentFor(target.ca),
    body: bytes,
    headers: await headers(target, repository, { 'content-type': mediaType, 'content-length': String(bytes.length) }),
  });
  await expectStatus(`manifest ${reference} to ${repository}`, response, [201]);
}

/** Pushes a manifest (its blobs, and for an index its child manifests, first) by digest, and under `tag` if given. */
export async function pushManifest(target: PushTarget, repository: string, manifest: TestManifest, tag?: string): Promise<void> {
  for (const child of manifest.children) await pushManifest(target, repository, child);
  for (const item of manifest.blobs) await pushBlob(target, repository, item);
  await putManifest(target, repository, manifest.digest, manifest.mediaType, manifest.bytes);
  if (tag !== undefined) await putManifest(target, repository, tag, manifest.mediaType, manifest.bytes);
}
