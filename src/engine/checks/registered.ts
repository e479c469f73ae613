/**
 * The check kinds the engine runs, in the order their results are reported.
 * Adding a kind: its module beside these, and one line here.
 */
import { BUILT_IN_RULES } from '../result.ts';
import { artifactCheck } from './artifact.ts';
import { attestationCheck } from './attestations.ts';
import type { AnyCheckKind } from './kind.ts';
import { modelSignatureCheck } from './model-signature.ts';
import { referenceCheck } from './reference.ts';
import { signatureCheck } from './signatures.ts';

export const CHECK_KINDS: readonly AnyCheckKind[] = [
  referenceCheck, // requireDigest, registries
  artifactCheck, // spec.artifact
  signatureCheck, // spec.signatures
  modelSignatureCheck, // spec.modelSignature
  attestationCheck, // spec.attestations
];

/** Kinds judged on the reference alone, before any registry work. */
export const REFERENCE_KINDS: readonly AnyCheckKind[] = CHECK_KINDS.filter((kind) => !kind.needsDigest);
/** Kinds that read facts about a pinned digest. */
export const DIGEST_KINDS: readonly AnyCheckKind[] = CHECK_KINDS.filter((kind) => kind.needsDigest);

/** Every rule name a result can carry: the built-in rules and each kind's. */
export const KNOWN_RULES: ReadonlySet<string> = new Set([...BUILT_IN_RULES, ...CHECK_KINDS.flatMap((kind) => kind.rules)]);
