/**
 * explain lists the engine's own results: a rule the engine did not judge is
 * never shown as passing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { explainReference } from '../../src/cli/explain/trace.ts';
import { renderExplain } from '../../src/cli/explain/render.ts';
import { policySetFromTexts } from '../../src/policy/load.ts';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const POLICY = `apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata: {name: internal}
spec:
  match: {namespaces: ["*"], references: ["**"]}
  registries: ["*.internal"]
  artifact: {mountable: true}
  signatures:
    authorities: [{name: b, static: pass}]
`;
const CONFIG = 'apiVersion: modelgate.dev/v1alpha1\nkind: Config\nspec: {shortNames: deny}\n';

describe('explain from rule results', () => {
  it('a reference denied by the registries rule lists the registry checks as not checked', async () => {
    const policySet = policySetFromTexts([{ source: 'p.yaml', text: POLICY }]);
    const report = await explainReference(`ghcr.io/acme/llama@${DIGEST}`, policySet, { namespace: 'default', offline: true });
    assert.deepEqual(
      report.evaluation.policies[0]?.rules.map((rule) => [rule.rule, rule.result]),
      [
        ['requireDigest', 'pass'],
        ['registries', 'fail'],
        ['artifact.mountable', 'not checked'],
        ['signatures', 'not checked'],
      ],
    );
    assert.match(renderExplain(report), /^ {4}signatures\s+NOT CHECKED\s+the reference is denied by the rules above, so the registry is not consulted$/m);
  });

  it('a short name the Config denies is listed as the built-in rule that denies it', async () => {
    const policySet = policySetFromTexts([
      { source: 'p.yaml', text: POLICY },
      { source: 'c.yaml', text: CONFIG },
    ]);
    const report = await explainReference(`llama@${DIGEST}`, policySet, { namespace: 'default', offline: true });
    assert.deepEqual(
      report.evaluation.builtIn.map((rule) => [rule.rule, rule.result, rule.mode]),
      [['shortNames', 'fail', 'enforce']],
    );
    assert.match(renderExplain(report), /the reference names no registry and the Config denies short names: no policy is consulted, it is always denied/);
  });
});
