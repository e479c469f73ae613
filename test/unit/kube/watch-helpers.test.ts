import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiException } from '@kubernetes/client-node';
import { shutdownDelayOption } from '../../../src/cli/serve.ts';
import { WATCH_WORDING, describeKubeError } from '../../../src/kube/api-errors.ts';
import { backoffDelay } from '../../../src/kube/backoff.ts';

describe('watch retries and serve options', () => {
  it('backs off exponentially with jitter, up to the maximum', () => {
    const retry = { initialMs: 500, maxMs: 30_000 };
    const mid = (failures: number): number => backoffDelay(failures, retry, () => 0.5);
    assert.deepEqual([1, 2, 3, 4, 10, 50].map(mid), [500, 1000, 2000, 4000, 30_000, 30_000]);
    assert.equal(
      backoffDelay(1, retry, () => 0),
      400,
    );
    assert.equal(
      backoffDelay(1, retry, () => 0.999999),
      600,
    );
  });

  it('describes API errors by status, with a hint for 403', () => {
    assert.equal(describeKubeError(new ApiException(500, 'boom', {}, {}), WATCH_WORDING), 'HTTP 500');
    assert.match(describeKubeError(new ApiException(403, 'Forbidden', {}, {}), WATCH_WORDING), /HTTP 403 \(forbidden: check the RBAC/);
    assert.equal(describeKubeError(Object.assign(new Error('Gone'), { statusCode: 410 }), WATCH_WORDING), 'HTTP 410');
    assert.equal(describeKubeError(new Error('connect ECONNREFUSED 127.0.0.1:1\nmore'), WATCH_WORDING), 'connect ECONNREFUSED 127.0.0.1:1');
    assert.equal(describeKubeError('text', WATCH_WORDING), 'text');
  });

  it('describes API errors for Events and pull Secrets by status alone, other errors by their whole message', () => {
    assert.equal(describeKubeError(new ApiException(403, 'Forbidden', {}, {})), 'HTTP 403');
    assert.equal(describeKubeError({ code: 404 }), 'HTTP 404');
    assert.equal(describeKubeError(new Error('connect ECONNREFUSED 127.0.0.1:1\nmore')), 'connect ECONNREFUSED 127.0.0.1:1\nmore');
    assert.equal(describeKubeError('text'), 'text');
  });

  it('--shutdown-delay takes seconds', () => {
    assert.equal(shutdownDelayOption(undefined), 0);
    assert.equal(shutdownDelayOption('5'), 5000);
    assert.equal(shutdownDelayOption('2.5s'), 2500);
    assert.throws(() => shutdownDelayOption('-1'), /--shutdown-delay must be seconds/);
    assert.throws(() => shutdownDelayOption('soon'), /--shutdown-delay must be seconds/);
    assert.throws(() => shutdownDelayOption('301'), /--shutdown-delay must be seconds/);
  });
});
