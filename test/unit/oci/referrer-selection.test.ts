import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReferrerSelection, artifactTypesOf } from '../../../src/oci/referrer-selection.ts';
import type { Descriptor } from '../../../src/oci/types.ts';

const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const SIG = 'application/vnd.dev.cosign.artifact.sig.v1+json';
const SBOM = 'application/spdx+json';
let serial = 0;
const referrer = (artifactType: string | undefined): Descriptor => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: `sha256:${(serial++).toString(16).padStart(64, '0')}`,
  size: 100,
  ...(artifactType === undefined ? {} : { artifactType }),
});

/** Offers the listing until the selection says stop; returns how many descriptors were read. */
function offerAll(selection: ReferrerSelection, listing: readonly Descriptor[]): number {
  let read = 0;
  for (const descriptor of listing) {
    read++;
    if (!selection.offer(descriptor)) break;
  }
  return read;
}

describe('referrer selection: one listing, one cap per artifact type', () => {
  it('a flood of one asked type does not hide another asked type listed after it', () => {
    const selection = new ReferrerSelection([BUNDLE, SIG], 3);
    offerAll(selection, [...Array.from({ length: 500 }, () => referrer(BUNDLE)), referrer(SIG), referrer(SBOM)]);
    assert.deepEqual(
      selection.kept.map((descriptor) => descriptor.artifactType),
      [BUNDLE, BUNDLE, BUNDLE, SIG],
    );
    assert.equal(selection.truncated, true);
  });

  it('types not asked for are skipped and never count; without types every referrer counts against one cap', () => {
    const listing = [referrer(SBOM), referrer(undefined), referrer(SIG), referrer(SBOM)];
    const some = new ReferrerSelection([SIG], 1);
    offerAll(some, listing);
    assert.deepEqual(some.kept, [listing[2]]);
    assert.equal(some.truncated, false);
    const all = new ReferrerSelection(undefined, 2);
    assert.equal(offerAll(all, listing), 3, 'reading stops at the first referrer beyond the cap');
    assert.deepEqual(all.kept, listing.slice(0, 2));
    assert.equal(all.truncated, true);
  });

  it('stops reading once every asked type is full', () => {
    const selection = new ReferrerSelection([BUNDLE, SIG], 1);
    const listing = [referrer(BUNDLE), referrer(SIG), referrer(BUNDLE), ...Array.from({ length: 100 }, () => referrer(SIG))];
    assert.equal(offerAll(selection, listing), 3);
    assert.equal(selection.kept.length, 2);
  });

  it('reads the option as none, one or several types', () => {
    assert.equal(artifactTypesOf(undefined), undefined);
    assert.deepEqual(artifactTypesOf(SIG), [SIG]);
    assert.deepEqual(artifactTypesOf([BUNDLE, SIG]), [BUNDLE, SIG]);
  });
});
