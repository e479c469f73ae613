/**
 * Orderings of concurrent requests that real servers produce only by chance. The registry
 * and token service here are a scripted sender so that each ordering happens every run; the
 * same flows against a real token server and registry are in registry-auth.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Authenticator } from '../../../src/oci/auth.ts';
import type { RequestSender } from '../../../src/oci/auth.ts';
import { RegistryEndpoints } from '../../../src/oci/endpoints.ts';
import { Deadline } from '../../../src/oci/http.ts';
import type { HttpRequest, HttpResponse } from '../../../src/oci/http.ts';

const REGISTRY = 'registry.test';
const CHALLENGE = `Bearer realm="https://auth.registry.test/token",service="${REGISTRY}"`;

/** A registry that accepts the tokens it has issued, and lets a test hold any of its answers. */
class ScriptedRegistry implements RequestSender {
  readonly valid = new Set<string>();
  tokenRequests = 0;
  manifestRequests = 0;
  /** Answers to manifest requests wait for these, by request number (1-based). */
  readonly holds = new Map<number, Promise<void>>();
  readonly issued: Promise<void>;
  private markIssued: () => void = () => undefined;

  constructor() {
    this.issued = new Promise((resolve) => {
      this.markIssued = resolve;
    });
  }

  async send(request: HttpRequest): Promise<HttpResponse> {
    const url = request.url;
    if (url.host === 'auth.registry.test') {
      this.tokenRequests++;
      const token = `token-${this.tokenRequests}`;
      this.valid.add(token);
      this.markIssued();
      return answer(200, url, { 'content-type': 'application/json' }, JSON.stringify({ token, expires_in: 300 }));
    }
    const number = ++this.manifestRequests;
    await this.holds.get(number);
    const authorization = request.headers['authorization'];
    if (authorization !== undefined && this.valid.has(authorization.replace(/^Bearer /, ''))) return answer(200, url, {}, '{}');
    return answer(401, url, { 'www-authenticate': CHALLENGE }, '');
  }
}

function answer(status: number, url: URL, headers: Record<string, string>, body: string): HttpResponse {
  return { status, url, headers, body: Buffer.from(body), redirected: false };
}

function manifestRequest(): HttpRequest {
  return {
    url: new URL(`https://${REGISTRY}/v2/acme/model/manifests/sha256:${'a'.repeat(64)}`),
    headers: {},
    maxBytes: 1024,
    target: { operation: 'manifest', registry: REGISTRY, repository: 'acme/model', reference: `sha256:${'a'.repeat(64)}` },
    deadline: new Deadline(Date.now() + 10_000),
  };
}

describe('authentication under concurrency', () => {
  it('a 401 that arrives after another request got the token uses that token, not a second one', async () => {
    const registry = new ScriptedRegistry();
    // The third request's 401 comes back only once the first token was issued (and its fetch settled).
    registry.holds.set(
      3,
      registry.issued.then(() => new Promise((resolve) => setImmediate(resolve))),
    );
    const auth = new Authenticator({ transport: registry, endpoints: new RegistryEndpoints(), credentials: undefined });
    const results = await Promise.all([auth.send(manifestRequest()), auth.send(manifestRequest()), auth.send(manifestRequest())]);
    assert.deepEqual(
      results.map((r) => r.response.status),
      [200, 200, 200],
    );
    assert.equal(registry.tokenRequests, 1);
  });

  it('a refused cached token is dropped, unless another request has replaced it already', async () => {
    const registry = new ScriptedRegistry();
    const auth = new Authenticator({ transport: registry, endpoints: new RegistryEndpoints(), credentials: undefined });
    assert.equal((await auth.send(manifestRequest())).response.status, 200);
    assert.equal(registry.tokenRequests, 1);
    // The registry revokes the token: the next request is refused, gets a new one and succeeds.
    registry.valid.clear();
    assert.equal((await auth.send(manifestRequest())).response.status, 200);
    assert.equal(registry.tokenRequests, 2);
    // Both revoked at once for two concurrent requests: one new token serves both.
    registry.valid.clear();
    const both = await Promise.all([auth.send(manifestRequest()), auth.send(manifestRequest())]);
    assert.deepEqual(
      both.map((r) => r.response.status),
      [200, 200],
    );
    assert.equal(registry.tokenRequests, 3);
  });
});
