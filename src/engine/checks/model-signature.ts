/**
 * Model signing (`spec.modelSignature`, signature/oms-*.ts): an OpenSSF Model Signing
 * signature verified from the manifest and the signature alone. Facts: the manifest through
 * the engine's cached artifact source (the one the artifact kind reads) and, per policy, the
 * OMS signatures each authority verified (cached by digest and authority set). The judge maps
 * each verified statement onto the layers the runtime mounts (signature/oms-mapping.ts): an
 * authority passes when one of its signatures maps exactly; the threshold counts authorities.
 */
import { isTarLayer } from '../../artifact/media-types.ts';
import { cleanFileName, layerNames, mountedPath } from '../../artifact/file-names.ts';
import type { ArtifactFacts } from '../../artifact/rules.ts';
import { couldNotCheck } from '../../core/finding.ts';
import { PairMemo } from '../../core/pair-memo.ts';
import type { ModelPolicy } from '../../policy/types.ts';
import { mapStatement } from '../../signature/oms-mapping.ts';
import type { Mapping, MountedLayer } from '../../signature/oms-mapping.ts';
import type { ModelSignaturePolicy } from '../../signature/oms-policy.ts';
import type { OmsVerification } from '../../signature/oms-verify.ts';
import { failedResult, ruleResult } from '../result.ts';
import type { RuleResult } from '../result.ts';
import type { FetchingCheckKind } from './kind.ts';
import { VerificationFailure, resultsPerConfig } from './per-config.ts';
import { failedCheck } from './unchecked.ts';

const CHECK = 'modelSignature';
const RULES: readonly string[] = [CHECK];

/** The manifest's layers as the runtime writes them, and the signature layer of each layerPath. */
export interface ModelFacts {
  readonly artifact: ArtifactFacts;
  readonly verifications: ReadonlyMap<ModelSignaturePolicy, OmsVerification | VerificationFailure>;
}

const mounted = new WeakMap<ArtifactFacts, readonly MountedLayer[] | string>();

/** Each layer with the name the runtime writes, once per (cached, immutable) facts: a warm review does not name thousands of layers again. */
function mountedLayers(facts: ArtifactFacts): readonly MountedLayer[] | string {
  let layers = mounted.get(facts);
  if (layers === undefined) {
    layers = nameLayers(facts);
    mounted.set(facts, layers);
  }
  return layers;
}

/** Each layer with the name the runtime writes (the denyFiles check's names, artifact/file-names.ts). */
function nameLayers(facts: ArtifactFacts): readonly MountedLayer[] | string {
  if (facts.root.kind !== 'manifest' || facts.manifests.length !== 1)
    return 'the reference names an image index: an OMS signature covers the files of one manifest; pin the digest of the model manifest itself';
  const manifest = facts.manifests[0];
  if (manifest === undefined) return 'no manifest was read';
  return manifest.layers.map((layer, index) => ({
    index,
    digest: layer.digest,
    mediaType: layer.mediaType,
    path: mountedPath(layer),
    names: layerNames(layer),
    tar: isTarLayer(layer.mediaType),
  }));
}

function signatureLayerOf(layers: readonly MountedLayer[] | string, facts: ArtifactFacts, config: ModelSignaturePolicy) {
  if (typeof layers === 'string' || config.location === 'referrer') return undefined;
  const wanted = cleanFileName(config.layerPath);
  const layer = layers.find((candidate) => candidate.path === wanted);
  const descriptor = layer === undefined ? undefined : facts.manifests[0]?.layers[layer.index];
  return layer === undefined || descriptor === undefined ? undefined : { index: layer.index, path: wanted, descriptor };
}

const mappings = new WeakMap<OmsVerification, WeakMap<ArtifactFacts, Map<string, Mapping>>>();

/** The mapping of one verified signature onto the manifest's files (without the signature layer `excluded`), computed once. */
function mappingOf(verification: OmsVerification, facts: ArtifactFacts, index: number, layers: readonly MountedLayer[], excluded: number): Mapping | undefined {
  const statement = verification.signatures[index]?.statement;
  if (statement === undefined) return undefined;
  let byFacts = mappings.get(verification);
  if (byFacts === undefined) {
    byFacts = new WeakMap();
    mappings.set(verification, byFacts);
  }
  let byIndex = byFacts.get(facts);
  if (byIndex === undefined) {
    byIndex = new Map();
    byFacts.set(facts, byIndex);
  }
  const key = `${index}/${excluded}`;
  let mapping = byIndex.get(key);
  if (mapping === undefined) {
    mapping = mapStatement(statement, layers);
    byIndex.set(key, mapping);
  }
  return mapping;
}

const plural = (count: number, noun: string): string => `${count} ${noun}${count === 1 ? '' : 's'}`;
const listed = (items: readonly string[], max = 4): string =>
  items.length <= max ? items.join('; ') : `${items.slice(0, max).join('; ')}; and ${items.length - max} more`;

const FIX_MAPPING =
  'the signed files and the artifact must be the same: sign the model directory as it is pushed (whole files, sha256) and push every file as a raw layer named by its path (modelpack artifact_path or oras with org.cncf.model.filepath); or sign again';
const FIX_SIGNATURE =
  'attach an OMS signature by one of the authorities: `model_signing sign …` on the model directory, then `oras attach --artifact-type application/vnd.dev.sigstore.bundle.v0.3+json` or a layer at layerPath';

export function judgeModelSignature(policy: ModelPolicy, config: ModelSignaturePolicy, verification: OmsVerification, facts: ArtifactFacts): RuleResult[] {
  const layers = mountedLayers(facts);
  const fail = (reason: string, fix: string, details?: readonly string[]): RuleResult[] => [
    { ...failedResult(CHECK, { policy: policy.name, rule: CHECK, mode: policy.mode, reason, fix }), ...(details === undefined ? {} : { details }) },
  ];
  if (typeof layers === 'string') return fail(layers, 'pin the manifest digest of the model');
  const signatureLayer = signatureLayerOf(layers, facts, config);
  const files = signatureLayer === undefined ? layers : layers.filter((layer) => layer.index !== signatureLayer.index);
  let passed = 0;
  const lines: string[] = [];
  let best: { readonly authority: string; readonly source: string; readonly mapping: Mapping } | undefined;
  let passing: { readonly authority: string; readonly source: string; readonly mapping: Mapping } | undefined;
  for (const outcome of verification.authorities) {
    if (outcome.static !== undefined) {
      if (outcome.static === 'pass') passed++;
      lines.push(`${outcome.name} (static): ${outcome.static}`);
      continue;
    }
    let matched: typeof passing;
    for (const index of outcome.verified) {
      const mapping = mappingOf(verification, facts, index, files, signatureLayer?.index ?? -1);
      const source = verification.signatures[index]?.source ?? `signature ${index + 1}`;
      if (mapping === undefined) continue;
      if (mapping.ok) {
        matched = { authority: outcome.name, source, mapping };
        break;
      }
      best ??= { authority: outcome.name, source, mapping };
    }
    if (matched !== undefined) {
      passed++;
      passing ??= matched;
      const compat = verification.signatures.find((signature) => signature.source === matched.source)?.statement?.compat === true;
      lines.push(
        `${outcome.name}: ${matched.source} covers all ${plural(matched.mapping.matched, 'file')}${compat ? ' (older model_signing/Digests/v0.1 predicate)' : ''}`,
      );
    } else if (outcome.verified.length > 0) {
      lines.push(`${outcome.name}: verified ${plural(outcome.verified.length, 'signature')}, none matches the manifest`);
    } else {
      lines.push(`${outcome.name}: ${outcome.failures.length === 0 ? 'no OMS signature found' : listed(outcome.failures, 2)}`);
    }
  }
  const threshold = `${passed} of ${verification.authorities.length} authorities, threshold ${config.threshold}`;
  const rows = (passing ?? best)?.mapping.rows.map((row) => `${row.file}: ${row.verdict}`) ?? [];
  const details = [...lines, ...(rows.length > 0 ? [`file by file (${(passing ?? best)?.source ?? ''}):`, ...rows.map((row) => `  ${row}`)] : [])];
  if (passed >= config.threshold) {
    const what =
      passing === undefined
        ? 'a static authority passed'
        : `${passing.source} by ${passing.authority} covers every mounted file (${plural(passing.mapping.matched, 'file')})`;
    return [{ ...ruleResult(CHECK, policy.name, CHECK, 'pass', `${what}; ${threshold}`), details }];
  }
  if (best !== undefined) {
    return fail(
      `the OMS signature ${best.source} verifies with ${best.authority} but does not match the artifact: ${listed(best.mapping.problems)} (${threshold})`,
      FIX_MAPPING,
      details,
    );
  }
  const found = verification.signatures.length;
  const why =
    found === 0
      ? `no OMS signature found (${config.location === 'layer' ? `no layer ${config.layerPath}` : config.location === 'referrer' ? 'no sigstore bundle referrer of the model signing predicate' : `no model signing bundle referrer and no layer ${config.layerPath}`})`
      : `none of ${plural(found, 'OMS signature')} verified: ${listed(lines, 3)}`;
  if (!verification.complete) {
    const reason = `${why}; the registry could not be read fully: ${listed(verification.problems, 2)}`;
    return [{ ...failedResult(CHECK, couldNotCheck(policy, CHECK, reason), 'error'), details }];
  }
  const truncated = verification.truncated ? ' (more signatures exist than the discovery limit lets be read)' : '';
  return fail(`${why}${truncated} (${threshold})`, FIX_SIGNATURE, details);
}

const judged = new PairMemo<OmsVerification, ModelPolicy, readonly RuleResult[]>();

export const modelSignatureCheck: FetchingCheckKind<ModelSignaturePolicy, ModelFacts> = {
  name: CHECK,
  title: 'model signature',
  rules: RULES,
  needsDigest: true,
  configOf: (policy) => policy.modelSignature,
  needsRegistry: () => true,
  rulesOf: () => RULES,
  fetch(target, configs, sources) {
    const { artifacts, modelSignatures } = sources;
    if (artifacts === undefined || modelSignatures === undefined) throw new Error('no registry access is configured');
    // The manifest as the artifact kind reads it: one cached read serves both. Each policy's
    // verification starts beside it (the referrers listing does not wait for the manifest) and,
    // only when its verdict is not cached, asks for the layer at its layerPath once the manifest is in.
    const reading = artifacts.facts(target.locator, target.digest, false, target.deadline);
    let withLayers: Promise<{ read: ArtifactFacts; layers: readonly MountedLayer[] | string }> | undefined;
    const layerOf = (config: ModelSignaturePolicy) => () => {
      if (withLayers === undefined) {
        withLayers = Promise.resolve(reading).then((read) => ({ read, layers: mountedLayers(read) }));
        // Awaited by the discovery (or the manifest is, below); handled now, so a failed read is never an unhandled rejection.
        withLayers.catch(() => undefined);
      }
      return withLayers.then(({ read, layers }) => signatureLayerOf(layers, read, config));
    };
    // A pod's several policies (and several models, in the engine) verify in parallel; cached ones synchronously.
    const verifications = resultsPerConfig(configs, (config) =>
      modelSignatures.verify(config, target.locator, target.digest, config.location === 'referrer' ? undefined : layerOf(config), target.deadline),
    );
    if (!(reading instanceof Promise) && !(verifications instanceof Promise)) return { artifact: reading, verifications };
    return Promise.all([reading, verifications]).then(([artifact, resolved]) => ({ artifact, verifications: resolved }));
  },
  judge(policy, config, facts) {
    const verification = facts.verifications.get(config);
    if (verification === undefined || verification instanceof VerificationFailure) return [failedCheck(policy, verification?.error, CHECK)];
    // A cached verification is of one digest, whose manifest is fixed: judged (file by file) once per policy.
    return judged.get(verification, policy, () => judgeModelSignature(policy, config, verification, facts.artifact));
  },
};
