/**
 * Attestations through the engine's check over the in-memory FakeRegistry, in the layouts cosign
 * writes (cosign v3: a bundle referrer annotated with its predicate type; cosign v2: DSSE
 * envelopes as layers of the `.att` tag), signed here with local keys. The real cosign runs are
 * test/e2e/attestations.test.ts; these cover what cosign will not produce: lying annotations,
 * rewritten referrer subjects, garbage envelopes, policies sharing a cached result.
 */
import assert from 'node:assert/strict';
import { sign } from 'node:crypto';
import { describe, it } from 'node:test';
import { dsse } from '@sigstore/core';
import { REQUIREMENT_BUDGET, judgeConditions, newConditionSpend } from '../../../src/attestation/conditions.ts';
import { DEFAULT_STEP_BUDGET } from '../../../src/cel/evaluate.ts';
import { CachedAttestationVerifier } from '../../../src/attestation/source.ts';
import { FAIL_TTL_MS } from '../../../src/signature/verifier-cache.ts';
import { verifyAttestations } from '../../../src/attestation/verify.ts';
import type { AttestationResult } from '../../../src/attestation/verify.ts';
import { attestationCheck } from '../../../src/engine/checks/attestations.ts';
import type { RuleResult } from '../../../src/engine/result.ts';
import { PolicyLoadError, policySetFromTexts } from '../../../src/policy/load.ts';
import type { ModelPolicy } from '../../../src/policy/types.ts';
import { parseReference } from '../../../src/reference/parse.ts';
import { DEFAULT_DISCOVERY_LIMITS } from '../../../src/signature/policy-schema.ts';
import { TrustedRoots } from '../../../src/signature/trust.ts';
import { OCI_MANIFEST } from '../../support/artifacts.ts';
import { FakeRegistry } from '../../support/fake-registry.ts';
import { BUNDLE_TYPE, bundleSignature } from '../../support/sigstore/cosign.ts';
import type { Signer } from '../../support/sigstore/cosign.ts';
import { createTestPki, newEcKey, publicPem } from '../../support/sigstore/pki.ts';
import { configDocument, modelPolicy } from '../../support/policies.ts';

const SLSA = 'https://slsa.dev/provenance/v1';
const BOM = 'https://cyclonedx.org/bom';
const BUILDER = 'https://ci.acme.example/train';
const locator = { registry: 'registry.test', repository: 'acme/model' };
const trustedRoots = TrustedRoots.fromSettings();
const releaseKey = newEcKey();
const otherKey = newEcKey();
const signer = (pair = releaseKey): Signer => ({ kind: 'key', privateKey: pair.privateKey, publicKey: pair.publicKey });
const object = { namespace: 'team-a', name: 'llm', kind: 'Pod' };

function statement(digest: string, predicateType = SLSA, predicate: unknown = { runDetails: { builder: { id: BUILDER } } }): Buffer {
  const [algorithm, hex] = digest.split(':') as [string, string];
  return Buffer.from(
    JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'acme/model', digest: { [algorithm]: hex } }], predicateType, predicate }),
  );
}

/** A cosign v3 attestation referrer of `subject`, annotated as cosign annotates it (unless told otherwise). */
function attachBundle(registry: FakeRegistry, subject: string, payload: Buffer, annotated: string | undefined = SLSA, by: Signer = signer()): void {
  const layer = registry.pushBlob(Buffer.from(bundleSignature(by, payload)), BUNDLE_TYPE);
  const config = registry.pushBlob(Buffer.from('{}'), 'application/vnd.oci.empty.v1+json');
  registry.pushManifest({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: BUNDLE_TYPE,
    config,
    layers: [layer],
    ...(annotated === undefined ? {} : { annotations: { 'dev.sigstore.bundle.predicateType': annotated } }),
    subject: { mediaType: OCI_MANIFEST, digest: subject, size: 0 },
  });
}

/** The cosign v2 `.att` manifest of `subject`, one DSSE envelope (JSON bytes) per layer. */
function attachAtt(registry: FakeRegistry, subject: string, envelopes: readonly Buffer[], predicateType = SLSA): void {
  const layers = envelopes.map((bytes) =>
    registry.pushBlob(bytes, 'application/vnd.dsse.envelope.v1+json', { 'dev.cosignproject.cosign/signature': '', predicateType }),
  );
  const config = registry.pushBlob(Buffer.from('{"architecture":"","os":""}'), 'application/vnd.oci.image.config.v1+json');
  registry.pushManifest({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers }, `${subject.replace(':', '-')}.att`);
}

function envelope(payload: Buffer, pair = releaseKey): Buffer {
  const payloadType = 'application/vnd.in-toto+json';
  const sig = sign('sha256', dsse.preAuthEncoding(payloadType, payload), pair.privateKey);
  return Buffer.from(JSON.stringify({ payloadType, payload: payload.toString('base64'), signatures: [{ keyid: '', sig: sig.toString('base64') }] }));
}

function policy(name: string, attestations: readonly Record<string, unknown>[]): ModelPolicy {
  const [loaded] = policySetFromTexts([{ source: 'p.yaml', text: modelPolicy(name, { attestations }) }]).policies;
  assert.ok(loaded?.attestations !== undefined);
  return loaded;
}

function requirement(conditions: readonly Record<string, unknown>[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'provenance',
    predicateType: SLSA,
    authorities: [{ name: 'release', key: publicPem(releaseKey.publicKey), tlog: 'optional' }],
    conditions,
    ...extra,
  };
}

const builderIs = (id: string) => ({ expression: `predicate.runDetails.builder.id == "${id}"`, message: 'not built by the release pipeline' });

async function judge(registry: FakeRegistry, digest: string, modelPolicyValue: ModelPolicy, at = object): Promise<readonly RuleResult[]> {
  const config = modelPolicyValue.attestations;
  assert.ok(config !== undefined);
  const result = await verifyAttestations({ policy: config, registry, locator, digest, deadline: Date.now() + 10_000, trustedRoots });
  return attestationCheck.judge(modelPolicyValue, config, new Map([[config, result]]), parseReference(`registry.test/acme/model@${digest}`), at);
}

function only(results: readonly RuleResult[]): RuleResult {
  assert.equal(results.length, 1, JSON.stringify(results));
  return results[0] as RuleResult;
}

/** Six verified statements of one digest, each with 95 numbers for a costly condition, and the requirement of `expression`. */
async function costlyStatements(expression: string) {
  const registry = new FakeRegistry();
  const digest = registry.pushArtifact();
  const xs = Array.from({ length: 95 }, (_, index) => index);
  for (let index = 0; index < 6; index++) attachBundle(registry, digest, statement(digest, SLSA, { xs, index }));
  const config = policy('p', [requirement([{ expression }])]).attestations;
  assert.ok(config !== undefined);
  const requirementValue = config.requirements[0];
  assert.ok(requirementValue !== undefined);
  const result = await verifyAttestations({ policy: config, registry, locator, digest, deadline: Date.now() + 10_000, trustedRoots });
  const [requirementResult] = result.requirements;
  assert.ok(requirementResult !== undefined);
  return { requirementValue, requirementResult, digest };
}

describe('attestations (spec.attestations)', () => {
  it('a verified v3 bundle and a verified v2 envelope whose conditions hold pass, listing what was found', async () => {
    const registry = new FakeRegistry();
    const digest = registry.pushArtifact();
    attachBundle(registry, digest, statement(digest));
    attachAtt(registry, digest, [envelope(statement(digest))]);
    const result = only(await judge(registry, digest, policy('p', [requirement([builderIs(BUILDER)])])));
    assert.equal(result.status, 'pass', result.reason);
    assert.match(result.reason, /^attestation provenance \(https:\/\/slsa\.dev\/provenance\/v1\): passed: 1 of 1 required authority satisfied \(release\)/);
    assert.match(
      result.reason,
      /- bundle sha256:[0-9a-f]{12}… \(https:\/\/slsa\.dev\/provenance\/v1\): verified by release\n {2}- predicate\.runDetails\.builder\.id == "https:\/\/ci\.acme\.example\/train" → true/,
    );
    assert.match(result.reason, /- sha256-[0-9a-f]{12}….att layer 1 \(https:\/\/slsa\.dev\/provenance\/v1\): verified by release/);
  });

  it('a false condition denies with its message; an error names the expression', async () => {
    const registry = new FakeRegistry();
    const digest = registry.pushArtifact();
    attachBundle(registry, digest, statement(digest));
    const result = only(await judge(registry, digest, policy('p', [requirement([builderIs('https://other'), { expression: 'predicate.nosuch == 1' }])])));
    assert.equal(result.status, 'fail');
    assert.match(
      result.reason,
      /verified, but its conditions do not hold \(0 of 1 required authority passed\): not built by the release pipeline; the condition predicate\.nosuch == 1 could not be evaluated: field not found: nosuch/,
    );
    assert.match(result.fix ?? '', /fix the condition/);
  });

  it('never evaluates a statement whose predicate type differs, even when the annotation claims the wanted one', async () => {
    const registry = new FakeRegistry();
    const digest = registry.pushArtifact();
    attachBundle(registry, digest, statement(digest, BOM), SLSA);
    const result = only(await judge(registry, digest, policy('p', [requirement([builderIs(BUILDER)])])));
    assert.equal(result.status, 'fail');
    assert.match(result.reason, /not verified: predicate type https:\/\/cyclonedx\.org\/bom, not https:\/\/slsa\.dev\/provenance\/v1/);
    assert.doesNotMatch(result.reason, /→/);
  });

  it('reads a referrer without a predicate-type annotation; skips one annotated with another type', async () => {
    const registry = new FakeRegistry();
    const digest = registry.pushArtifact();
    attachBundle(registry, digest, statement(digest), undefined);
    assert.equal(only(await judge(registry, digest, policy('p', [requirement([builderIs(BUILDER)])]))).status, 'pass');
    const hidden = new FakeRegistry();
    const other = hidden.pushArtifact();
    attachBundle(hidden, other, statement(other), BOM);
    const result = only(await judge(hidden, other, policy('p', [requirement([])])));
    assert.equal(result.status, 'fail');
    assert.match(result.reason, /no attestation found/);
    assert.equal(hidden.requests.blob, 0, 'the mislabelled bundle is not even read');
  });

  it('refuses a statement about another digest under a referrer whose (unsigned) subject was rewritten', async () => {
    const registry = new FakeRegistry();
    const digest = registry.pushArtifact();
    const other = registry.pushArtifact('other weights');
    attachBundle(registry, digest, statement(other));
    const result = only(await judge(registry, digest, policy('p', [requirement([builderIs(BUILDER)])])));
    assert.equal(result.status, 'fail');
    assert.match(result.reason, /it is about sha256:[0-9a-f]{12}…, not the admitted sha256:/);
    assert.doesNotMatch(result.reason, /→/);
  });

  it('refuses another signer, a malformed envelope and a payload that is not a statement, none evaluated', async () => {
    const registry = new FakeRegistry();
    const digest = registry.pushArtifact();
    attachAtt(registry, digest, [envelope(statement(digest), otherKey), Buffer.from('{"payloadType": 1'), envelope(Buffer.from('not json'))]);
    const result = only(await judge(registry, digest, policy('p', [requirement([builderIs(BUILDER)])])));
    assert.equal(result.status, 'fail');
    assert.match(
      result.reason,
      /layer 1 \(https:\/\/slsa\.dev\/provenance\/v1\): not verified: no authority verified it \(release: the signature does not verify with release's key/,
    );
    assert.match(result.reason, /layer 2 \(\(unreadable\)\): not verified: unreadable: the DSSE envelope/);
    assert.match(result.reason, /layer 3 \(\(unreadable\)\): not verified: unreadable: the in-toto statement/);
    assert.doesNotMatch(result.reason, /→/);
  });

  it('threshold: each authority needs a statement of its own that satisfies the conditions; a static pass counts', async () => {
    const registry = new FakeRegistry();
    const digest = registry.pushArtifact();
    attachBundle(registry, digest, statement(digest));
    attachBundle(registry, digest, statement(digest, SLSA, { runDetails: { builder: { id: 'https://other' } } }), SLSA, signer(otherKey));
    const authorities = [
      { name: 'release', key: publicPem(releaseKey.publicKey), tlog: 'optional' },
      { name: 'auditor', key: publicPem(otherKey.publicKey), tlog: 'optional' },
    ];
    const two = only(await judge(registry, digest, policy('p', [requirement([builderIs(BUILDER)], { authorities, threshold: 2 })])));
    assert.equal(two.status, 'fail');
    assert.match(two.reason, /1 of 2 required authorities passed/);
    const exception = policy('q', [
      requirement([builderIs(BUILDER)], { authorities: [authorities[0], { name: 'break-glass', static: 'pass' }], threshold: 2 }),
    ]);
    assert.equal(only(await judge(registry, digest, exception)).status, 'pass');
  });

  it('conditions that read object are evaluated for each admitted object', async () => {
    const registry = new FakeRegistry();
    const digest = registry.pushArtifact();
    attachBundle(registry, digest, statement(digest));
    const perObject = policy('p', [requirement([{ expression: 'object.namespace == "team-a" && object.name == "llm"' }])]);
    assert.equal(only(await judge(registry, digest, perObject)).status, 'pass');
    assert.equal(only(await judge(registry, digest, perObject, { ...object, namespace: 'team-b' })).status, 'fail');
  });

  it('all the conditions of a requirement share one budget per review: many costly statements cannot multiply it', async () => {
    // Six statements whose condition costs 95 × 96 = 9,120 steps each: four fit in 40,000 steps, the fifth runs out, the sixth is not run.
    const { requirementValue, requirementResult, digest } = await costlyStatements('predicate.xs.all(a, predicate.xs.all(b, a != b || a == b))');
    // Steps only (a generous time limit): the time limit is the backstop of a slow machine.
    const verdict = judgeConditions(
      requirementValue,
      requirementResult,
      { ...locator, digest },
      object,
      { evaluation: { steps: DEFAULT_STEP_BUDGET, milliseconds: 60_000 }, requirement: { steps: REQUIREMENT_BUDGET.steps, milliseconds: 60_000 } },
      newConditionSpend({ steps: 1_000_000, milliseconds: 60_000 }),
    );
    const values = verdict.evaluations.map((evaluation) => evaluation.conditions[0]?.value ?? evaluation.conditions[0]?.error);
    const spent = `this attestation's conditions used up their budget of ${REQUIREMENT_BUDGET.steps} steps and 60000 ms per review`;
    assert.deepEqual(values, [true, true, true, true, spent, `not evaluated: ${spent}`]);
    assert.equal(verdict.passed, true, 'one satisfying statement is enough');
  });

  it('all the conditions of a review share one budget: requirements over many references cannot multiply REQUIREMENT_BUDGET', async () => {
    // Reads object: nothing is kept between judgements, each one evaluates.
    const { requirementValue, requirementResult, digest } = await costlyStatements(
      'object.name != "" && predicate.xs.all(a, predicate.xs.all(b, a != b || a == b))',
    );
    const budgets = {
      evaluation: { steps: DEFAULT_STEP_BUDGET, milliseconds: 60_000 },
      requirement: { steps: REQUIREMENT_BUDGET.steps, milliseconds: 60_000 },
    };
    const review = newConditionSpend({ steps: 50_000, milliseconds: 60_000 });
    const judged = () => {
      const verdict = judgeConditions(requirementValue, requirementResult, { ...locator, digest }, object, budgets, review);
      return verdict.evaluations.map((evaluation) => evaluation.conditions[0]?.value ?? evaluation.conditions[0]?.error);
    };
    const first = judged();
    assert.deepEqual(first.slice(0, 4), [true, true, true, true], 'the first judgement has the requirement budget');
    const spentUp = 'the conditions of this review used up their budget of 50000 steps and 60000 ms';
    assert.deepEqual(judged(), [true, spentUp, ...Array.from({ length: 4 }, () => `not evaluated: ${spentUp}`)]);
    assert.deepEqual(
      judged(),
      Array.from({ length: 6 }, () => `not evaluated: ${spentUp}`),
      'nothing is left for a third',
    );
  });

  it('policies sharing a cached verification are each judged with their own conditions', async () => {
    const registry = new FakeRegistry();
    const digest = registry.pushArtifact();
    attachBundle(registry, digest, statement(digest));
    const verifier = new CachedAttestationVerifier(registry, trustedRoots, DEFAULT_DISCOVERY_LIMITS);
    const lenient = policy('lenient', [requirement([builderIs(BUILDER)])]);
    const strict = policy('strict', [requirement([builderIs('https://other')])]);
    const ref = parseReference(`registry.test/acme/model@${digest}`);
    const verdict = async (chosen: ModelPolicy): Promise<RuleResult> => {
      const config = chosen.attestations;
      assert.ok(config !== undefined);
      const result = (await verifier.verify(config, locator, digest, Date.now() + 10_000)) as AttestationResult;
      return only(attestationCheck.judge(chosen, config, new Map([[config, result]]), ref, object));
    };
    assert.equal((await verdict(lenient)).status, 'pass');
    const before = registry.totalRequests;
    assert.equal((await verdict(strict)).status, 'fail');
    assert.equal(registry.totalRequests, before, 'the second policy reads the cached result');
    assert.equal(verifier.stats.hits, 1);
  });

  it('a verification short of its threshold is kept briefly: a second signer is seen once FAIL_TTL_MS has passed', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
    const registry = new FakeRegistry();
    const digest = registry.pushArtifact();
    attachBundle(registry, digest, statement(digest));
    const verifier = new CachedAttestationVerifier(registry, trustedRoots, DEFAULT_DISCOVERY_LIMITS);
    const authorities = [
      { name: 'release', key: publicPem(releaseKey.publicKey), tlog: 'optional' },
      { name: 'security', key: publicPem(otherKey.publicKey), tlog: 'optional' },
    ];
    const both = policy('both', [requirement([builderIs(BUILDER)], { authorities, threshold: 2 })]);
    const ref = parseReference(`registry.test/acme/model@${digest}`);
    const status = async (): Promise<string> => {
      const config = both.attestations;
      assert.ok(config !== undefined);
      const result = await verifier.verify(config, locator, digest, Date.now() + 10_000);
      return only(attestationCheck.judge(both, config, new Map([[config, result]]), ref, object)).status;
    };
    assert.equal(await status(), 'fail', 'one of two required signers');
    attachBundle(registry, digest, statement(digest), SLSA, signer(otherKey));
    t.mock.timers.tick(FAIL_TTL_MS + 1);
    assert.equal(await status(), 'pass', 'the second signer is read once the short-lived result expired');
    assert.equal(verifier.stats.misses, 2);
  });

  it('keyless: a certificate of the trusted root whose identity matches verifies the attestation; another identity does not', async () => {
    const pki = createTestPki();
    const corpRoots = TrustedRoots.fromSettings([{ name: 'corp', json: pki.trustedRootJson() }]);
    const registry = new FakeRegistry();
    const digest = registry.pushArtifact();
    const leaf = pki.issueLeaf({ issuer: 'https://idp.corp.example', email: 'release@corp.example', sct: false });
    attachBundle(registry, digest, statement(digest), undefined, { kind: 'keyless', leaf });
    const keyless = (subject: string) => ({
      name: 'corp-ca',
      keyless: {
        identities: [{ issuer: 'https://idp.corp.example', subject }],
        trustedRoot: 'corp',
        tlog: 'optional',
        ctlog: 'optional',
        signingTime: 'certificateValidity',
      },
    });
    const load = (subject: string): ModelPolicy => {
      const settings = configDocument({ trustedRoots: [{ name: 'corp', json: pki.trustedRootJson() }] });
      const text = modelPolicy('p', { attestations: [requirement([builderIs(BUILDER)], { authorities: [keyless(subject)] })] });
      const [loaded] = policySetFromTexts([{ source: 'p.yaml', text: `${text}---\n${settings}` }]).policies;
      assert.ok(loaded !== undefined);
      return loaded;
    };
    const run = async (chosen: ModelPolicy): Promise<RuleResult> => {
      const config = chosen.attestations;
      assert.ok(config !== undefined);
      const result = await verifyAttestations({ policy: config, registry, locator, digest, deadline: Date.now() + 10_000, trustedRoots: corpRoots });
      return only(attestationCheck.judge(chosen, config, new Map([[config, result]]), parseReference(`registry.test/acme/model@${digest}`), object));
    };
    const passed = await run(load('release@corp.example'));
    assert.equal(passed.status, 'pass', passed.reason);
    const other = await run(load('intern@corp.example'));
    assert.equal(other.status, 'fail');
    assert.match(other.reason, /not verified: no authority verified it \(corp-ca: .*intern@corp\.example/);
    assert.doesNotMatch(other.reason, /→/);
  });

  it('an authority that names a trusted root the Config does not define is a load error at its path', () => {
    const text = modelPolicy('p', {
      attestations: [
        requirement([], { authorities: [{ name: 'ci', keyless: { identities: [{ issuer: 'https://i', subject: 's' }], trustedRoot: 'nowhere' } }] }),
      ],
    });
    assert.throws(
      () => policySetFromTexts([{ source: 'p.yaml', text }]),
      (error: unknown) => error instanceof PolicyLoadError && /spec\.attestations\[0\]\.authorities: trusted root "nowhere" is not defined/.test(error.message),
    );
  });

  it('a registry that cannot be read is an error the policy onError decides, not a verdict', async () => {
    const registry = new FakeRegistry();
    const digest = registry.pushArtifact();
    registry.failWith = (operation) => (operation === 'referrers' ? 'TIMEOUT' : undefined);
    const result = only(await judge(registry, digest, policy('p', [requirement([builderIs(BUILDER)])])));
    assert.equal(result.status, 'error');
    assert.match(
      result.reason,
      /^attestation provenance \(https:\/\/slsa\.dev\/provenance\/v1\): could not be checked fully: listing the sigstore bundles \(referrers\) failed/,
    );
  });
});
