/**
 * Rewrites reference scalars in a manifest's text. Each scalar's source range
 * (from the yaml library's Document nodes) is replaced by the new value in the
 * scalar's own style (plain, double or single quoted); every other byte of the
 * file stays as it was: comments, key order, indentation, flow collections,
 * JSON files, line endings. (Printing the Document again would re-indent
 * sequences, re-space flow maps and fold long lines.)
 */
import type { Scalar } from 'yaml';

export interface ScalarEdit {
  readonly node: Scalar;
  readonly value: string;
}

/** A span of the old text replaced by new text, in old-text offsets. */
export interface TextChange {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

/** Characters an image reference (or oci:// URI) may hold that are safe in a plain scalar, in block and flow context alike. */
const PLAIN_SAFE = /^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$/;

export function renderScalar(node: Scalar, value: string): string {
  switch (node.type) {
    case 'QUOTE_DOUBLE':
      return JSON.stringify(value);
    case 'QUOTE_SINGLE':
      return `'${value.replaceAll("'", "''")}'`;
    case 'PLAIN':
      if (PLAIN_SAFE.test(value) && !value.includes(': ')) return value;
      return JSON.stringify(value);
    default:
      throw new Error(`renderScalar: a ${String(node.type)} scalar is not rewritten in place`);
  }
}

export function changesOf(edits: readonly ScalarEdit[]): TextChange[] {
  return edits
    .map((edit) => {
      const range = edit.node.range;
      if (range === undefined || range === null) throw new Error('rewrite: a scalar without a source range');
      return { start: range[0], end: range[1], text: renderScalar(edit.node, edit.value) };
    })
    .sort((a, b) => a.start - b.start);
}

export function applyChanges(text: string, changes: readonly TextChange[]): string {
  let out = '';
  let at = 0;
  for (const change of changes) {
    if (change.start < at) throw new Error('rewrite: overlapping edits');
    out += text.slice(at, change.start) + change.text;
    at = change.end;
  }
  return out + text.slice(at);
}
