/**
 * The modelSignature judge (engine/checks/model-signature.ts) over verification results:
 * the threshold counts authorities whose verified signature maps onto the manifest; the
 * signature layer is left out of the files; an incomplete search is an error (onError), not a
 * verdict; an index is refused; the results carry the file-by-file mapping for explain.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { ImageManifest } from '../../../src/artifact/manifest.ts';
import type { ArtifactFacts } from '../../../src/artifact/rules.ts';
import { judgeModelSignature, modelSignatureCheck } from '../../../src/engine/checks/model-signature.ts';
import type { ModelPolicy } from '../../../src/policy/types.ts';
import { rootDigestOf } from '../../../src/signature/oms-mapping.ts';
import type { ModelSignaturePolicy } from '../../../src/signature/oms-policy.ts';
import type { OmsStatement } from '../../../src/signature/oms-statement.ts';
import type { OmsAuthorityOutcome, OmsVerification } from '../../../src/signature/oms-verify.ts';

const sha = (text: string): string => createHash('sha256').update(text).digest('hex');
const FILES = { 'a.bin': 'a', 'sub/b.txt': 'b' };
const RAW = 'application/vnd.cncf.model.weight.v1.raw';

function manifest(files: Readonly<Record<string, string>>, extra: ImageManifest['layers'] = []): ArtifactFacts {
  const layers = Object.entries(files).map(([name, content]) => ({
    mediaType: RAW,
    digest: `sha256:${sha(content)}`,
    size: content.length,
    annotations: { 'org.opencontainers.image.title': name, 'org.cncf.model.filepath': name },
  }));
  const root: ImageManifest = {
    kind: 'manifest',
    digest: `sha256:${'1'.repeat(64)}`,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: undefined,
    config: { mediaType: 'application/vnd.cncf.model.config.v1+json', digest: `sha256:${'2'.repeat(64)}`, size: 2 },
    layers: [...layers, ...extra],
    annotations: {},
  };
  return { root, manifests: [root], configs: new Map() };
}

function statement(files: Readonly<Record<string, string>>): OmsStatement {
  const base: OmsStatement = {
    predicateType: 'https://model_signing/signature/v1.0',
    compat: false,
    modelName: 'm',
    rootDigest: undefined,
    method: 'files',
    hashType: 'sha256',
    ignorePaths: ['model.sig'],
    resources: Object.entries(files).map(([name, content]) => ({ name, algorithm: 'sha256', digest: sha(content) })),
  };
  return { ...base, rootDigest: rootDigestOf(base) };
}

const key = (name: string, verified: number[], failures: string[] = []): OmsAuthorityOutcome => ({ name, kind: 'key', static: undefined, verified, failures });

function verification(statements: (OmsStatement | undefined)[], authorities: OmsAuthorityOutcome[], complete = true): OmsVerification {
  return {
    signatures: statements.map((statement, index) => ({ source: `referrer ${index + 1}`, location: 'referrer', statement, error: undefined })),
    authorities,
    truncated: false,
    otherBundles: 0,
    problems: complete ? [] : ['listing the sigstore bundle referrers failed: timeout'],
    complete,
  };
}

const policy = { name: 'p', mode: 'enforce', onError: 'deny' } as ModelPolicy;
const config = (threshold = 1, location: ModelSignaturePolicy['location'] = 'any'): ModelSignaturePolicy => ({
  threshold,
  authorities: [],
  location,
  layerPath: 'model.sig',
});

describe('judgeModelSignature', () => {
  it('passes when an authority verified a signature that maps, with the file-by-file mapping in details', () => {
    const [result] = judgeModelSignature(policy, config(), verification([statement(FILES)], [key('release', [0])]), manifest(FILES));
    assert.equal(result?.status, 'pass', result?.reason);
    assert.match(result?.reason ?? '', /referrer 1 by release covers every mounted file \(2 files\); 1 of 1 authorities, threshold 1/);
    assert.deepEqual(result?.details?.slice(-2), ['  a.bin: match', '  sub/b.txt: match']);
  });

  it('a warm review reads the results judged for a cached verification and policy instead of mapping every file again', () => {
    const configValue = config();
    const facts = manifest(FILES);
    const outcome = verification([statement(FILES)], [key('release', [0])]);
    const checked = { artifact: facts, verifications: new Map([[configValue, outcome]]) };
    const first = modelSignatureCheck.judge(policy, configValue, checked, undefined as never, { namespace: 'a', name: 'b', kind: 'Pod' });
    assert.equal(first[0]?.status, 'pass');
    assert.equal(modelSignatureCheck.judge(policy, configValue, checked, undefined as never, { namespace: 'a', name: 'c', kind: 'Pod' }), first);
  });

  it('leaves the signature layer at layerPath out of the files, unless only referrers are read', () => {
    const sigLayer = { mediaType: RAW, digest: `sha256:${sha('sig')}`, size: 3, annotations: { 'org.opencontainers.image.title': 'model.sig' } };
    const facts = manifest(FILES, [sigLayer]);
    const outcome = verification([statement(FILES)], [key('release', [0])]);
    assert.equal(judgeModelSignature(policy, config(), outcome, facts)[0]?.status, 'pass');
    const [referrerOnly] = judgeModelSignature(policy, config(1, 'referrer'), outcome, facts);
    assert.equal(referrerOnly?.status, 'fail');
    assert.match(referrerOnly?.reason ?? '', /layer 3 writes "model\.sig", under the signed ignore_paths entry "model\.sig"/);
  });

  it('counts distinct authorities towards the threshold: one mapping signature is not two', () => {
    const outcome = verification([statement(FILES), statement({ 'a.bin': 'other' })], [key('release', [0]), key('qa', [1])]);
    const [result] = judgeModelSignature(policy, config(2), outcome, manifest(FILES));
    assert.equal(result?.status, 'fail');
    assert.match(result?.reason ?? '', /referrer 2 verifies with qa but does not match the artifact: .*"a\.bin".*changed.*\(1 of 2 authorities, threshold 2\)/);
  });

  it('says why no signature verified', () => {
    const outcome = verification([undefined], [key('release', [], ["referrer 1: the signature does not verify with release's key"])]);
    const [result] = judgeModelSignature(policy, config(), outcome, manifest(FILES));
    assert.equal(result?.status, 'fail');
    assert.match(result?.reason ?? '', /none of 1 OMS signature verified: release: referrer 1: the signature does not verify with release's key/);
  });

  it('is an error (onError decides) when the registry could not be read fully and nothing passed', () => {
    const [result] = judgeModelSignature(policy, config(), verification([], [key('release', [])], false), manifest(FILES));
    assert.equal(result?.status, 'error');
    assert.match(result?.reason ?? '', /the registry could not be read fully: listing the sigstore bundle referrers failed/);
  });

  it('passes on a static pass authority alone, and refuses an index', () => {
    const staticPass = verification([], [{ name: 'break-glass', kind: 'static', static: 'pass', verified: [], failures: [] }]);
    assert.equal(judgeModelSignature(policy, config(), staticPass, manifest(FILES))[0]?.status, 'pass');
    const facts = manifest(FILES);
    const index: ArtifactFacts = {
      ...facts,
      root: {
        kind: 'index',
        digest: facts.root.digest,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        artifactType: undefined,
        manifests: [],
        annotations: {},
      },
    };
    const [result] = judgeModelSignature(policy, config(), verification([statement(FILES)], [key('release', [0])]), index);
    assert.equal(result?.status, 'fail');
    assert.match(result?.reason ?? '', /image index/);
  });
});
