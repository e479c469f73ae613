// What the registry client remembers of a registry's referrers API, with real cosign v3
// signatures on both registries of the test bed: docker-registry (distribution 2.8, no API:
// cosign writes the `sha256-<hex>` tag index) and the referrers-registry (API). The first
// verification asks the API and the tag together; later ones ask only what the registry
// serves, and still find every signature.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../src/oci/client.ts';
import type { RequestEvent } from '../../src/oci/http.ts';
import { toSignaturePolicy } from '../../src/signature/policy-convert.ts';
import { TrustedRoots } from '../../src/signature/trust.ts';
import { verifySignatures } from '../../src/signature/verify.ts';
import { modelFile, modelPack } from '../support/models.ts';
import { closePushAgents, pushManifest } from '../support/push.ts';
import { cosignSign, generateSigningKeys } from './lib/cosign.ts';
import type { SigningKeys } from './lib/cosign.ts';
import { referrersFallbackTag } from './lib/oci.ts';
import { startDockerRegistry, startReferrersRegistry } from './lib/registries.ts';
import type { Registry } from './lib/registries.ts';
import { testbedCacheDir } from './lib/tools.ts';

const READY = existsSync(join(testbedCacheDir(), 'tools.json'));
const SKIP = READY ? false : 'test bed not installed: run bash test/e2e/tools/install.sh';
const REPOSITORY = 'acme/remembered';

/** What a verification asked: `api` (the referrers API), `tag` (the referrers tag index), `sig` (cosign's `.sig` tag), `other`. */
function asked(events: readonly RequestEvent[], digest: string): string[] {
  return events
    .map((event) => {
      if (event.path.includes(`/referrers/${digest}`)) return 'api';
      if (event.path.endsWith(`/manifests/${referrersFallbackTag(digest)}`)) return 'tag';
      if (event.path.endsWith(`/manifests/${referrersFallbackTag(digest)}.sig`)) return 'sig';
      return 'other';
    })
    .filter((kind) => kind !== 'other')
    .sort();
}

describe('the referrers API of a registry, remembered', { skip: SKIP, timeout: 300_000 }, () => {
  let keys: SigningKeys;
  const registries: Registry[] = [];
  const clients: RegistryClient[] = [];
  const trustedRoots = TrustedRoots.fromSettings();

  before(async () => {
    keys = await generateSigningKeys();
    registries.push(await startDockerRegistry(), await startReferrersRegistry());
  });
  after(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await closePushAgents();
    await Promise.all(registries.map((registry) => registry.stop()));
  });

  /** A model pushed and signed by cosign v3 (a bundle referrer, or on docker-registry the tag index as well). */
  async function signedModel(registry: Registry, name: string): Promise<string> {
    const model = modelPack([modelFile('model.safetensors', `weights ${name}`)]);
    await pushManifest({ url: registry.url }, REPOSITORY, model);
    await cosignSign(3, registry, `${registry.host}/${REPOSITORY}@${model.digest}`, keys);
    return model.digest;
  }

  for (const kind of ['docker-registry', 'referrers-registry'] as const) {
    it(`${kind}: after the first verification only ${kind === 'docker-registry' ? 'the referrers tag' : 'the referrers API'} is asked, and cosign v3 signatures are still found`, async () => {
      const registry = registries.find((candidate) => candidate.kind === kind);
      assert.ok(registry !== undefined);
      const digests = [await signedModel(registry, `${kind} 1`), await signedModel(registry, `${kind} 2`), await signedModel(registry, `${kind} 3`)];
      const events: RequestEvent[] = [];
      const client = new RegistryClient({ registries: [{ host: registry.host, insecure: true, ca: undefined }], onRequest: (event) => events.push(event) });
      clients.push(client);
      const policy = toSignaturePolicy({ authorities: [{ name: 'release-key', key: keys.publicKeyPem, tlog: 'optional' }] });
      const verify = async (digest: string): Promise<string[]> => {
        events.length = 0;
        const locator = { registry: registry.host, repository: REPOSITORY };
        const result = await verifySignatures({ policy, registry: client, locator, digest, deadline: Date.now() + 15_000, trustedRoots });
        assert.equal(result.passed, true, result.summary);
        assert.equal(result.complete, true, result.summary);
        return asked(events, digest);
      };
      assert.deepEqual(await verify(digests[0] as string), ['api', 'sig', 'tag'], 'first contact: the API and the tag together, beside the .sig tag');
      const known = registry.referrersApi ? ['api', 'sig'] : ['sig', 'tag'];
      assert.deepEqual(await verify(digests[1] as string), known);
      assert.deepEqual(await verify(digests[2] as string), known);
    });
  }
});
