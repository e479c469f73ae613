/**
 * The registry client's HTTP layers alone, around a scripted attempt (no sockets): retries
 * count attempts and stop at non-retryable failures; redirects drop credentials across
 * origins and apply the egress rules to every hop.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EgressGuard } from '../../../src/oci/egress.ts';
import { RegistryEndpoints } from '../../../src/oci/endpoints.ts';
import { RegistryError } from '../../../src/oci/errors.ts';
import type { ErrorTarget } from '../../../src/oci/errors.ts';
import { Deadline, compose } from '../../../src/oci/http-exchange.ts';
import type { Dispatch, Exchange, HttpResponse } from '../../../src/oci/http-exchange.ts';
import { followRedirects } from '../../../src/oci/http-redirect.ts';
import { retry } from '../../../src/oci/http-retry.ts';

const target: ErrorTarget = { operation: 'manifest', registry: 'registry.example', repository: 'acme/model', reference: 'v1' };

function exchange(url: string, extra: Partial<Exchange> = {}): Exchange {
  return {
    url: new URL(url),
    headers: { authorization: 'Bearer secret' },
    maxBytes: 1024,
    target,
    deadline: new Deadline(Date.now() + 60_000),
    attempt: 1,
    redirected: false,
    ...extra,
  };
}

function answer(status: number, url: URL, headers: Record<string, string> = {}): HttpResponse {
  return { status, headers, body: Buffer.alloc(0), url, redirected: false };
}

/** An attempt that answers from a script and records what it was sent. */
function scripted(script: ((sent: Exchange) => HttpResponse)[]): { dispatch: Dispatch; sent: Exchange[] } {
  const sent: Exchange[] = [];
  const dispatch: Dispatch = async (sending) => {
    sent.push({ ...sending, headers: { ...sending.headers } });
    const next = script.shift();
    if (next === undefined) throw new Error('unscripted attempt');
    return next(sending);
  };
  return { dispatch, sent };
}

const retries = retry({ maxRetries: 2, retryBaseDelayMs: 1, retryMaxDelayMs: 1, requestTimeoutMs: 1000, random: () => 0 });

describe('HTTP layers', () => {
  it('retry: a 503 is tried again with the next attempt number; a non-retryable failure is thrown at once', async () => {
    const { dispatch, sent } = scripted([(s) => answer(503, s.url), (s) => answer(200, s.url)]);
    const response = await retries(dispatch)(exchange('https://registry.example/v2/'));
    assert.equal(response.status, 200);
    assert.deepEqual(
      sent.map((s) => s.attempt),
      [1, 2],
    );

    const refused = new RegistryError('EGRESS_DENIED', target, 'refused', { retryable: false });
    let calls = 0;
    await assert.rejects(
      retries(async () => {
        calls++;
        throw refused;
      })(exchange('https://registry.example/v2/')),
      (error) => error === refused,
    );
    assert.equal(calls, 1);
  });

  it('retry: the last answer is returned when the retries run out, or when Retry-After does not fit in the deadline', async () => {
    const { dispatch, sent } = scripted([(s) => answer(500, s.url), (s) => answer(502, s.url), (s) => answer(503, s.url)]);
    assert.equal((await retries(dispatch)(exchange('https://registry.example/v2/'))).status, 503);
    assert.equal(sent.length, 3);

    const late = scripted([(s) => answer(429, s.url, { 'retry-after': '120' })]);
    assert.equal((await retries(late.dispatch)(exchange('https://registry.example/v2/'))).status, 429);
    assert.equal(late.sent.length, 1);
  });

  it('redirects: followed when asked, without Authorization to another origin, refused to an internal address', async () => {
    const endpoints = new RegistryEndpoints([]);
    const layers = compose(followRedirects(endpoints, new EgressGuard(endpoints), 3));
    const { dispatch, sent } = scripted([
      (s) => answer(307, s.url, { location: '/v2/acme/model/blobs/x' }),
      (s) => answer(302, s.url, { location: 'https://storage.example/blob?sig=1' }),
      (s) => answer(200, s.url),
    ]);
    const response = await layers(dispatch)(exchange('https://registry.example/v2/acme/model/manifests/v1', { followRedirects: true }));
    assert.equal(response.status, 200);
    assert.deepEqual(
      sent.map((s) => [s.url.href, s.headers['authorization'], s.redirected]),
      [
        ['https://registry.example/v2/acme/model/manifests/v1', 'Bearer secret', false],
        ['https://registry.example/v2/acme/model/blobs/x', 'Bearer secret', true],
        ['https://storage.example/blob?sig=1', undefined, true],
      ],
    );

    const notAsked = scripted([(s) => answer(302, s.url, { location: 'https://storage.example/' })]);
    assert.equal((await layers(notAsked.dispatch)(exchange('https://registry.example/v2/'))).status, 302);

    const internal = scripted([(s) => answer(302, s.url, { location: 'https://169.254.169.254/latest/meta-data' })]);
    await assert.rejects(layers(internal.dispatch)(exchange('https://registry.example/v2/', { followRedirects: true })), (error) => {
      assert.ok(error instanceof RegistryError);
      assert.equal(error.code, 'EGRESS_DENIED');
      assert.match(error.message, /refusing to connect to 169\.254\.169\.254: 169\.254\.169\.254 is an internal address/);
      return true;
    });
    assert.equal(internal.sent.length, 1);
  });

  it('compose: the first interceptor sees the request first', async () => {
    const { dispatch, sent } = scripted([
      (s) => answer(503, s.url),
      (s) => answer(301, s.url, { location: 'https://mirror.example/' }),
      (s) => answer(200, s.url),
    ]);
    const endpoints = new RegistryEndpoints([]);
    const layers = compose(retries, followRedirects(endpoints, new EgressGuard(endpoints), 3));
    const response = await layers(dispatch)(exchange('https://registry.example/v2/', { followRedirects: true }));
    assert.equal(response.status, 200);
    // The retry starts over at the first URL; the redirect is followed within the second attempt.
    assert.deepEqual(
      sent.map((s) => [s.attempt, s.url.host]),
      [
        [1, 'registry.example'],
        [2, 'registry.example'],
        [2, 'mirror.example'],
      ],
    );
  });
});
