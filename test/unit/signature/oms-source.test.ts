/**
 * How long an OMS verification is kept (signature/oms-source.ts): PASS_TTL_MS only once the
 * policy's threshold is met, so a result one signer short is asked again after FAIL_TTL_MS.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ModelSignaturePolicy } from '../../../src/signature/oms-policy.ts';
import { thresholdMet } from '../../../src/signature/oms-source.ts';
import type { OmsAuthorityOutcome, OmsVerification } from '../../../src/signature/oms-verify.ts';

const outcome = (name: string, verified: readonly number[], staticResult?: 'pass' | 'fail'): OmsAuthorityOutcome => ({
  name,
  kind: staticResult === undefined ? 'key' : 'static',
  static: staticResult,
  verified,
  failures: verified.length > 0 || staticResult !== undefined ? [] : ['did not verify'],
});
const verification = (authorities: readonly OmsAuthorityOutcome[]): OmsVerification => ({
  signatures: [],
  authorities,
  truncated: false,
  otherBundles: 0,
  problems: [],
  complete: true,
});
const policy = (threshold: number): ModelSignaturePolicy => ({ threshold, authorities: [], location: 'any', layerPath: 'model.sig' });

describe('OMS verification cache lifetime', () => {
  it('is long only when as many authorities as the threshold verified or pass statically', () => {
    const oneOfTwo = verification([outcome('release', [0]), outcome('security', [])]);
    assert.equal(thresholdMet(oneOfTwo, policy(1)), true);
    assert.equal(thresholdMet(oneOfTwo, policy(2)), false, 'one signer short of a threshold of 2');
    assert.equal(thresholdMet(verification([outcome('release', [0]), outcome('exception', [], 'pass')]), policy(2)), true);
    assert.equal(thresholdMet(verification([outcome('release', [0]), outcome('exception', [], 'fail')]), policy(2)), false);
    assert.equal(thresholdMet(verification([outcome('release', [])]), policy(1)), false);
  });
});
