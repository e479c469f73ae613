// OpenSSF Model Signing (spec.modelSignature) judged by the real `modelgate check`
// (src/cli/main.ts) over models signed with the real `model_signing` 1.1.1 (key mode with an
// openssl EC P-256 key, certificate mode with an own CA), pushed with the real modelpack
// Python API (keeping directories, or not) and `oras push`, signatures attached with
// `oras attach` (referrers API on the referrers-registry, the tag fallback on the
// docker-registry) or pushed as a `model.sig` layer.
//
// Cross-check: every artifact is pulled with `oras pull` (files at the names the runtime
// writes) and `model_signing verify key` run on them. It agrees with modelgate everywhere but
// one place, on purpose: a file under a signed ignore_paths entry (`.git/…`) is ignored by
// model_signing, while the runtime mounts it, so modelgate denies it.

import assert from 'node:assert/strict';
import { copyFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { kubeObject } from '../support/objects.ts';
import { checkManifests, explainReference } from './lib/check-cli.ts';
import type { CheckRow } from './lib/check-cli.ts';
import { generateSigningKeys } from './lib/cosign.ts';
import { signCosign3 } from './lib/fixtures.ts';
import type { PushedArtifact } from './lib/fixtures.ts';
import { writeConfigFile, writePolicyDirectory } from './lib/modelgate.ts';
import { attachSignature, ecKey, makeModel, pullOras, pushModelpack, pushOras, signWithCertificate, signWithKey, verifyWithKey } from './lib/model-signing.ts';
import type { EcKey } from './lib/model-signing.ts';
import { createOwnCa, issueLeaf, ownTrustedRoot } from './lib/own-ca.ts';
import { stopAll } from './lib/processes.ts';
import { startDockerRegistry, startReferrersRegistry } from './lib/registries.ts';
import type { Registry } from './lib/registries.ts';
import { loadTools, testbedCacheDir } from './lib/tools.ts';
import { scratchDir } from './lib/workdir.ts';

const READY = existsSync(join(testbedCacheDir(), 'tools.json')) && existsSync(join(testbedCacheDir(), 'model-signing-1.1.1', 'bin', 'model_signing'));
const SKIP = READY ? false : 'test bed not installed (or without model_signing): run bash test/e2e/tools/install.sh';
const ISSUER = 'https://idp.corp.example';
const SIGNER = 'release@corp.example';

/** One artifact under test: where it is, which namespace's policy judges it, what modelgate and model_signing must say. */
interface Case {
  readonly registry: Registry;
  readonly repository: string;
  readonly digest: string;
  readonly namespace: string;
  /** undefined: allowed; else a pattern the denial must match. */
  readonly denial: RegExp | undefined;
  /** The signature model_signing verifies the pulled files with (undefined: no cross-check, e.g. no OMS signature). */
  readonly signature?: string;
  readonly key?: EcKey;
  /** model_signing's verdict when it differs from modelgate's on purpose. */
  readonly modelSigningOk?: boolean;
}

describe('OpenSSF model signing with real model_signing, modelpack, oras', { skip: SKIP, timeout: 900_000 }, () => {
  let referrers: Registry;
  let docker: Registry;
  let release: EcKey;
  let other: EcKey;
  const cases = new Map<string, Case>();
  let policyDir = '';
  let configFile = '';
  let rows = new Map<string, CheckRow>();

  const FILES = { 'model.safetensors': Buffer.alloc(4096, 7), 'tokenizer.json': '{"vocab":{}}', 'sub/notes.txt': 'signed notes\n' };
  const KEPT = [{ path: 'model.safetensors' }, { path: 'tokenizer.json' }, { path: 'sub/notes.txt', artifactPath: 'sub/notes.txt' }];
  const ORAS_FILES = [{ file: 'model.safetensors' }, { file: 'tokenizer.json' }, { file: 'sub/notes.txt' }];

  const policy = (name: string, namespace: string, spec: Record<string, unknown>) => ({
    apiVersion: 'modelgate.dev/v1alpha1',
    kind: 'ModelPolicy',
    metadata: { name },
    spec: { mode: 'enforce', match: { namespaces: [namespace] }, requireDigest: true, ...spec },
  });

  async function check(): Promise<Map<string, CheckRow>> {
    const manifests = join(scratchDir('oms-pods'), 'pods.yaml');
    writeFileSync(
      manifests,
      [...cases]
        .map(([name, c]) =>
          stringify(kubeObject('Pod', [{ name: 'model', reference: `${c.registry.host}/${c.repository}@${c.digest}` }], { name, namespace: c.namespace })),
        )
        .join('---\n'),
    );
    return checkManifests(manifests, policyDir, configFile);
  }

  before(async () => {
    [referrers, docker, release, other] = await Promise.all([startReferrersRegistry(), startDockerRegistry(), ecKey('release'), ecKey('other')]);
    const sigs = scratchDir('oms-sigs');
    const model = makeModel('model', FILES);
    const signature = await signWithKey(model, release, join(sigs, 'model.sig'));
    const add = (name: string, c: Case) => cases.set(name, { signature, key: release, ...c });

    // Allowed: the modelpack API keeping directories, the signature as a referrer (API and tag fallback).
    for (const [registry, name] of [
      [referrers, 'allowed'],
      [docker, 'allowed-fallback'],
    ] as const) {
      const digest = await pushModelpack(registry, 'oms/model', name, model, KEPT);
      await attachSignature(registry, 'oms/model', digest, signature);
      add(name, { registry, repository: 'oms/model', digest, namespace: 'oms', denial: undefined });
    }
    // Changed, extra and missing files (oras push, raw layers with org.cncf.model.filepath).
    const changed = makeModel('changed', { ...FILES, 'tokenizer.json': '{"vocab":{"x":1}}' });
    const extra = makeModel('extra', { ...FILES, 'extra.bin': 'not signed' });
    const variants: [string, string, { file: string }[], RegExp][] = [
      ['changed', changed, ORAS_FILES, /"tokenizer\.json" with sha256 \S+, but the signature has \S+: the file was changed/],
      ['extra', extra, [...ORAS_FILES, { file: 'extra.bin' }], /writes "extra\.bin", which the signature does not list \(an extra file\)/],
      [
        'missing',
        model,
        ORAS_FILES.filter(({ file }) => file !== 'tokenizer.json'),
        /the signed file "tokenizer\.json" is not a layer of the manifest \(a missing file\)/,
      ],
    ];
    for (const [name, dir, files, denial] of variants) {
      const digest = await pushOras(referrers, 'oms/variants', name, dir, files);
      await attachSignature(referrers, 'oms/variants', digest, signature);
      add(name, { registry: referrers, repository: 'oms/variants', digest, namespace: 'oms', denial });
    }
    // A tar layer: modelpack packs the sub directory as one tar layer.
    {
      const digest = await pushModelpack(referrers, 'oms/tar', 'tar', model, [{ path: 'model.safetensors' }, { path: 'tokenizer.json' }, { path: 'sub' }]);
      await attachSignature(referrers, 'oms/tar', digest, signature);
      add('tar', {
        registry: referrers,
        repository: 'oms/tar',
        digest,
        namespace: 'oms',
        denial: /is a tar archive \(application\/vnd\.cncf\.model\.weight\.v1\.tar\)/,
      });
    }
    // The modelpack CLI's default keeps base names: notes.txt, not sub/notes.txt.
    {
      const digest = await pushModelpack(referrers, 'oms/basename', 'basename', model, [
        { path: 'model.safetensors' },
        { path: 'tokenizer.json' },
        { path: 'sub/notes.txt' },
      ]);
      await attachSignature(referrers, 'oms/basename', digest, signature);
      add('basename', {
        registry: referrers,
        repository: 'oms/basename',
        digest,
        namespace: 'oms',
        denial: /writes "notes\.txt", but the signature has that content at "sub\/notes\.txt": the path differs by its directory/,
      });
    }
    // Wrong key; a signature of another model by the right key.
    {
      const wrong = await signWithKey(model, other, join(sigs, 'other-key.sig'));
      const digest = await pushOras(referrers, 'oms/wrong', 'wrong-key', model, ORAS_FILES);
      await attachSignature(referrers, 'oms/wrong', digest, wrong);
      add('wrong-key', {
        registry: referrers,
        repository: 'oms/wrong',
        digest,
        namespace: 'oms',
        signature: wrong,
        denial: /does not verify with release's key/,
      });
      const another = await signWithKey(makeModel('another', { 'weights.bin': 'another model' }), release, join(sigs, 'another.sig'));
      const digest2 = await pushOras(referrers, 'oms/another', 'another', model, ORAS_FILES);
      await attachSignature(referrers, 'oms/another', digest2, another);
      add('another-model', {
        registry: referrers,
        repository: 'oms/another',
        digest: digest2,
        namespace: 'oms',
        signature: another,
        denial: /verifies with release but does not match the artifact: layer 1 writes "model\.safetensors", which the signature does not list/,
      });
    }
    // ignore_paths abuse: model_signing ignores .git by default (and says so in the signature); the runtime mounts it.
    {
      const abused = makeModel('abused', { ...FILES, '.git/hooks.py': 'import os' });
      const digest = await pushOras(referrers, 'oms/abused', 'abused', abused, [...ORAS_FILES, { file: '.git/hooks.py' }]);
      await attachSignature(referrers, 'oms/abused', digest, signature);
      add('ignore-paths', {
        registry: referrers,
        repository: 'oms/abused',
        digest,
        namespace: 'oms',
        denial: /writes "\.git\/hooks\.py", under the signed ignore_paths entry "\.git": the signature says nothing about its content/,
        modelSigningOk: true,
      });
    }
    // The signature as a model.sig layer (signed inside the directory: model_signing ignores model.sig), and both locations.
    {
      const inside = makeModel('inside', FILES);
      const layerSig = await signWithKey(inside, release, join(inside, 'model.sig'));
      const files = [...ORAS_FILES, { file: 'model.sig', mediaType: 'application/vnd.cncf.model.doc.v1.raw' }];
      const digest = await pushOras(docker, 'oms/layer', 'layer', inside, files);
      add('layer', { registry: docker, repository: 'oms/layer', digest, namespace: 'oms', signature: layerSig, denial: undefined });
      add('layer-referrer-only', {
        registry: docker,
        repository: 'oms/layer',
        digest,
        namespace: 'referrer-only',
        signature: layerSig,
        denial: /no OMS signature found \(no sigstore bundle referrer of the model signing predicate\)/,
      });
      const both = await pushOras(referrers, 'oms/both', 'both', inside, files);
      const copy = join(sigs, 'both.sig');
      copyFileSync(layerSig, copy);
      await attachSignature(referrers, 'oms/both', both, copy);
      add('both', { registry: referrers, repository: 'oms/both', digest: both, namespace: 'oms', signature: layerSig, denial: undefined });
    }
    // Certificate mode with an own CA: a keyless authority over an own trusted root.
    const ca = await createOwnCa(scratchDir('oms-ca'), 'Corp');
    const leaf = await issueLeaf(ca, {
      name: 'release',
      issuer: ISSUER,
      email: SIGNER,
      notBefore: new Date(Date.now() - 86_400_000),
      notAfter: new Date(Date.now() + 86_400_000),
      cosign: loadTools().paths.COSIGN3,
      password: 'pw',
    });
    {
      const certSig = await signWithCertificate(model, join(ca.dir, 'release.key'), leaf.certFile, [ca.intermediateFile, ca.rootFile], join(sigs, 'cert.sig'));
      const digest = await pushModelpack(referrers, 'oms/cert', 'cert', model, KEPT);
      await attachSignature(referrers, 'oms/cert', digest, certSig);
      cases.set('certificate', { registry: referrers, repository: 'oms/cert', digest, namespace: 'cert', denial: undefined });
    }
    // Thresholds are not mixed: spec.signatures (cosign) and spec.modelSignature (OMS) are separate requirements.
    {
      const cosignKeys = await generateSigningKeys();
      const digest = await pushModelpack(referrers, 'oms/mixed', 'mixed', model, KEPT);
      await attachSignature(referrers, 'oms/mixed', digest, signature);
      add('oms-only', {
        registry: referrers,
        repository: 'oms/mixed',
        digest,
        namespace: 'mixed',
        denial: /the artifact is not signed as spec.signatures requires/,
      });
      const cosigned = await pushOras(referrers, 'oms/cosigned', 'cosigned', model, ORAS_FILES);
      const artifact: PushedArtifact = {
        host: referrers.host,
        repository: 'oms/cosigned',
        tag: 'cosigned',
        digest: cosigned,
        ref: `${referrers.host}/oms/cosigned@${cosigned}`,
        tagRef: `${referrers.host}/oms/cosigned:cosigned`,
        manifest: Buffer.alloc(0),
        manifestJson: { schemaVersion: 2, mediaType: '', config: { mediaType: '', digest: '', size: 0 }, layers: [] },
      };
      await signCosign3(referrers, artifact, cosignKeys);
      cases.set('cosign-only', {
        registry: referrers,
        repository: 'oms/cosigned',
        digest: cosigned,
        namespace: 'mixed',
        denial: /modelSignature: no OMS signature found|no model signing bundle referrer/,
      });
      const mixedPolicy = policy('mixed', 'mixed', {
        signatures: { authorities: [{ name: 'cosign', key: cosignKeys.publicKeyPem, tlog: 'optional' }] },
        modelSignature: { authorities: [{ name: 'release', key: release.publicKeyPem, tlog: 'optional' }] },
      });
      policyDir = writePolicyDirectory({
        'oms.yaml': [
          policy('oms', 'oms', { modelSignature: { authorities: [{ name: 'release', key: release.publicKeyPem, tlog: 'optional' }] } }),
          policy('referrer-only', 'referrer-only', {
            modelSignature: { location: 'referrer', authorities: [{ name: 'release', key: release.publicKeyPem, tlog: 'optional' }] },
          }),
          policy('cert', 'cert', {
            modelSignature: {
              authorities: [
                {
                  name: 'corp',
                  keyless: {
                    identities: [{ issuer: ISSUER, subject: SIGNER }],
                    trustedRoot: 'corp-ca',
                    tlog: 'optional',
                    ctlog: 'optional',
                    signingTime: 'certificateValidity',
                  },
                },
              ],
            },
          }),
          mixedPolicy,
        ],
      });
    }
    configFile = writeConfigFile({
      apiVersion: 'modelgate.dev/v1alpha1',
      kind: 'Config',
      spec: {
        registries: [referrers, docker].map((registry) => ({ host: registry.host, insecure: true })),
        trustedRoots: [{ name: 'corp-ca', json: ownTrustedRoot([ca.chainFile]) }],
      },
    });
    rows = await check();
  });

  after(async () => {
    await Promise.allSettled([referrers?.stop(), docker?.stop()]);
    await stopAll();
  });

  const verdictOf = (name: string): CheckRow => {
    const row = rows.get(name);
    assert.ok(row !== undefined, `no row for ${name}: ${[...rows.keys()].join(', ')}`);
    return row;
  };

  for (const name of ['allowed', 'allowed-fallback', 'layer', 'both', 'certificate']) {
    it(`${name}: allowed`, () => {
      const row = verdictOf(name);
      assert.equal(row.verdict, 'allow', `${name}: ${row.reasons.join('\n')}`);
    });
  }

  for (const name of [
    'changed',
    'extra',
    'missing',
    'tar',
    'basename',
    'wrong-key',
    'another-model',
    'ignore-paths',
    'layer-referrer-only',
    'oms-only',
    'cosign-only',
  ]) {
    it(`${name}: denied, saying which file and why`, () => {
      const row = verdictOf(name);
      const expected = cases.get(name)?.denial;
      assert.equal(row.verdict, 'deny', `${name}: ${row.reasons.join('\n')}`);
      assert.ok(expected !== undefined);
      assert.match(row.reasons.join('\n'), expected);
    });
  }

  it('thresholds are not mixed: an OMS signature does not stand in for a cosign one, nor the other way round', () => {
    const omsOnly = verdictOf('oms-only').reasons.join('\n');
    assert.doesNotMatch(omsOnly, /modelSignature/, 'the OMS signature passed its own requirement');
    const cosignOnly = verdictOf('cosign-only').reasons.join('\n');
    assert.doesNotMatch(cosignOnly, /rule signatures|signatures: no signature/, 'the cosign signature passed its own requirement');
  });

  it('modelgate explain shows the file-by-file mapping', async () => {
    for (const [name, expected] of [
      ['basename', /model\.safetensors: match\n\s+tokenizer\.json: match\n\s+notes\.txt: signed as sub\/notes\.txt\n\s+sub\/notes\.txt: missing/],
      [
        'allowed',
        /release: referrer sha256:\S+ covers all 3 files\n[^\n]*file by file[^\n]*\n\s+model\.safetensors: match\n\s+tokenizer\.json: match\n\s+sub\/notes\.txt: match/,
      ],
    ] as const) {
      const c = cases.get(name);
      assert.ok(c !== undefined);
      const text = await explainReference(`${c.registry.host}/${c.repository}@${c.digest}`, c.namespace, policyDir, configFile);
      assert.match(text, expected, `${name}: ${text}`);
    }
  });

  it('cross-check: model_signing verify key on the pulled files gives the same verdict', async () => {
    for (const [name, c] of cases) {
      if (c.signature === undefined || c.key === undefined || c.namespace !== 'oms') continue;
      const pulled = await pullOras(c.registry, c.repository, c.digest);
      const verified = await verifyWithKey(pulled, c.key, c.signature);
      const expected = c.modelSigningOk ?? c.denial === undefined;
      assert.equal(verified.ok, expected, `${name}: model_signing says ${verified.ok ? 'ok' : 'fail'}: ${verified.output.slice(-400)}`);
    }
  });
});
