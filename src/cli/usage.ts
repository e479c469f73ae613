import { EXIT_USAGE, ModelgateError } from '../core/errors.ts';

export { EXIT_USAGE };

/** Command-line usage errors end with exit code 2 and, unless the message says what to type, a pointer to the usage. */
export class UsageError extends ModelgateError<'USAGE'> {
  static readonly codes = { USAGE: { exitCode: EXIT_USAGE } } as const;
  override readonly name = 'UsageError';
  /** Whether to add "Run `modelgate … --help` for usage." (not after a "did you mean"). */
  readonly pointToHelp: boolean;
  constructor(message: string, options: { readonly pointToHelp?: boolean } = {}) {
    super(UsageError.codes, 'USAGE', message);
    this.pointToHelp = options.pointToHelp ?? true;
  }
}

export const EXIT_OK = 0;
export const EXIT_DENIED = 1;
