/**
 * Which referrers a listing keeps: those of the asked artifact types, each type capped on its
 * own, so that a flood of one type (attestations, SBOMs) cannot hide another (signatures) while
 * one listing serves every type a check needs (one round trip, not one per type).
 */
import type { Descriptor } from './types.ts';

export class ReferrerSelection {
  readonly kept: Descriptor[] = [];
  /** True once a descriptor was left out because its type was full. */
  truncated = false;
  readonly #types: readonly string[] | undefined;
  readonly #max: number;
  readonly #counts = new Map<string | undefined, number>();

  /** `artifactTypes` undefined: every referrer counts against one cap. */
  constructor(artifactTypes: readonly string[] | undefined, max: number) {
    this.#types = artifactTypes;
    this.#max = max;
  }

  /** Offers the next descriptor of the listing; false when every type is full and reading on is pointless. */
  offer(descriptor: Descriptor): boolean {
    if (this.#types !== undefined && (descriptor.artifactType === undefined || !this.#types.includes(descriptor.artifactType))) return true;
    const bucket = this.#types === undefined ? undefined : descriptor.artifactType;
    const count = this.#counts.get(bucket) ?? 0;
    if (count >= this.#max) {
      this.truncated = true;
      return !this.#full();
    }
    this.#counts.set(bucket, count + 1);
    this.kept.push(descriptor);
    return true;
  }

  #full(): boolean {
    const buckets: readonly (string | undefined)[] = this.#types ?? [undefined];
    return buckets.every((bucket) => (this.#counts.get(bucket) ?? 0) >= this.#max);
  }
}

/** The artifact types of a ReferrersOptions.artifactType: none (all), one, or several. */
export function artifactTypesOf(artifactType: string | readonly string[] | undefined): readonly string[] | undefined {
  return artifactType === undefined ? undefined : typeof artifactType === 'string' ? [artifactType] : artifactType;
}
