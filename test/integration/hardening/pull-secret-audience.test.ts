/**
 * Issue 9 through the engine: facts read with one namespace's pull secret are never told to
 * another (Debian's docker-registry with htpasswd auth; the pull secrets come from a reader
 * standing in for the API server, whose real Secret reads are tested in
 * test/e2e/pull-secrets.test.ts).
 */
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PullSecretReader } from '../../../src/engine/review-credentials.ts';
import { startDistribution } from '../../support/distribution.ts';
import type { RunningDistribution } from '../../support/distribution.ts';
import { basicAuthorization, closePushAgents, pushManifest } from '../../support/push.ts';
import { modelPack, goodLayers } from '../../support/models.ts';
import { admit, engine } from '../../support/engines.ts';
import { configDocument, modelPolicy } from '../../support/policies.ts';

/** A ModelPolicy followed by a document separator, to concatenate with more. */
const policy = (name: string, spec: string): string => `${modelPolicy(name, spec)}---\n`;
const config = configDocument;

describe('facts read with a pull secret are told only to pods with that secret (issue 9 §4)', { timeout: 120_000 }, () => {
  let registry: RunningDistribution;
  const model = modelPack(goodLayers());
  const secrets: Record<string, string> = {};
  const reader: PullSecretReader = {
    dockerConfigs: (namespace) =>
      Promise.resolve(secrets[namespace] === undefined ? [] : [{ name: `secret ${namespace}/pull`, text: secrets[namespace] ?? '' }]),
  };

  before(async () => {
    registry = await startDistribution({ dir: await mkdtemp(join(tmpdir(), 'modelgate-audience-')), htpasswd: { alice: 'wonderland' } });
    await pushManifest({ url: registry.url, authorization: () => basicAuthorization('alice', 'wonderland') }, 'private/model', model);
    secrets['team-a'] = JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from('alice:wonderland').toString('base64') } } });
  });
  after(async () => {
    await closePushAgents();
    await registry?.stop();
  });

  it('team-a (with the secret) is judged from the registry; team-b (without) never from team-a’s facts', async () => {
    const text =
      policy('private', `{match: {references: ["${registry.host}/**"]}, artifact: {types: [modelpack], denyFiles: ["*.pkl"]}}`) +
      config(`{registries: [{host: "${registry.host}", insecure: true}], credentials: {pullSecrets: true}}`);
    const shared = engine(text, { pullSecrets: reader });
    const reference = `${registry.host}/private/model@${model.digest}`;
    const first = await admit(shared, [reference], 'team-a');
    assert.equal(first.decision.allowed, true, first.decision.message);
    const requests = shared.client?.requestCount ?? 0;
    const again = await admit(shared, [reference], 'team-a');
    assert.equal(again.decision.allowed, true);
    assert.equal(shared.client?.requestCount, requests, 'team-a is served from the cache');
    const other = await admit(shared, [reference], 'team-b');
    assert.equal(other.decision.allowed, false, 'team-b cannot read the artifact and learns nothing from team-a’s facts');
    assert.match(other.decision.message ?? '', /could not be checked: .*answered 401 Unauthorized .*the request carried no credentials/);
    assert.ok((shared.client?.requestCount ?? 0) > requests, 'team-b asked the registry itself');
  });
});
