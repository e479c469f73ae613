import { ModelgateError } from '../core/errors.ts';
/**
 * Just enough of SPDX license expressions to decide whether an artifact's
 * licences are allowed: `MIT`, `Apache-2.0 OR MIT`, `(MIT AND BSD-3-Clause)`,
 * `GPL-2.0-only WITH Classpath-exception-2.0`. OR needs one allowed side,
 * AND needs both; a WITH exception must be allowed as `LICENSE WITH EXCEPTION`
 * or the licence alone is judged.
 */

type Expression = { readonly kind: 'license'; readonly id: string } | { readonly kind: 'and' | 'or'; readonly left: Expression; readonly right: Expression };

export class LicenseExpressionError extends ModelgateError<'INVALID_LICENSE_EXPRESSION'> {
  static readonly codes = { INVALID_LICENSE_EXPRESSION: {} } as const;
  override readonly name = 'LicenseExpressionError';
  constructor(message: string) {
    super(LicenseExpressionError.codes, 'INVALID_LICENSE_EXPRESSION', message);
  }
}

function tokenize(text: string): string[] {
  return text
    .replace(/([()])/g, ' $1 ')
    .split(/\s+/)
    .filter((token) => token !== '');
}

export function parseLicenseExpression(text: string): Expression {
  const tokens = tokenize(text);
  let position = 0;
  const peek = (): string | undefined => tokens[position];
  const primary = (): Expression => {
    const token = tokens[position++];
    if (token === undefined) throw new LicenseExpressionError(`licence expression ${JSON.stringify(text)} ends early`);
    if (token === '(') {
      const inner = or();
      if (tokens[position++] !== ')') throw new LicenseExpressionError(`licence expression ${JSON.stringify(text)} has an unclosed "("`);
      return inner;
    }
    if (token === ')' || /^(AND|OR|WITH)$/i.test(token))
      throw new LicenseExpressionError(`licence expression ${JSON.stringify(text)} has an unexpected ${JSON.stringify(token)}`);
    if (peek()?.toUpperCase() === 'WITH') {
      position++;
      const exception = tokens[position++];
      if (exception === undefined) throw new LicenseExpressionError(`licence expression ${JSON.stringify(text)} has WITH without an exception`);
      return { kind: 'license', id: `${token} WITH ${exception}` };
    }
    return { kind: 'license', id: token };
  };
  const and = (): Expression => {
    let left = primary();
    while (peek()?.toUpperCase() === 'AND') {
      position++;
      left = { kind: 'and', left, right: primary() };
    }
    return left;
  };
  const or = (): Expression => {
    let left = and();
    while (peek()?.toUpperCase() === 'OR') {
      position++;
      left = { kind: 'or', left, right: and() };
    }
    return left;
  };
  const result = or();
  if (position !== tokens.length)
    throw new LicenseExpressionError(`licence expression ${JSON.stringify(text)} has trailing ${JSON.stringify(tokens[position])}`);
  return result;
}

/** Whether the expression is satisfied by the allowed licence identifiers (compared case-insensitively). */
export function licenseAllowed(expression: Expression, allowed: ReadonlySet<string>): boolean {
  switch (expression.kind) {
    case 'license': {
      const id = expression.id.toLowerCase();
      return allowed.has(id) || (id.includes(' with ') && allowed.has(id.slice(0, id.indexOf(' with '))));
    }
    case 'and':
      return licenseAllowed(expression.left, allowed) && licenseAllowed(expression.right, allowed);
    case 'or':
      return licenseAllowed(expression.left, allowed) || licenseAllowed(expression.right, allowed);
  }
}
