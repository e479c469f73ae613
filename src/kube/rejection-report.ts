/**
 * Invalid policy ConfigMaps, told once: each rejection is logged with ConfigMap, key and
 * field path and recorded as a Warning Event (reason InvalidPolicy) on its ConfigMap the
 * first time it is seen, not on every reconcile; one that is gone or valid again is logged.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../core/log.ts';
import { formatProblem } from '../policy/load.ts';
import type { EventRecorder } from './events.ts';
import { describeRejection } from './policy-configmaps.ts';
import type { PolicyUnit, UnitRejection } from './policy-configmaps.ts';

export const INVALID_POLICY_REASON = 'InvalidPolicy';

const rejectionId = (rejection: UnitRejection): string =>
  createHash('sha256')
    .update(rejection.unit.fingerprint)
    .update(rejection.problems.map(formatProblem).join('\n'))
    .update(rejection.kept)
    .digest('hex')
    .slice(0, 24);

export class RejectionReporter {
  readonly #logger: Logger;
  readonly #events: EventRecorder;
  /** Rejections already reported, per ConfigMap key. */
  readonly #reported = new Map<string, string>();

  constructor(logger: Logger, events: EventRecorder) {
    this.#logger = logger;
    this.#events = events;
  }

  /** Logs, records and returns the rejections not reported before; forgets those that are gone (`good`: the units in use now). */
  report(rejections: readonly UnitRejection[], good: ReadonlyMap<string, PolicyUnit>): string[] {
    const logger = this.#logger;
    const errors: string[] = [];
    const current = new Set<string>();
    for (const rejection of rejections) {
      const { unit } = rejection;
      current.add(unit.key);
      const id = rejectionId(rejection);
      if (this.#reported.get(unit.key) === id) continue;
      this.#reported.set(unit.key, id);
      const message = describeRejection(rejection);
      errors.push(message);
      logger.error(
        {
          configMap: unit.key,
          resourceVersion: unit.resourceVersion,
          kept: rejection.kept,
          problems: rejection.problems.map((problem) => ({ source: problem.source, document: problem.document, path: problem.path, message: problem.message })),
        },
        `invalid policy in ConfigMap ${unit.key}: ${rejection.kept === 'last-good' ? 'keeping its last good content' : 'none of its policies are active'}`,
      );
      void this.#events.warning(
        { namespace: unit.namespace, name: unit.name, uid: unit.uid, resourceVersion: unit.resourceVersion },
        { reason: INVALID_POLICY_REASON, message, key: id },
      );
    }
    for (const key of [...this.#reported.keys()]) {
      if (current.has(key)) continue;
      this.#reported.delete(key);
      logger.info({ configMap: key }, good.has(key) ? 'policy ConfigMap is valid again' : 'invalid policy ConfigMap is gone');
    }
    return errors;
  }
}
