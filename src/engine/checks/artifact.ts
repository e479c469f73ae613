/**
 * Artifact rules (artifact/rules.ts, `spec.artifact`): the manifest behind a
 * pinned digest, read once per review for every matching policy (with the
 * ModelPack configs when any of them reads them) and judged policy by policy.
 */
import { formatBytes } from '../../artifact/quantity.ts';
import { checkArtifact, rulesNeedConfig } from '../../artifact/rules.ts';
import type { ArtifactFacts } from '../../artifact/rules.ts';
import { PairMemo } from '../../core/pair-memo.ts';
import type { ArtifactRules, ModelPolicy } from '../../policy/types.ts';
import { failedResult, ruleResult } from '../result.ts';
import type { RuleResult } from '../result.ts';
import type { FetchingCheckKind } from './kind.ts';

const CHECK = 'artifact';

/** Each rule with what it checks when the policy turns it on (undefined: off). */
const RULES: readonly (readonly [string, (rules: ArtifactRules) => string | undefined])[] = [
  ['artifact.types', (rules) => (rules.types.length > 0 ? `type is one of ${rules.types.join(', ')}` : undefined)],
  ['artifact.layerMediaTypes', (rules) => (rules.layerMediaTypes.length > 0 ? `layer media types match ${rules.layerMediaTypes.join(', ')}` : undefined)],
  ['artifact.mountable', (rules) => (rules.mountable ? 'every layer has a file path, so CRI-O mounts it' : undefined)],
  ['artifact.denyFiles', (rules) => (rules.denyFiles.length > 0 ? `no layer file matches ${rules.denyFiles.join(', ')}` : undefined)],
  ['artifact.maxSize', (rules) => (rules.maxSize === undefined ? undefined : `layers add up to at most ${formatBytes(rules.maxSize)}`)],
  ['artifact.formats', (rules) => (rules.formats.length > 0 ? `ModelPack config.format is one of ${rules.formats.join(', ')}` : undefined)],
  ['artifact.licenses', (rules) => (rules.licenses.length > 0 ? `licence allowed by ${rules.licenses.join(', ')}` : undefined)],
];

interface Configured {
  readonly rule: string;
  readonly what: string;
}

const configuredByRules = new WeakMap<ArtifactRules, readonly Configured[]>();

/** The rules an artifact block turns on, with what each checks; once per policy revision. */
function configured(rules: ArtifactRules): readonly Configured[] {
  let list = configuredByRules.get(rules);
  if (list === undefined) {
    list = RULES.flatMap(([rule, describe]) => {
      const what = describe(rules);
      return what === undefined ? [] : [{ rule, what }];
    });
    configuredByRules.set(rules, list);
  }
  return list;
}

function judgeArtifact(policy: ModelPolicy, rules: ArtifactRules, facts: ArtifactFacts): RuleResult[] {
  const results: RuleResult[] = checkArtifact(policy, rules, facts).map((finding) => failedResult(CHECK, finding));
  for (const { rule, what } of configured(rules)) {
    if (!results.some((result) => result.rule === rule)) results.push(ruleResult(CHECK, policy.name, rule, 'pass', what));
  }
  return results;
}

/**
 * Results by cached facts and policy: facts are immutable (content by digest)
 * and a policy object lives as long as its revision, so a warm review reads
 * the results instead of judging thousands of layers again.
 */
const judged = new PairMemo<ArtifactFacts, ModelPolicy, readonly RuleResult[]>();

export const artifactCheck: FetchingCheckKind<ArtifactRules, ArtifactFacts> = {
  name: CHECK,
  title: 'artifact rules',
  rules: [CHECK, ...RULES.map(([rule]) => rule)],
  needsDigest: true,
  configOf: (policy) => policy.artifact,
  needsRegistry: () => true,
  rulesOf: (rules) => configured(rules).map(({ rule }) => rule),
  fetch(target, configs, sources) {
    const source = sources.artifacts;
    if (source === undefined) throw new Error('no registry access is configured');
    // With ModelPack configs only when a rule reads them; a policy that does not shares the same cache entry.
    let withConfigs = false;
    for (const rules of configs) withConfigs ||= rulesNeedConfig(rules);
    return source.facts(target.locator, target.digest, withConfigs, target.deadline);
  },
  judge(policy, rules, facts) {
    return judged.get(facts, policy, () => judgeArtifact(policy, rules, facts));
  },
};
