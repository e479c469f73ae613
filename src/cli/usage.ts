/** Command-line usage errors end with exit code 2 and, unless the message says what to type, a pointer to the usage. */
export class UsageError extends Error {
  /** Whether to add "Run `modelgate … --help` for usage." (not after a "did you mean"). */
  readonly pointToHelp: boolean;
  constructor(message: string, options: { readonly pointToHelp?: boolean } = {}) {
    super(message);
    this.name = 'UsageError';
    this.pointToHelp = options.pointToHelp ?? true;
  }
}

export const EXIT_OK = 0;
export const EXIT_DENIED = 1;
export const EXIT_USAGE = 2;
