import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseChallenges, parseTokenResponse, selectChallenge, TokenCache, basicAuthorization } from '../../../src/oci/auth.ts';
import { nextLink, parseDescriptor } from '../../../src/oci/client.ts';
import { computeDigest, isDigest, parseDigest, referrersTag, verifyDigest } from '../../../src/oci/digest.ts';
import { RegistryEndpoints } from '../../../src/oci/endpoints.ts';
import { RegistryError, describeTarget, errorBodyCode, redact, statusError } from '../../../src/oci/errors.ts';
import { parseRetryAfter, isRetryableStatus } from '../../../src/oci/http.ts';

const HELLO_SHA256 = 'sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824';

describe('digest', () => {
  it('parses only sha256/sha512 digests of the right length in lowercase hex', () => {
    assert.deepEqual(parseDigest(HELLO_SHA256), { algorithm: 'sha256', hex: HELLO_SHA256.slice(7) });
    assert.equal(parseDigest(`sha512:${'a'.repeat(128)}`)?.algorithm, 'sha512');
    assert.equal(parseDigest('sha256:abc'), undefined);
    assert.equal(parseDigest(HELLO_SHA256.toUpperCase()), undefined);
    assert.equal(parseDigest(`md5:${'a'.repeat(32)}`), undefined);
    assert.equal(parseDigest(`sha512:${'a'.repeat(64)}`), undefined);
    assert.equal(isDigest(42), false);
  });

  it('computes and verifies sha256 and sha512', () => {
    const bytes = Buffer.from('hello');
    assert.equal(computeDigest(bytes), HELLO_SHA256);
    const sha512 = computeDigest(bytes, 'sha512');
    assert.match(sha512, /^sha512:[0-9a-f]{128}$/);
    assert.deepEqual(verifyDigest(bytes, sha512), { ok: true, actual: sha512 });
    const other = verifyDigest(Buffer.from('hellO'), HELLO_SHA256);
    assert.equal(other.ok, false);
    assert.notEqual(other.actual, HELLO_SHA256);
    assert.throws(() => verifyDigest(bytes, 'sha256:nope'), TypeError);
  });

  it('names the referrers tag as the distribution spec does (truncated to 64 hex digits)', () => {
    assert.equal(referrersTag(HELLO_SHA256), `sha256-${HELLO_SHA256.slice(7)}`);
    const sha512 = `sha512:${'ab'.repeat(64)}`;
    assert.equal(referrersTag(sha512), `sha512-${'ab'.repeat(32)}`);
  });
});

describe('WWW-Authenticate parsing', () => {
  it('reads a Docker Hub bearer challenge with a quoted scope', () => {
    const [challenge] = parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"');
    assert.deepEqual(challenge, {
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' },
    });
  });

  it('keeps commas inside quoted values, unescapes backslashes, and splits several challenges', () => {
    const challenges = parseChallenges(
      'Basic realm="a, \\"b\\"", Bearer realm="https://t.example/token", scope="repository:x:pull,push", error=insufficient_scope',
    );
    assert.equal(challenges.length, 2);
    assert.deepEqual(challenges[0], { scheme: 'basic', params: { realm: 'a, "b"' } });
    assert.deepEqual(challenges[1]?.params, { realm: 'https://t.example/token', scope: 'repository:x:pull,push', error: 'insufficient_scope' });
    assert.equal(selectChallenge(challenges)?.scheme, 'bearer');
  });

  it('tolerates odd spacing, case and empty input', () => {
    assert.deepEqual(parseChallenges('  BASIC   Realm = "registry" '), [{ scheme: 'basic', params: { realm: 'registry' } }]);
    assert.deepEqual(parseChallenges(undefined), []);
    assert.deepEqual(parseChallenges(''), []);
    assert.equal(selectChallenge(parseChallenges('Negotiate')), undefined);
  });
});

describe('token answers and the token cache', () => {
  it('reads token or access_token, and defaults expires_in to 60 s', () => {
    assert.deepEqual(parseTokenResponse(Buffer.from('{"token":"t1","expires_in":300}')), { token: 't1', expiresIn: 300 });
    assert.deepEqual(parseTokenResponse(Buffer.from('{"access_token":"t2"}')), { token: 't2', expiresIn: 60 });
    assert.deepEqual(parseTokenResponse(Buffer.from('{"token":"","access_token":"t3","expires_in":-5}')), { token: 't3', expiresIn: 60 });
    assert.equal(parseTokenResponse(Buffer.from('{"expires_in":60}')), undefined);
    assert.equal(parseTokenResponse(Buffer.from('not json')), undefined);
  });

  it('drops a token shortly before it expires', () => {
    let now = 1_000_000;
    const cache = new TokenCache(() => now);
    const key = TokenCache.key('ghcr.io', 'repository:a/b:pull', 'anonymous');
    cache.set(key, 'tok', 60);
    assert.equal(cache.get(key), 'tok');
    now += 47_000;
    assert.equal(cache.get(key), 'tok');
    now += 2_000; // 49 s of 60: inside the 12 s margin
    assert.equal(cache.get(key), undefined);
    cache.set(key, 'long', 3600);
    now += 3600_000 - 31_000;
    assert.equal(cache.get(key), 'long');
    now += 2_000;
    assert.equal(cache.get(key), undefined);
  });

  it('keys tokens by registry, scope and credential identity', () => {
    const cache = new TokenCache();
    cache.set(TokenCache.key('r', 'repository:a:pull', 'anonymous'), 'anon', 60);
    assert.equal(cache.get(TokenCache.key('r', 'repository:a:pull', 'user:alice:x')), undefined);
    assert.equal(cache.get(TokenCache.key('r', 'repository:b:pull', 'anonymous')), undefined);
    assert.equal(cache.get(TokenCache.key('r2', 'repository:a:pull', 'anonymous')), undefined);
    assert.equal(cache.get(TokenCache.key('r', 'repository:a:pull', 'anonymous')), 'anon');
  });

  it('bounds the number of cached tokens', () => {
    const cache = new TokenCache(Date.now, 3);
    for (let i = 0; i < 10; i++) cache.set(`k${i}`, `t${i}`, 60);
    assert.equal(cache.size, 3);
    assert.equal(cache.get('k9'), 't9');
    assert.equal(cache.get('k0'), undefined);
  });

  it('encodes Basic credentials', () => {
    assert.equal(basicAuthorization({ username: 'alice', password: 'p:w' }), `Basic ${Buffer.from('alice:p:w').toString('base64')}`);
  });
});

describe('registry endpoints', () => {
  const endpoints = new RegistryEndpoints([
    { host: 'localhost:5000', insecure: true, ca: undefined },
    { host: 'registry.local', insecure: false, ca: 'PEM-A' },
    { host: 'docker.io', insecure: false, ca: 'PEM-HUB' },
  ]);

  it('serves docker.io at registry-1.docker.io over HTTPS', () => {
    assert.equal(new RegistryEndpoints().baseUrl('docker.io').href, 'https://registry-1.docker.io/');
    assert.equal(new RegistryEndpoints().baseUrl('ghcr.io').href, 'https://ghcr.io/');
    assert.equal(endpoints.caFor('registry-1.docker.io'), 'PEM-HUB');
  });

  it('uses plain HTTP only for hosts configured insecure', () => {
    assert.equal(endpoints.baseUrl('localhost:5000').href, 'http://localhost:5000/');
    assert.equal(endpoints.baseUrl('localhost:5001').href, 'https://localhost:5001/');
    assert.equal(endpoints.isInsecure('registry.local'), false);
  });

  it('applies a port-less entry to every port of that host', () => {
    assert.equal(endpoints.caFor('registry.local:8443'), 'PEM-A');
    assert.equal(endpoints.caFor('REGISTRY.local'), 'PEM-A');
    assert.equal(endpoints.caFor('other.local'), undefined);
  });
});

describe('errors', () => {
  const target = { operation: 'manifest', registry: 'ghcr.io', repository: 'acme/model', reference: HELLO_SHA256 } as const;

  it('names registry, repository and digest, and ends with a hint', () => {
    const error = statusError(target, 404, Buffer.from('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'), {});
    assert.ok(error instanceof RegistryError);
    assert.equal(error.code, 'NOT_FOUND');
    assert.equal(error.registryCode, 'MANIFEST_UNKNOWN');
    assert.match(error.message, /^manifest ghcr\.io\/acme\/model@sha256:2cf2.*MANIFEST_UNKNOWN.*check the digest and the repository name$/);
    assert.equal(statusError(target, 401, Buffer.alloc(0), {}).hint, "add an imagePullSecret or configure the webhook's registry credentials");
    assert.equal(statusError(target, 403, Buffer.alloc(0), {}).code, 'FORBIDDEN');
    assert.equal(statusError(target, 429, Buffer.alloc(0), { 'retry-after': '30' }).code, 'RATE_LIMITED');
    assert.equal(statusError(target, 502, Buffer.alloc(0), {}).code, 'SERVER_ERROR');
    assert.equal(statusError(target, 400, Buffer.alloc(0), {}).code, 'UNEXPECTED_STATUS');
  });

  it('describes each operation', () => {
    assert.equal(describeTarget({ ...target, operation: 'tag', reference: 'v1' }), 'manifest ghcr.io/acme/model:v1');
    assert.equal(describeTarget({ ...target, operation: 'blob' }), `blob ghcr.io/acme/model@${HELLO_SHA256}`);
    assert.equal(describeTarget({ ...target, operation: 'referrers' }), `referrers of ghcr.io/acme/model@${HELLO_SHA256}`);
  });

  it('takes only a specification error code from an error body, never its text (issue 9)', () => {
    assert.equal(errorBodyCode(Buffer.from('<html>')), undefined);
    assert.equal(errorBodyCode(Buffer.from('{"errors":[]}')), undefined);
    assert.equal(errorBodyCode(Buffer.from('{"errors":[{"code":"DENIED","message":"a\\nb"}]}')), 'DENIED');
    assert.equal(errorBodyCode(Buffer.from('{"errors":[{"code":"Authorization: Basic dXNlcjpwYXNz"}]}')), undefined);
    const echo = statusError(
      target,
      403,
      Buffer.from('{"errors":[{"code":"DENIED","message":"you sent Authorization: Basic dXNlcjpwYXNzd29yZA== and token abc"}]}'),
      {},
    );
    assert.doesNotMatch(echo.message, /dXNlc|you sent|token abc/);
    assert.match(echo.message, /answered 403 Forbidden \(DENIED\)/);
    assert.match(echo.diagnostic ?? '', /Basic \[redacted\]/);
    assert.doesNotMatch(echo.diagnostic ?? '', /dXNlc/);
  });

  it('redacts credentials from text bound for the log', () => {
    assert.equal(redact('Authorization: Bearer eyJhbGciOi.x.y and basic dXNlcjpw'), 'Authorization: Bearer [redacted] and basic [redacted]');
    assert.equal(redact('{"token":"abc","access_token":"def","other":"ok"}'), '{"token":"[redacted]","access_token":"[redacted]","other":"ok"}');
    assert.equal(redact('https://user:pass@example.com/x'), 'https://[redacted]@example.com/x');
  });
});

describe('HTTP helpers', () => {
  it('parses Retry-After as seconds or an HTTP date', () => {
    assert.equal(parseRetryAfter('3'), 3000);
    assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6_000);
    assert.equal(parseRetryAfter('soon'), undefined);
    assert.equal(parseRetryAfter(undefined), undefined);
  });

  it('retries only 429 and 5xx (not 501/505)', () => {
    assert.deepEqual([400, 401, 403, 404, 429, 500, 501, 502, 503, 504, 505].filter(isRetryableStatus), [429, 500, 502, 503, 504]);
  });

  it('follows rel="next" links', () => {
    const base = new URL('https://r.example/v2/a/referrers/sha256:x');
    assert.equal(nextLink('</v2/a/referrers/sha256:x?last=b>; rel="next"', base)?.href, 'https://r.example/v2/a/referrers/sha256:x?last=b');
    assert.equal(nextLink('<https://o.example/p>; rel="prev", <https://r.example/q>; rel=next', base)?.href, 'https://r.example/q');
    assert.equal(nextLink(undefined, base), undefined);
  });

  it('validates descriptors', () => {
    assert.deepEqual(parseDescriptor({ mediaType: 'm', digest: HELLO_SHA256, size: 5, artifactType: 'a', annotations: { k: 'v' } }), {
      mediaType: 'm',
      digest: HELLO_SHA256,
      size: 5,
      artifactType: 'a',
      annotations: { k: 'v' },
    });
    assert.equal(parseDescriptor({ mediaType: 'm', digest: 'sha256:x', size: 5 }), undefined);
    assert.equal(parseDescriptor({ mediaType: 'm', digest: HELLO_SHA256, size: -1 }), undefined);
    assert.equal(parseDescriptor({ mediaType: 'm', digest: HELLO_SHA256, size: 1, annotations: { k: 1 } }), undefined);
    assert.equal(parseDescriptor(null), undefined);
  });
});
