/**
 * Issue 9 through the engine: bounded answers and reference counts, one canonical name for
 * policy matching, short names, host globs by DNS label, no registry I/O for a reference
 * that is denied already, and no egress to internal addresses a tenant names. Facts read
 * with a pull secret: test/integration/hardening/pull-secret-audience.test.ts.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ANSWER_LIMITS } from '../../../src/engine/decision.ts';
import { startServer } from '../../support/fake-servers.ts';
import type { RunningServer } from '../../support/fake-servers.ts';
import { DIGEST } from '../../support/objects.ts';
import { admit, engine } from '../../support/engines.ts';
import { configDocument, modelPolicy } from '../../support/policies.ts';

/** A ModelPolicy followed by a document separator, to concatenate with more. */
const policy = (name: string, spec: string): string => `${modelPolicy(name, spec)}---\n`;
const config = configDocument;

describe('answers stay small whatever the object (issue 9 §3)', () => {
  it('over the reference cap: one denial, not one finding per volume', async () => {
    const outcome = await admit(
      engine(policy('pinned', '{}')),
      Array.from({ length: 11_000 }, (_, i) => `ghcr.io/acme/m${i}:v1`),
    );
    assert.equal(outcome.decision.allowed, false);
    assert.match(
      outcome.decision.message ?? '',
      /^modelgate denied Pod team-a\/llm: it has 11000 model references to judge, more than the limit of 64 per object\n {2}Fix: .*spec\.limits\.maxReferencesPerObject/,
    );
    assert.ok((outcome.decision.message ?? '').length < 400);
  });

  it('under a raised cap: the first references and findings, then how many more', async () => {
    const many = engine(policy('pinned', '{}') + policy('registries', '{registries: [quay.io]}') + config('{limits: {maxReferencesPerObject: 5000}}'));
    const outcome = await admit(
      many,
      Array.from({ length: 3000 }, (_, i) => `ghcr.io/acme/m${i}:v1`),
    );
    const message = outcome.decision.message ?? '';
    assert.equal(outcome.decision.allowed, false);
    assert.ok(message.length <= ANSWER_LIMITS.messageLength, `${message.length} characters`);
    assert.match(message, /^modelgate denied Pod team-a\/llm: 3000 model references failed policy/);
    assert.equal(message.match(/^- volume /gm)?.length, ANSWER_LIMITS.references);
    assert.match(message, /\n… and 2980 more model references failed policy$/);
    assert.ok(outcome.decision.reasons.length <= ANSWER_LIMITS.reasons + 1);
  });

  it('warnings and audit annotations are capped the same way', async () => {
    const raised = config('{limits: {maxReferencesPerObject: 1000}}');
    const warned = await admit(
      engine(policy('pinned', '{mode: warn}') + raised),
      Array.from({ length: 500 }, (_, i) => `ghcr.io/acme/m${i}:v1`),
    );
    assert.equal(warned.decision.allowed, true);
    assert.equal(warned.decision.warnings.length, ANSWER_LIMITS.warnings + 1);
    assert.equal(warned.decision.warnings.at(-1), 'modelgate: … and 480 more warnings');
    assert.ok(warned.decision.warnings.every((warning) => warning.length <= 120));
    const audited = await admit(
      engine(policy('pinned', '{mode: audit}') + raised),
      Array.from({ length: 500 }, (_, i) => `ghcr.io/acme/m${i}:v1`),
    );
    assert.ok((audited.decision.auditAnnotations['policy-violations'] ?? '').length < 8 * 1024);
    assert.match(audited.decision.auditAnnotations['policy-violations'] ?? '', /… and 480 more findings$/);
  });
});

describe('one canonical name for policy matching (issue 9 §5)', () => {
  const strict =
    policy('acme', '{match: {references: ["ghcr.io/acme/**"]}, registries: ["ghcr.io"], artifact: {types: [modelpack]}}') +
    policy('rest', '{match: {references: ["**"]}}');
  for (const written of [`GHCR.IO/acme/llama@${DIGEST}`, `Ghcr.io/acme/llama@${DIGEST}`, `ghcr.io:443/acme/llama@${DIGEST}`]) {
    it(`${written.split('@')[0]} is judged by the policy for ghcr.io/acme/**`, async () => {
      const outcome = await admit(engine(strict, { offline: true }), [written]);
      assert.equal(outcome.decision.allowed, false);
      assert.deepEqual(outcome.decision.verdicts[0]?.policies, ['acme', 'rest']);
      assert.match(outcome.decision.message ?? '', /\(ghcr\.io\/acme\/llama@sha256:a{64}\)/);
    });
  }

  it("Docker Hub's host names are docker.io", async () => {
    const hub = engine(policy('hub', '{match: {references: ["docker.io/acme/**"]}, mode: warn}') + config('{defaultAction: deny}'));
    for (const written of [`registry-1.docker.io/acme/llama@${DIGEST}`, `index.docker.io/acme/llama@${DIGEST}`, `acme/llama@${DIGEST}`]) {
      const outcome = await admit(hub, [written]);
      assert.deepEqual(outcome.decision.verdicts[0]?.policies, ['hub'], written);
    }
  });

  it('short names can be denied: CRI-O may resolve them through its search registries', async () => {
    const deny = engine(policy('any', '{}') + config('{shortNames: deny}'));
    const short = await admit(deny, [`llama@${DIGEST}`]);
    assert.equal(short.decision.allowed, false);
    assert.match(
      short.decision.message ?? '',
      /rule shortNames: "llama@sha256:a{64}" names no registry: CRI-O may resolve a short name through its unqualified-search-registries/,
    );
    assert.match(short.decision.message ?? '', /Fix: write the registry in the reference, e.g\. docker\.io\/library\/llama@sha256:a{64}/);
    assert.equal((await admit(deny, [`docker.io/library/llama@${DIGEST}`])).decision.allowed, true);
    assert.equal((await admit(engine(policy('any', '{}')), [`llama@${DIGEST}`])).decision.allowed, true, 'the default judges them as docker.io');
  });

  it('host globs follow DNS labels', async () => {
    const labels = engine(policy('corp', '{registries: ["*.corp.example", "**.deep.example:5000"]}'));
    const allowed = async (reference: string): Promise<boolean> => (await admit(labels, [reference])).decision.allowed;
    assert.equal(await allowed(`a.corp.example/m@${DIGEST}`), true);
    assert.equal(await allowed(`a.b.corp.example/m@${DIGEST}`), false);
    assert.equal(await allowed(`evil.com.corp.example.evil.com/m@${DIGEST}`), false);
    assert.equal(await allowed(`x.y.deep.example:5000/m@${DIGEST}`), true);
    assert.equal(await allowed(`x.y.deep.example:5001/m@${DIGEST}`), false);
  });
});

describe('where a review makes modelgate connect (issue 9 §4)', { timeout: 60_000 }, () => {
  const servers: RunningServer[] = [];
  after(async () => Promise.all(servers.map((server) => server.stop())));

  it('a reference denied by a reference rule is never fetched', async () => {
    const registry = await startServer((_req, res) => {
      res.end('{}');
    });
    servers.push(registry);
    const gated = engine(
      policy('only-ghcr', `{registries: [ghcr.io], artifact: {types: [modelpack]}}`) + config(`{registries: [{host: "${registry.host}", insecure: true}]}`),
    );
    const outcome = await admit(gated, [`${registry.host}/acme/model@${DIGEST}`, `${registry.host}/acme/model:v1`]);
    assert.equal(outcome.decision.allowed, false);
    assert.match(outcome.decision.message ?? '', /rule registries: registry 127\.0\.0\.1:\d+ is not one of the allowed registries/);
    assert.deepEqual(registry.seen, []);
  });

  it('an internal address the Config does not list is refused, whatever onError says, without a connection', async () => {
    const inside = await startServer((_req, res) => {
      res.end('{}');
    });
    servers.push(inside);
    const lenient = engine(policy('lenient', '{onError: allow, artifact: {types: [modelpack]}}'));
    const outcome = await admit(lenient, [`${inside.host}/acme/model@${DIGEST}`]);
    assert.equal(outcome.decision.allowed, false);
    assert.match(outcome.decision.message ?? '', /refusing to connect to 127\.0\.0\.1:\d+: 127\.0\.0\.1 is an internal address/);
    assert.deepEqual(inside.seen, []);
  });
});
