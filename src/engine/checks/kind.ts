/**
 * The seam for a check kind (reference rules, artifact rules, signatures, …):
 * which part of a policy configures it, whether it needs a digest and the
 * registry, the facts it reads through the engine's cached sources, and a
 * pure judge that turns facts into rule results. The engine (evaluate.ts),
 * the registry question (registry-needs.ts), the metrics and `explain` loop
 * over the kinds registered in registered.ts.
 */
import type { ArtifactSource } from '../../artifact/source.ts';
import type { AttestationSource } from '../../attestation/source.ts';
import type { ConditionSpend } from '../../attestation/conditions.ts';
import type { RepositoryLocator } from '../../oci/types.ts';
import type { ModelPolicy } from '../../policy/types.ts';
import type { ImageReference } from '../../reference/parse.ts';
import type { ModelSignatureSource } from '../../signature/oms-source.ts';
import type { SignatureSource } from '../../signature/source.ts';
import type { RuleResult } from '../result.ts';

/** The engine's sources, each reading through its cache; undefined where no registry may be contacted (offline). */
export interface CheckSources {
  readonly artifacts: ArtifactSource | undefined;
  readonly signatures?: SignatureSource | undefined;
  readonly modelSignatures?: ModelSignatureSource | undefined;
  readonly attestations?: AttestationSource | undefined;
}

/** The object whose reference is judged, for checks whose rules read it (attestation conditions' `object`). */
export interface JudgedObject {
  readonly namespace: string;
  readonly name: string;
  readonly kind: string;
  /** What attestation conditions have spent in this review, shared by all its references; absent: a budget per call. */
  readonly conditionSpend?: ConditionSpend | undefined;
}

/** What facts are read about: a digest in a repository, before a deadline. */
export interface CheckTarget {
  readonly locator: RepositoryLocator;
  readonly digest: string;
  /** Date.now() by which all registry work must be over. */
  readonly deadline: number;
}

/**
 * One kind of check. Methods (not function properties) so that kinds of
 * different Config and Facts register in one list.
 */
export interface CheckKind<Config, Facts> {
  /** The `check` of its results, and the rule under which a failure of the whole check is reported. */
  readonly name: string;
  /** What messages call its rules, e.g. `artifact rules`. */
  readonly title: string;
  /** Every rule it reports, in the order they are listed (explain, metrics). */
  readonly rules: readonly string[];
  /** Judged only on a digest-pinned reference, once the reference rules allow it: its facts are read by digest. */
  readonly needsDigest: boolean;
  /** The part of a policy that configures it; undefined where the policy does not use it. */
  configOf(policy: ModelPolicy): Config | undefined;
  /** Whether a policy configured so needs registry access. */
  needsRegistry(config: Config): boolean;
  /** The rules a config turns on: each is reported as not checked when the facts cannot be had. */
  rulesOf(config: Config): readonly string[];
  /**
   * The facts about the target for the configs of all the policies that matched, read once through the
   * engine's cached sources; synchronous when cached. Throws (or rejects) when they cannot be had: each
   * policy's check then fails as its onError says. Absent for a kind that judges the reference alone.
   */
  fetch?(target: CheckTarget, configs: readonly Config[], sources: CheckSources): Facts | Promise<Facts>;
  /** Pure: the results of one policy's rules (facts undefined for a kind without fetch) for the object under review. */
  judge(policy: ModelPolicy, config: Config, facts: Facts, ref: ImageReference, object: JudgedObject): readonly RuleResult[];
}

/** A kind that reads facts from the registry. */
export interface FetchingCheckKind<Config, Facts> extends CheckKind<Config, Facts> {
  fetch(target: CheckTarget, configs: readonly Config[], sources: CheckSources): Facts | Promise<Facts>;
}

/** Kinds of any Config and Facts, as the registry lists them. */
export type AnyCheckKind = CheckKind<unknown, unknown>;
