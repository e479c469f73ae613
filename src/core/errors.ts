/**
 * Failures that are verdicts. A registry that answered with content that is
 * wrong (tampered, malformed, ambiguous, too large, or pointing where
 * modelgate will not connect) fails the rule whatever `onError` says: onError
 * is only for checks that could not complete. Errors mark themselves with
 * `contentProblem: true`.
 */
export interface ContentProblem {
  readonly contentProblem: true;
}

export function isContentProblem(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as Partial<ContentProblem>).contentProblem === true;
}
