import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidReferenceError, formatReference, parseReference } from '../../src/reference/parse.ts';

const SHA256 = `sha256:${'0123456789abcdef'.repeat(4)}`;
const SHA512 = `sha512:${'0123456789abcdef'.repeat(8)}`;

describe('parseReference: valid references', () => {
  const cases: [string, string, string, string | undefined, string | undefined][] = [
    // input, registry, repository, tag, digest
    ['busybox', 'docker.io', 'library/busybox', undefined, undefined],
    ['busybox:1.36', 'docker.io', 'library/busybox', '1.36', undefined],
    ['acme/llama', 'docker.io', 'acme/llama', undefined, undefined],
    ['docker.io/busybox', 'docker.io', 'library/busybox', undefined, undefined],
    ['index.docker.io/acme/llama:v1', 'docker.io', 'acme/llama', 'v1', undefined],
    ['ghcr.io/acme/models/llama:v1', 'ghcr.io', 'acme/models/llama', 'v1', undefined],
    [`ghcr.io/acme/models/llama@${SHA256}`, 'ghcr.io', 'acme/models/llama', undefined, SHA256],
    [`ghcr.io/acme/llama:v1@${SHA256}`, 'ghcr.io', 'acme/llama', 'v1', SHA256],
    [`ghcr.io/acme/llama@${SHA512}`, 'ghcr.io', 'acme/llama', undefined, SHA512],
    ['localhost/model', 'localhost', 'model', undefined, undefined],
    ['localhost:5000/model:v2', 'localhost:5000', 'model', 'v2', undefined],
    ['127.0.0.1:5000/a/b/c:latest', '127.0.0.1:5000', 'a/b/c', 'latest', undefined],
    ['[::1]:5000/model:v1', '[::1]:5000', 'model', 'v1', undefined],
    ['[fe80::1]/model', '[fe80::1]', 'model', undefined, undefined],
    // Canonical registry names (issue 9): lower case, no HTTPS default port, Docker Hub's hosts as docker.io.
    ['Registry.Example.COM/model', 'registry.example.com', 'model', undefined, undefined],
    ['my-registry:443/a.b/c_d/e__f/g-h/i--j:T_a.g-1', 'my-registry', 'a.b/c_d/e__f/g-h/i--j', 'T_a.g-1', undefined],
    ['GHCR.IO:443/acme/llama', 'ghcr.io', 'acme/llama', undefined, undefined],
    ['registry-1.docker.io/acme/llama', 'docker.io', 'acme/llama', undefined, undefined],
    ['Index.Docker.IO/busybox', 'docker.io', 'library/busybox', undefined, undefined],
    ['ghcr.io:4443/acme/llama', 'ghcr.io:4443', 'acme/llama', undefined, undefined],
    ['example.com/m:_tag', 'example.com', 'm', '_tag', undefined],
    [`example.com/m:${'x'.repeat(128)}`, 'example.com', 'm', 'x'.repeat(128), undefined],
  ];
  for (const [input, registry, repository, tag, digest] of cases) {
    it(input.length > 70 ? `${input.slice(0, 70)}…` : input, () => {
      const ref = parseReference(input);
      assert.equal(ref.registry, registry);
      assert.equal(ref.repository, repository);
      assert.equal(ref.tag, tag);
      assert.equal(ref.digest, digest);
      assert.equal(ref.original, input);
    });
  }

  it('says whether the registry was written: a short name is not qualified', () => {
    assert.equal(parseReference('llama').qualified, false);
    assert.equal(parseReference('acme/llama').qualified, false);
    assert.equal(parseReference('docker.io/acme/llama').qualified, true);
    assert.equal(parseReference('localhost/llama').qualified, true);
  });

  it('formats the fully qualified reference', () => {
    assert.equal(formatReference(parseReference('busybox:1')), 'docker.io/library/busybox:1');
    assert.equal(formatReference(parseReference(`ghcr.io/a/b:v1@${SHA256}`)), `ghcr.io/a/b:v1@${SHA256}`);
  });
});

describe('parseReference: invalid references are rejected with a reason', () => {
  const cases: [string, RegExp][] = [
    ['', /empty/],
    [' ghcr.io/a/b', /white space/],
    ['ghcr.io/a/b ', /white space/],
    ['ghcr.io/Acme/model', /lowercase/],
    ['ghcr.io/a//b', /path component ""/],
    ['ghcr.io/a/b/', /path component ""/],
    ['ghcr.io/-a/b', /path component "-a"/],
    ['ghcr.io/a_/b', /path component "a_"/],
    ['ghcr.io/a___b', /path component "a___b"/],
    ['ghcr.io/a:', /tag "" is not valid/],
    ['ghcr.io/a:-v1', /tag "-v1" is not valid/],
    ['ghcr.io/a:.v1', /tag ".v1" is not valid/],
    [`ghcr.io/a:${'x'.repeat(129)}`, /tag/],
    ['ghcr.io/a:v1:v2', /tag "v1:v2"/],
    ['ghcr.io/a@', /algorithm:hex/],
    ['ghcr.io/a@sha256', /algorithm:hex/],
    [`ghcr.io/a@sha256:${'a'.repeat(63)}`, /64 lowercase hexadecimal/],
    [`ghcr.io/a@sha256:${'a'.repeat(65)}`, /64 lowercase hexadecimal/],
    [`ghcr.io/a@sha256:${'A'.repeat(64)}`, /64 lowercase hexadecimal/],
    [`ghcr.io/a@sha256:${'g'.repeat(64)}`, /64 lowercase hexadecimal/],
    [`ghcr.io/a@sha512:${'a'.repeat(64)}`, /128 lowercase hexadecimal/],
    [`ghcr.io/a@md5:${'a'.repeat(32)}`, /not supported/],
    [`ghcr.io/a@SHA256:${'a'.repeat(64)}`, /algorithm "SHA256"/],
    [`ghcr.io/a@${'a'.repeat(64)}`, /algorithm:hex/],
    ['ghcr.io:port/a', /port "port"/],
    ['ghcr.io:99999/a', /port "99999"/],
    ['-bad.io/a', /host name/],
    ['bad_host.io/a', /host name/],
    ['[::1/a', /IPv6/],
    ['[::1]x/a', /not valid/],
    // distribution/reference counts the repository path after normalisation, not the registry.
    [`example.com/${'a'.repeat(256)}`, /longer than 255/],
    ['a'.repeat(250), /longer than 255/],
    ['0123456789abcdef'.repeat(4), /image ID/],
    [':v1', /repository name is empty/],
    [`@sha256:${'a'.repeat(64)}`, /repository name is empty/],
    ['UPPER', /lowercase/],
    ['a b', /path component/],
    [`ghcr.io/a/b:v1@sha256:${'a'.repeat(64)}@x`, /algorithm:hex|64 lowercase/],
  ];
  for (const [input, reason] of cases) {
    it(JSON.stringify(input.length > 60 ? `${input.slice(0, 60)}…` : input), () => {
      assert.throws(
        () => parseReference(input),
        (error: unknown) => {
          assert.ok(error instanceof InvalidReferenceError, `expected InvalidReferenceError, got ${String(error)}`);
          assert.match(error.reason, reason);
          assert.equal(error.reference, input);
          return true;
        },
      );
    });
  }

  it('rejects a value that is not a string', () => {
    assert.throws(() => parseReference(42 as unknown as string), /not a string/);
  });
});
