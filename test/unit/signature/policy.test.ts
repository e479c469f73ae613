import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { validate } from '../../../src/core/schema.ts';
import { signatureCacheKey } from '../../../src/signature/cache-key.ts';
import { checkSignatures } from '../../../src/signature/policy-checks.ts';
import { toDiscoveryLimits, toSignaturePolicy } from '../../../src/signature/policy-convert.ts';
import { DEFAULT_DISCOVERY_LIMITS, discoveryLimitsSchema, signaturesSchema } from '../../../src/signature/policy-schema.ts';
import { checkTrustedRoots, toTrustedRootSettings, trustedRootsSchema, unknownTrustedRoots } from '../../../src/signature/trusted-root-settings.ts';
import { TrustedRoots } from '../../../src/signature/trust.ts';
import { createTestPki, publicPem } from '../../support/sigstore/pki.ts';

const key = publicPem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
const indent = (text: string, spaces: number): string =>
  text
    .trim()
    .split('\n')
    .map((line) => `${' '.repeat(spaces)}${line}`)
    .join('\n');

const ISSUE_EXAMPLE = `
threshold: 1
authorities:
  - name: release-key
    key: |
${indent(key, 6)}
    tlog: optional
  - name: ci
    keyless:
      identities:
        - issuer: https://token.actions.githubusercontent.com
          subjectRegExp: ^https://github\\.com/acme/models/\\.github/workflows/release\\.yml@refs/tags/v
      trustedRoot: public-good
  - name: break-glass
    static: pass
`;

const messages = (data: unknown): string[] => checkSignatures(data).map((error) => `${error.path}: ${error.message}`);

describe('spec.signatures', () => {
  it('accepts the example of the issue and converts it', () => {
    const data: unknown = parseYaml(ISSUE_EXAMPLE);
    assert.deepEqual(messages(data), []);
    const policy = toSignaturePolicy(data);
    assert.equal(policy.threshold, 1);
    assert.deepEqual(policy.authorities[0], { kind: 'key', name: 'release-key', key: `${key.trim()}\n`, tlog: 'optional', trustedRoot: 'public-good' });
    assert.deepEqual(policy.authorities[1], {
      kind: 'keyless',
      name: 'ci',
      identities: [
        {
          issuer: 'https://token.actions.githubusercontent.com',
          subjectRegExp: '^https://github\\.com/acme/models/\\.github/workflows/release\\.yml@refs/tags/v',
        },
      ],
      trustedRoot: 'public-good',
      tlog: 'required',
      ctlog: 'required',
      signingTime: ['tlog', 'timestampAuthority'],
    });
    assert.deepEqual(policy.authorities[2], { kind: 'static', name: 'break-glass', result: 'pass' });
  });

  it('applies defaults: threshold 1, tlog required, public-good', () => {
    const policy = toSignaturePolicy({
      authorities: [
        { name: 'k', key },
        { name: 'c', keyless: { identities: [{ issuer: 'i', subject: 's' }] } },
      ],
    });
    assert.equal(policy.threshold, 1);
    assert.deepEqual(
      policy.authorities.map((authority) => (authority.kind === 'static' ? authority.result : [authority.kind, authority.trustedRoot])),
      [
        ['key', 'public-good'],
        ['keyless', 'public-good'],
      ],
    );
    assert.equal(policy.authorities[0]?.kind === 'key' && policy.authorities[0].tlog, 'required');
    const keyless = policy.authorities[1];
    assert.ok(keyless?.kind === 'keyless');
    assert.deepEqual([keyless.tlog, keyless.ctlog, keyless.signingTime], ['required', 'required', ['tlog', 'timestampAuthority']]);
  });

  it('names every mistake with its path', () => {
    assert.deepEqual(messages({}), ['spec.signatures.authorities: is required']);
    assert.deepEqual(messages({ authorities: [] }), ['spec.signatures.authorities: must have at least 1 item(s)']);
    assert.deepEqual(messages({ authorities: [{ name: 'a', key, keyless: { identities: [{ issuer: 'i', subject: 's' }] } }] }), [
      'spec.signatures.authorities[0]: must have only one of key, keyless or static, not key and keyless',
    ]);
    assert.deepEqual(messages({ authorities: [{ name: 'a' }] }), ['spec.signatures.authorities[0]: must have one of key, keyless or static']);
    assert.deepEqual(messages({ threshold: 2, authorities: [{ name: 'a', static: 'pass' }] }), [
      'spec.signatures.threshold: is 2, but only 1 authority is listed',
    ]);
    assert.deepEqual(
      messages({
        authorities: [
          { name: 'a', static: 'pass' },
          { name: 'a', static: 'fail' },
        ],
      }),
      ['spec.signatures.authorities[1].name: "a" is used by another authority'],
    );
    assert.deepEqual(messages({ authorities: [{ name: 'a', keyless: { identities: [{ issuer: 'i' }] } }] }), [
      'spec.signatures.authorities[0].keyless.identities[0]: must have subject or subjectRegExp',
    ]);
    assert.deepEqual(messages({ authorities: [{ name: 'a', keyless: { identities: [{ issuer: 'i', issuerRegExp: 'i', subject: 's' }] } }] }), [
      'spec.signatures.authorities[0].keyless.identities[0]: must have issuer or issuerRegExp, not both',
    ]);
    assert.deepEqual(
      messages({
        authorities: [
          { name: 'a', keyless: { identities: [{ issuer: 'i', subject: 's' }] } },
          { name: 'b', keyless: { identities: [{ issuer: 'i', subject: 's' }] } },
        ],
      }),
      ['spec.signatures.authorities[1]: accepts the same signer as authority "a": the threshold counts distinct signers'],
    );
    assert.deepEqual(messages({ authorities: [{ name: 'a', static: 'pass', tlog: 'optional' }] }), [
      'spec.signatures.authorities[0].tlog: only applies to key authorities',
    ]);
    assert.deepEqual(messages({ authorities: [{ name: 'a', static: 'maybe' }] }), [
      'spec.signatures.authorities[0].static: must be one of pass, fail, got "maybe"',
    ]);
    assert.deepEqual(messages({ authorities: [{ name: 'a', key, extra: 1 }] }), [
      'spec.signatures.authorities[0].extra: is not a known field (known: name, key, tlog, trustedRoot, keyless, static)',
    ]);
    assert.deepEqual(messages({ authorities: [{ name: 'a', keyless: { identities: [{ issuer: 'i', subjectRegExp: '(' }] } }] }).length, 1);
    assert.deepEqual(messages({ authorities: [{ name: 'bad name!', static: 'pass' }] }).length, 1);
    assert.deepEqual(messages({ authorities: [{ name: 'a', keyless: { identities: [{ issuer: 'i', subject: 's' }], trustedRoot: 'Not_A_Name' } }] }).length, 1);
  });

  it('checks keys at load time: PEM public keys of accepted types only', () => {
    const check = (pem: string): string[] => messages({ authorities: [{ name: 'k', key: pem }] });
    assert.deepEqual(check(key), []);
    assert.deepEqual(check(publicPem(generateKeyPairSync('ed25519').publicKey)), []);
    assert.deepEqual(check(publicPem(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey)), []);
    assert.match(check('not a key')[0] ?? '', /must be a PEM public key/);
    const privateKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    assert.match(check(privateKey)[0] ?? '', /this is a private key/);
    assert.match(check(publicPem(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey))[0] ?? '', /1024-bit RSA key; use at least 2048/);
    assert.match(check(publicPem(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey))[0] ?? '', /curve secp256k1/);
    assert.match(check('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----')[0] ?? '', /not a readable PEM public key/);
    assert.match(check('-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----')[0] ?? '', /base64 .* is damaged/);
    // Indented, folded onto one line, CRLF: all read (YAML folding produces such text).
    assert.deepEqual(check(`   ${key.replace(/\n(?!-)/g, ' ')}`), []);
    assert.deepEqual(check(key.replace(/\n/g, '\r\n')), []);
  });

  it('signaturesSchema alone is a valid schema of schema.ts', () => {
    assert.deepEqual(validate({ authorities: [{ name: 'a', static: 'pass' }] }, signaturesSchema, 'spec.signatures'), []);
  });
});

describe('Config spec.trustedRoots and spec.signatureDiscovery', () => {
  const pki = createTestPki();

  it('accepts trusted_root.json documents, including the public-good name', () => {
    const data = [{ name: 'corp', json: pki.trustedRootJson() }];
    assert.deepEqual(checkTrustedRoots(data), []);
    assert.deepEqual(toTrustedRootSettings(data), data);
    assert.deepEqual(validate(data, trustedRootsSchema, 'spec.trustedRoots'), []);
  });

  it('rejects broken documents and duplicate names at load time', () => {
    const problems = checkTrustedRoots([
      { name: 'a', json: '{' },
      { name: 'b', json: '{"mediaType":"text/plain"}' },
      { name: 'c', json: '{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}' },
      { name: 'd', json: pki.trustedRootJson() },
      { name: 'd', json: pki.trustedRootJson() },
    ]).map((error) => `${error.path}: ${error.message}`);
    assert.equal(problems.length, 4, problems.join('\n'));
    assert.match(problems[0] ?? '', /^spec\.trustedRoots\[0\]\.json: is not valid JSON/);
    assert.match(problems[1] ?? '', /mediaType "text\/plain"/);
    assert.match(problems[2] ?? '', /neither certificate authorities nor transparency logs/);
    assert.match(problems[3] ?? '', /^spec\.trustedRoots\[4\]\.name: "d" is given twice/);
  });

  it('discovery limits: defaults and bounds', () => {
    assert.deepEqual(toDiscoveryLimits(undefined), DEFAULT_DISCOVERY_LIMITS);
    assert.deepEqual(toDiscoveryLimits({ maxCandidates: 4, maxBlobKiB: 64 }), { maxCandidates: 4, maxBlobBytes: 65536 });
    assert.equal(validate({ maxCandidates: 1000 }, discoveryLimitsSchema, 'spec.signatureDiscovery').length, 1);
  });

  it('lists the trusted roots a policy names that the Config lacks', () => {
    const roots = TrustedRoots.fromSettings([{ name: 'corp', json: pki.trustedRootJson() }]);
    const policy = toSignaturePolicy({
      authorities: [
        { name: 'a', keyless: { identities: [{ issuer: 'i', subject: 's' }], trustedRoot: 'corp' } },
        { name: 'b', keyless: { identities: [{ issuer: 'i', subject: 's' }], trustedRoot: 'other' } },
        { name: 'c', keyless: { identities: [{ issuer: 'i', subject: 's' }] } },
      ],
    });
    assert.deepEqual(unknownTrustedRoots(policy, roots), ['other']);
  });
});

describe('signatureCacheKey', () => {
  const pki = createTestPki();
  const base = {
    threshold: 1,
    authorities: [
      { name: 'k', key, tlog: 'optional' },
      { name: 'c', keyless: { identities: [{ issuer: 'i', subject: 's' }], trustedRoot: 'corp' } },
    ],
  };

  it('is deterministic and ignores PEM formatting', () => {
    const a = signatureCacheKey(toSignaturePolicy(base));
    assert.match(a, /^[0-9a-f]{64}$/);
    assert.equal(signatureCacheKey(toSignaturePolicy(structuredClone(base))), a);
    const reflowed = `  ${key.replace(/\n(?!-)/g, '').replace(/\n/g, '\r\n')}  `;
    assert.equal(signatureCacheKey(toSignaturePolicy({ ...base, authorities: [{ name: 'k', key: reflowed, tlog: 'optional' }, base.authorities[1]] })), a);
  });

  it('changes with anything that changes the verdict', () => {
    const a = signatureCacheKey(toSignaturePolicy(base));
    const variants = [
      { ...base, threshold: 2 },
      { ...base, authorities: [{ name: 'k', key, tlog: 'required' }, base.authorities[1]] },
      {
        ...base,
        authorities: [{ name: 'k', key: publicPem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey), tlog: 'optional' }, base.authorities[1]],
      },
      { ...base, authorities: [base.authorities[0], { name: 'c', keyless: { identities: [{ issuer: 'i', subjectRegExp: 's' }], trustedRoot: 'corp' } }] },
      { ...base, authorities: [base.authorities[1], base.authorities[0]] },
    ];
    const keys = variants.map((variant) => signatureCacheKey(toSignaturePolicy(variant)));
    assert.equal(new Set([a, ...keys]).size, variants.length + 1);
    // The trusted roots' content counts too.
    const one = TrustedRoots.fromSettings([{ name: 'corp', json: pki.trustedRootJson() }]);
    const two = TrustedRoots.fromSettings([{ name: 'corp', json: createTestPki().trustedRootJson() }]);
    assert.notEqual(signatureCacheKey(toSignaturePolicy(base), one), signatureCacheKey(toSignaturePolicy(base), two));
    assert.equal(
      signatureCacheKey(toSignaturePolicy(base), one),
      signatureCacheKey(toSignaturePolicy(base), TrustedRoots.fromSettings([{ name: 'corp', json: pki.trustedRootJson() }])),
    );
    assert.notEqual(signatureCacheKey(toSignaturePolicy(base), one, DEFAULT_DISCOVERY_LIMITS), signatureCacheKey(toSignaturePolicy(base), one));
  });
});
