import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { signatureFinding } from '../../../src/signature/finding.ts';
import type { AuthorityOutcome, SignatureResult } from '../../../src/signature/verify.ts';

const base: SignatureResult = {
  passed: false,
  threshold: 1,
  passedCount: 0,
  authorities: [{ name: 'release-key', kind: 'key', passed: false, reason: 'no signature found', signature: undefined }],
  signatures: 0,
  truncated: false,
  problems: [],
  complete: true,
  cacheable: true,
  summary: 'signatures: 0 of 1 authority passed, threshold 1 not met\n- release-key (key): failed: no signature found',
};
const policy = { name: 'models', mode: 'enforce', onError: 'deny' } as const;

describe('signatureFinding', () => {
  it('no finding when the threshold is met by signatures', () => {
    const passed = { ...base, passed: true, passedCount: 1, authorities: [{ ...(base.authorities[0] as AuthorityOutcome), passed: true }] };
    assert.equal(signatureFinding(policy, passed), undefined);
  });

  it('a verdict denies in the policy mode, with the summary', () => {
    const finding = signatureFinding(policy, base);
    assert.equal(finding?.mode, 'enforce');
    assert.equal(finding?.rule, 'signatures');
    assert.match(finding?.reason ?? '', /^the artifact is not signed as spec\.signatures requires\nsignatures: 0 of 1/);
    assert.equal(signatureFinding({ ...policy, mode: 'warn' }, base)?.mode, 'warn');
  });

  it('an incomplete result follows onError', () => {
    const incomplete = { ...base, complete: false, cacheable: false, problems: ['listing the sigstore bundles (referrers) failed: timeout'] };
    assert.equal(signatureFinding(policy, incomplete)?.mode, 'enforce');
    assert.equal(signatureFinding({ ...policy, onError: 'warn' }, incomplete)?.mode, 'warn');
    assert.equal(signatureFinding({ ...policy, onError: 'allow' }, incomplete)?.mode, 'audit');
    assert.match(signatureFinding(policy, incomplete)?.reason ?? '', /could not be checked fully: listing the sigstore bundles/);
  });

  it('a pass that needed a static exception is recorded for audit', () => {
    const exception: SignatureResult = {
      ...base,
      passed: true,
      passedCount: 1,
      authorities: [
        base.authorities[0] as AuthorityOutcome,
        { name: 'break-glass', kind: 'static', passed: true, reason: 'static pass', signature: undefined },
      ],
    };
    const finding = signatureFinding(policy, exception);
    assert.equal(finding?.mode, 'audit');
    assert.match(finding?.reason ?? '', /admitted by the static exception break-glass: only 0 of the 1 required authority verified a signature/);
  });
});
