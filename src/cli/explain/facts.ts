/**
 * The facts explain shows beside the verdict: the manifest and each policy's
 * signature authorities. They are read through the check kinds' own fetch and
 * the engine's caches before the evaluation, so the evaluation after it judges
 * the same facts (from the cache) and the time of each read is its own step.
 */
import { describeError } from '../../core/errors.ts';
import type { ImageManifest } from '../../artifact/manifest.ts';
import { LICENSES_ANNOTATION } from '../../artifact/media-types.ts';
import { fileNameOf } from '../../artifact/rules.ts';
import type { ArtifactFacts } from '../../artifact/rules.ts';
import { artifactCheck } from '../../engine/checks/artifact.ts';
import type { CheckSources, CheckTarget } from '../../engine/checks/kind.ts';
import { VerificationFailure, signatureCheck } from '../../engine/checks/signatures.ts';
import type { ModelPolicy } from '../../policy/types.ts';
import type { ImageReference } from '../../reference/parse.ts';
import type { SignatureResult } from '../../signature/verify.ts';
import type { ArtifactSummary, ManifestSummary, SignatureTrace } from './model.ts';
import type { Clock } from './clock.ts';

/** The error, with the operator's detail a registry error keeps out of admission answers (explain runs on the operator's side). */
export const errorText = (error: unknown): string => {
  if (!(error instanceof Error)) return describeError(error);
  const diagnostic = (error as { diagnostic?: unknown }).diagnostic;
  return typeof diagnostic === 'string' ? `${error.message} (cause: ${diagnostic})` : error.message;
};

function summarizeManifest(manifest: ImageManifest, facts: ArtifactFacts): ManifestSummary {
  const config = facts.configs.get(manifest.config.digest);
  const annotated = manifest.annotations[LICENSES_ANNOTATION];
  const licenses = config?.ok === true && config.config.licenses.length > 0 ? config.config.licenses : annotated === undefined ? undefined : [annotated];
  const format = config?.ok === true ? config.config.format : undefined;
  return {
    digest: manifest.digest,
    mediaType: manifest.mediaType,
    ...(manifest.artifactType === undefined ? {} : { artifactType: manifest.artifactType }),
    config: { mediaType: manifest.config.mediaType, digest: manifest.config.digest, size: manifest.config.size },
    ...(format === undefined ? {} : { format }),
    ...(licenses === undefined ? {} : { licenses }),
    layers: manifest.layers.map((layer) => {
      const file = fileNameOf(layer);
      return { mediaType: layer.mediaType, digest: layer.digest, size: layer.size, ...(file === undefined ? {} : { file }) };
    }),
    totalSize: manifest.layers.reduce((sum, layer) => sum + layer.size, 0),
  };
}

export function summarizeArtifact(facts: ArtifactFacts): ArtifactSummary {
  const { root } = facts;
  return {
    digest: root.digest,
    kind: root.kind,
    mediaType: root.mediaType,
    ...(root.artifactType === undefined ? {} : { artifactType: root.artifactType }),
    manifests: facts.manifests.map((manifest) => summarizeManifest(manifest, facts)),
  };
}

function signatureTrace(result: SignatureResult): SignatureTrace {
  return {
    threshold: result.threshold,
    passed: result.passed,
    passedCount: result.passedCount,
    signaturesRead: result.signatures,
    complete: result.complete,
    problems: result.problems,
    authorities: result.authorities.map((outcome) => ({
      name: outcome.name,
      kind: outcome.kind,
      passed: outcome.passed,
      reason: outcome.reason,
      ...(outcome.signature === undefined ? {} : { signature: outcome.signature }),
    })),
  };
}

export interface ReadFacts {
  readonly artifact: ArtifactSummary | { readonly error: string };
  /** By policy name, for the policies with spec.signatures. */
  readonly signatures: ReadonlyMap<string, SignatureTrace | { readonly error: string }>;
}

/** Reads the manifest (as the matching policies' artifact rules need it) and each policy's signatures, each a timed step. */
export async function readFacts(
  ref: ImageReference,
  digest: string,
  policies: readonly ModelPolicy[],
  sources: CheckSources,
  totalMs: number,
  clock: Clock,
): Promise<ReadFacts> {
  const target = (): CheckTarget => ({ locator: { registry: ref.registry, repository: ref.repository }, digest, deadline: Date.now() + totalMs });
  const artifactConfigs = policies.flatMap((policy) => artifactCheck.configOf(policy) ?? []);
  let artifact: ArtifactSummary | { error: string };
  try {
    artifact = summarizeArtifact(await clock.time('read manifest', () => artifactCheck.fetch(target(), artifactConfigs, sources)));
  } catch (error) {
    artifact = { error: errorText(error) };
  }
  const signatures = new Map<string, SignatureTrace | { error: string }>();
  for (const policy of policies) {
    const config = signatureCheck.configOf(policy);
    if (config === undefined) continue;
    let outcome: SignatureResult | VerificationFailure | undefined;
    try {
      outcome = (await clock.time(`verify signatures (${policy.name})`, () => signatureCheck.fetch(target(), [config], sources))).get(config);
    } catch (error) {
      outcome = new VerificationFailure(error);
    }
    if (outcome === undefined || outcome instanceof VerificationFailure) signatures.set(policy.name, { error: errorText(outcome?.error) });
    else signatures.set(policy.name, signatureTrace(outcome));
  }
  return { artifact, signatures };
}
