/**
 * Copies of what a cache keeps that hold no reference to the input they came
 * from. V8 makes a substring of 13 or more characters a slice of its parent,
 * and the JSON readers slice values out of a whole document's text; an Error
 * keeps its stack frames' receivers alive until its stack is read, and its
 * cause with them. One kept name or error could keep a 4 MiB manifest alive.
 */
import { ModelgateError } from './errors.ts';

export function detach(value: string): string {
  return value.length < 13 ? value : Buffer.from(value, 'utf8').toString('utf8');
}

/** A content problem as a cache keeps it: its name, code and message only (a content problem, whatever it copies). */
export class KeptRefusal extends ModelgateError {
  static readonly codes = { KEPT_REFUSAL: { contentProblem: true } } as const;

  constructor(original: Error) {
    // A ModelgateError keeps its code and what the code means; anything else is a KEPT_REFUSAL.
    const coded = original instanceof ModelgateError ? original : undefined;
    const code = coded === undefined ? 'KEPT_REFUSAL' : detach(coded.code);
    super({ [code]: { exitCode: coded?.exitCode, httpStatus: coded?.httpStatus, contentProblem: true } }, code, detach(original.message));
    this.name = detach(original.name);
    // Formats the stack now, so that it holds strings rather than frames.
    void this.stack;
  }
}
