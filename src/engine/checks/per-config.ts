/**
 * The facts of a kind that verifies per policy config (signatures, attestations): each config's
 * result read through a cached source, a throw kept as that config's VerificationFailure. Cached
 * results come back synchronously, so a warm review never waits on a promise.
 */

/** A verification that threw, for one policy's config. */
export class VerificationFailure {
  readonly error: unknown;
  constructor(error: unknown) {
    this.error = error;
  }
}

/** Each config's result (or failure), synchronous when every one was. */
export function resultsPerConfig<Config, Result>(
  configs: readonly Config[],
  verify: (config: Config) => Result | Promise<Result>,
): ReadonlyMap<Config, Result | VerificationFailure> | Promise<ReadonlyMap<Config, Result | VerificationFailure>> {
  const outcomes = new Map<Config, Result | VerificationFailure>();
  let waiting: Promise<void>[] | undefined;
  for (const config of configs) {
    try {
      const result = verify(config);
      if (result instanceof Promise) {
        waiting ??= [];
        waiting.push(
          result.then(
            (value: Result) => void outcomes.set(config, value),
            (error: unknown) => void outcomes.set(config, new VerificationFailure(error)),
          ),
        );
      } else outcomes.set(config, result);
    } catch (error) {
      outcomes.set(config, new VerificationFailure(error));
    }
  }
  return waiting === undefined ? outcomes : Promise.all(waiting).then(() => outcomes);
}
