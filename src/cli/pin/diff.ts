/**
 * The unified diff `pin --dry-run` prints. The changes are known (spans of
 * the old text and their replacements), so the changed lines come from them
 * rather than from a general diff algorithm; unchanged lines around them are
 * context, three as `diff -u` gives.
 */
import type { TextChange } from './rewrite.ts';

const CONTEXT = 3;

interface Block {
  /** Old-text line indices, inclusive. */
  readonly first: number;
  readonly last: number;
  readonly added: readonly string[];
}

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}

/** Index of the line holding offset `at`. */
function lineAt(starts: readonly number[], at: number): number {
  let low = 0;
  let high = starts.length - 1;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if ((starts[mid] as number) <= at) low = mid;
    else high = mid - 1;
  }
  return low;
}

/** Changed line blocks: changes that touch the same or adjacent lines go in one block. */
function blocksOf(text: string, changes: readonly TextChange[], starts: readonly number[]): Block[] {
  const grouped: { first: number; last: number; changes: TextChange[] }[] = [];
  for (const change of changes) {
    const first = lineAt(starts, change.start);
    const last = lineAt(starts, Math.max(change.start, change.end - 1));
    const open = grouped.at(-1);
    if (open !== undefined && first <= open.last) {
      open.last = Math.max(open.last, last);
      open.changes.push(change);
    } else grouped.push({ first, last, changes: [change] });
  }
  return grouped.map(({ first, last, changes: inBlock }) => {
    const from = starts[first] as number;
    const to = last + 1 < starts.length ? (starts[last + 1] as number) - 1 : text.length;
    let replaced = '';
    let at = from;
    for (const change of inBlock) {
      replaced += text.slice(at, change.start) + change.text;
      at = change.end;
    }
    replaced += text.slice(at, to);
    return { first, last, added: replaced.split('\n') };
  });
}

export function unifiedDiff(name: string, text: string, changes: readonly TextChange[]): string {
  if (changes.length === 0) return '';
  const starts = lineStarts(text);
  const lines = text.split('\n');
  // A final newline leaves an empty last "line" that is not one.
  const count = text.endsWith('\n') ? lines.length - 1 : lines.length;
  const blocks = blocksOf(text, changes, starts);
  let out = `--- ${name}\n+++ ${name}\n`;
  let delta = 0;
  let index = 0;
  while (index < blocks.length) {
    // A hunk: blocks whose contexts touch.
    let end = index;
    while (end + 1 < blocks.length && (blocks[end + 1] as Block).first - (blocks[end] as Block).last <= 2 * CONTEXT + 1) end++;
    const head = blocks[index] as Block;
    const tail = blocks[end] as Block;
    const from = Math.max(0, head.first - CONTEXT);
    const to = Math.min(count - 1, tail.last + CONTEXT);
    let body = '';
    let oldCount = 0;
    let newCount = 0;
    let line = from;
    for (const block of blocks.slice(index, end + 1)) {
      for (; line < block.first; line++, oldCount++, newCount++) body += ` ${lines[line]}\n`;
      for (; line <= block.last; line++, oldCount++) body += `-${lines[line]}\n`;
      for (const added of block.added) body += `+${added}\n`;
      newCount += block.added.length;
    }
    for (; line <= to; line++, oldCount++, newCount++) body += ` ${lines[line]}\n`;
    const newFrom = from + delta;
    out += `@@ -${from + 1},${oldCount} +${newFrom + 1},${newCount} @@\n${body}`;
    delta += newCount - oldCount;
    index = end + 1;
  }
  return out;
}
