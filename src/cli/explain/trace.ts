/**
 * `modelgate explain REFERENCE`: the whole trace for one model reference, as
 * the webhook would judge it in a namespace. Parsed reference; the digest
 * (from the reference, or resolved from its tag through the registry); the
 * manifest; every matching policy with each of its rules; each signature
 * authority; the verdict with reasons and fixes; and the time of each step.
 *
 * The verdict (and the exit code) is the engine's own: evaluateReference on
 * the reference as written, exactly as in a review. The manifest and the
 * signature results shown are read first through the same caches the engine
 * then reads, so the trace and the verdict are about the same facts. A
 * reference with only a tag is judged as written (requireDigest applies); the
 * digest its tag resolves to is then judged too, under "if pinned", so the
 * trace says what pinning it would change.
 */
import { createEngine, createRegistryAccess } from '../../engine/engine.ts';
import { matchingPolicies } from '../../policy/match.ts';
import type { PolicySet } from '../../policy/types.ts';
import { InvalidReferenceError, formatReference, parseReference, repositoryName } from '../../reference/parse.ts';
import type { ImageReference } from '../../reference/parse.ts';
import { Clock } from './clock.ts';
import { explainEvaluation } from './evaluation.ts';
import { errorText, readFacts } from './facts.ts';
import type { ReadFacts } from './facts.ts';
import type { ExplainReport, Resolution } from './model.ts';

export interface ExplainOptions {
  readonly namespace: string;
  readonly offline: boolean;
}

export async function explainReference(input: string, policySet: PolicySet, options: ExplainOptions): Promise<ExplainReport> {
  const clock = new Clock();
  const { namespace } = options;
  let ref: ImageReference | undefined;
  let parseError: string | undefined;
  await clock.time('parse reference', () => {
    try {
      ref = parseReference(input);
    } catch (error) {
      parseError = error instanceof InvalidReferenceError ? error.reason : errorText(error);
    }
  });
  const access = options.offline ? undefined : createRegistryAccess(policySet.config);
  const engine = createEngine(policySet, { offline: options.offline, ...(access === undefined ? {} : { registry: access }) });
  try {
    if (ref === undefined) {
      const evaluation = await explainEvaluation(input, engine, namespace, undefined, clock, 'evaluate');
      clock.total();
      return {
        reference: { input, valid: false, error: parseError ?? 'invalid reference' },
        namespace,
        policyRevision: policySet.revision,
        resolution: { source: 'none', note: 'the reference is invalid' },
        evaluation,
        timings: clock.timings,
      };
    }
    const parsed = ref;
    const policies = await clock.time('match policies', () => matchingPolicies(policySet, namespace, repositoryName(parsed)));
    const locator = { registry: parsed.registry, repository: parsed.repository };

    let resolution: Resolution;
    if (parsed.digest !== undefined) {
      resolution = { source: 'reference', digest: parsed.digest, note: 'pinned by digest in the reference' };
    } else {
      const tag = parsed.tag ?? 'latest';
      const request = `GET /v2/${parsed.repository}/manifests/${tag} on ${parsed.registry}`;
      if (access === undefined) {
        resolution = { source: 'none', tag, note: `not resolved: --offline (the reference means tag ${JSON.stringify(tag)})` };
      } else {
        try {
          const fetched = await clock.time(`resolve tag ${tag}`, () =>
            access.client.fetchManifestByTag(locator, tag, { deadline: Date.now() + policySet.config.timeouts.totalMs }),
          );
          resolution = {
            source: 'tag',
            digest: fetched.digest,
            tag,
            request,
            note: `resolved from tag ${JSON.stringify(tag)} (${request}); admission judges the reference as written, without this digest`,
          };
        } catch (error) {
          resolution = { source: 'none', tag, request, error: errorText(error), note: `tag ${JSON.stringify(tag)} could not be resolved (${request})` };
        }
      }
    }

    let facts: ReadFacts | undefined;
    if (resolution.digest !== undefined && access !== undefined) {
      const sources = { artifacts: access.cache, signatures: access.signatureCache, modelSignatures: access.modelSignatureCache };
      facts = await readFacts(parsed, resolution.digest, policies, sources, policySet.config.timeouts.totalMs, clock);
    }
    const artifact = facts?.artifact;

    const evaluation = await explainEvaluation(input, engine, namespace, parsed.digest === undefined ? undefined : facts?.signatures, clock, 'evaluate');
    const pinnedReference =
      resolution.source === 'tag' && resolution.digest !== undefined
        ? formatReference({ ...parsed, tag: resolution.tag, digest: resolution.digest })
        : undefined;
    const ifPinned =
      pinnedReference === undefined ? undefined : await explainEvaluation(pinnedReference, engine, namespace, facts?.signatures, clock, 'evaluate if pinned');
    clock.total();
    return {
      reference: {
        input,
        valid: true,
        registry: parsed.registry,
        repository: parsed.repository,
        ...(parsed.tag === undefined ? {} : { tag: parsed.tag }),
        ...(parsed.digest === undefined ? {} : { digest: parsed.digest }),
        normalized: formatReference(parsed),
      },
      namespace,
      policyRevision: policySet.revision,
      resolution,
      ...(artifact === undefined ? {} : { artifact }),
      evaluation,
      ...(ifPinned === undefined ? {} : { ifPinned }),
      timings: clock.timings,
    };
  } finally {
    await access?.client.close();
  }
}
