/**
 * The one error idiom of modelgate, in the style of sigstore-js: every error a
 * user can act on is a ModelgateError with a stable string `code` that callers
 * and tests branch on (never its class or its message). Each class declares its
 * codes in a table, and the table says what a code means outside the code: the
 * CLI's exit code, the HTTP status of the server's answer, and whether it is a
 * content problem. describeError turns anything thrown into its message.
 */

/** Exit code of a command ended by an error whose message says what to fix: usage, policy, manifests, TLS files, cluster. */
export const EXIT_USAGE = 2;

/** What a code means to the CLI, the server and the engine. */
export interface CodeTraits {
  /**
   * The CLI's exit code when an error of this code ends a command; the message
   * is all the user sees. Without one, the error is not expected to end a
   * command: the CLI lets it through (its stack is printed, exit 1).
   */
  readonly exitCode?: number;
  /** The HTTP status of the server's answer to a request that failed with this code; without one, no answer of its own. */
  readonly httpStatus?: number;
  /**
   * A verdict, not a failure to check: what a registry served is wrong
   * (tampered, malformed, ambiguous, too large, or pointing where modelgate
   * will not connect) and the rule fails whatever `onError` says, which is
   * only for checks that could not complete.
   */
  readonly contentProblem?: boolean;
}

/** The codes of one error class and what each means. */
export type CodeTable<C extends string> = Readonly<Record<C, CodeTraits>>;

export abstract class ModelgateError<C extends string = string> extends Error {
  readonly code: C;
  readonly exitCode: number | undefined;
  readonly httpStatus: number | undefined;
  readonly contentProblem: boolean;

  protected constructor(codes: CodeTable<C>, code: C, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    const traits = codes[code];
    this.code = code;
    this.exitCode = traits.exitCode;
    this.httpStatus = traits.httpStatus;
    this.contentProblem = traits.contentProblem === true;
  }
}

/** A content problem (see CodeTraits.contentProblem): a ModelgateError whose code is one, or any value marked `contentProblem: true`. */
export interface ContentProblem {
  readonly contentProblem: true;
}

export function isContentProblem(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as Partial<ContentProblem>).contentProblem === true;
}

/** The message of anything thrown: an Error's message, else the value as text. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  try {
    return String(error);
  } catch {
    // An object without a usable toString (Object.create(null)).
    return Object.prototype.toString.call(error);
  }
}

/** The CLI's exit code for an error that ends a command, or undefined for one it does not expect (see CodeTraits.exitCode). */
export const exitCodeOf = (error: unknown): number | undefined => (error instanceof ModelgateError ? error.exitCode : undefined);

/** The HTTP status the server answers a failed request with, or undefined for an error without one (see CodeTraits.httpStatus). */
export const httpStatusOf = (error: unknown): number | undefined => (error instanceof ModelgateError ? error.httpStatus : undefined);

/** Why a file could not be read: its system error code (`ENOENT`, `EACCES`), else its message. */
export function describeFileError(error: unknown): string {
  const code = typeof error === 'object' && error !== null ? (error as NodeJS.ErrnoException).code : undefined;
  return typeof code === 'string' ? code : describeError(error);
}
