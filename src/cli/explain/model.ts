/**
 * The explain report: what `explain -o json` prints and renderExplain turns
 * into text. The parsed reference, its digest, the manifest and signature
 * facts read, and each evaluation as the engine's rule results, per policy.
 */
import type { PolicyMode } from '../../policy/types.ts';
import type { PolicyInfo } from '../policy-source.ts';
import type { RowVerdict } from '../report.ts';

export interface ParsedReference {
  readonly input: string;
  readonly valid: boolean;
  /** Why the reference is invalid. */
  readonly error?: string;
  readonly registry?: string;
  readonly repository?: string;
  readonly tag?: string;
  readonly digest?: string;
  /** registry/repository[:tag][@digest], normalised (docker.io, library/). */
  readonly normalized?: string;
}

export interface Resolution {
  /** `reference`: pinned as written; `tag`: resolved through the registry; `none`: not resolved (see note). */
  readonly source: 'reference' | 'tag' | 'none';
  readonly digest?: string;
  readonly tag?: string;
  /** The request that resolved it, e.g. `GET /v2/acme/models/llama/manifests/v1 on ghcr.io`. */
  readonly request?: string;
  readonly error?: string;
  readonly note: string;
}

export interface LayerSummary {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  /** From org.cncf.model.filepath or org.opencontainers.image.title. */
  readonly file?: string;
}

export interface ManifestSummary {
  readonly digest: string;
  readonly mediaType: string;
  readonly artifactType?: string;
  readonly config: { readonly mediaType: string; readonly digest: string; readonly size: number };
  /** From the ModelPack config, when a rule needed it read, or the licences annotation. */
  readonly format?: string;
  readonly licenses?: readonly string[];
  readonly layers: readonly LayerSummary[];
  readonly totalSize: number;
}

export interface ArtifactSummary {
  readonly digest: string;
  readonly kind: 'manifest' | 'index';
  readonly mediaType: string;
  readonly artifactType?: string;
  /** The manifest itself, or each manifest of the index. */
  readonly manifests: readonly ManifestSummary[];
}

/** How a rule is listed: the engine's pass, fail (and error), skipped (off) and not-checked. */
export type TraceResult = 'pass' | 'fail' | 'off' | 'not checked';

export interface RuleTrace {
  readonly rule: string;
  readonly result: TraceResult;
  /** For fail: the strongest mode among its findings (enforce denies, warn warns, audit records). */
  readonly mode?: PolicyMode;
  /** What was checked, or why it failed (one line per finding). */
  readonly details: readonly string[];
  readonly fixes?: readonly string[];
  /** Facts the check reported with its results (a model signature's file-by-file mapping), listed below the rules. */
  readonly facts?: readonly string[];
}

export interface AuthorityTrace {
  readonly name: string;
  readonly kind: string;
  readonly passed: boolean;
  readonly reason: string;
  readonly signature?: string;
}

export interface SignatureTrace {
  readonly threshold: number;
  readonly passed: boolean;
  readonly passedCount: number;
  readonly signaturesRead: number;
  readonly complete: boolean;
  readonly problems: readonly string[];
  readonly authorities: readonly AuthorityTrace[];
}

export interface PolicyTrace {
  readonly name: string;
  readonly mode: PolicyMode;
  readonly source: string;
  readonly onError: string;
  readonly rules: readonly RuleTrace[];
  /** Per-authority results, when the policy has spec.signatures and they could be read. */
  readonly signatures?: SignatureTrace | { readonly error: string };
}

export interface FindingTrace {
  readonly policy: string;
  readonly rule: string;
  readonly mode: PolicyMode;
  readonly reason: string;
  readonly fix: string;
}

export interface Evaluation {
  /** The reference judged. */
  readonly reference: string;
  readonly verdict: RowVerdict;
  readonly policies: readonly PolicyTrace[];
  /** Rules that belong to no policy: an invalid reference, the Config's defaultAction. */
  readonly builtIn: readonly RuleTrace[];
  readonly findings: readonly FindingTrace[];
}

export interface Timing {
  readonly step: string;
  readonly ms: number;
}

export interface ExplainReport {
  readonly reference: ParsedReference;
  readonly namespace: string;
  readonly policyRevision: string;
  /** Where the policy came from (runExplain sets it): files, the bundled file, or the cluster's ConfigMaps. */
  readonly policy?: PolicyInfo;
  readonly resolution: Resolution;
  readonly artifact?: ArtifactSummary | { readonly error: string };
  /** The reference as written: what the webhook decides, and the exit code. */
  readonly evaluation: Evaluation;
  /** Only for a reference without digest whose tag was resolved: the same reference pinned to that digest. */
  readonly ifPinned?: Evaluation;
  readonly timings: readonly Timing[];
}
