import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { TurnBatchedDestination } from '../../src/core/log-destination.ts';
import { PACKAGE_ROOT } from '../../src/core/package-root.ts';

const DESTINATION = join(PACKAGE_ROOT, 'src', 'core', 'log-destination.ts');

function runChild(code: string): { stdout: string; status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
  return { stdout: result.stdout, status: result.status, stderr: result.stderr };
}

describe('log lines: one write per event-loop turn', () => {
  it('holds the lines of a turn and writes them, in order, when the turn ends', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'modelgate-log-')), 'out.log');
    const fd = openSync(file, 'w');
    try {
      const destination = new TurnBatchedDestination(fd);
      for (let i = 0; i < 500; i++) destination.write(`{"n":${i}}\n`);
      assert.equal(readFileSync(file, 'utf8'), '', 'nothing is written during the turn');
      await nextTurn();
      const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
      assert.deepEqual(
        lines.map((line) => (JSON.parse(line) as { n: number }).n),
        Array.from({ length: 500 }, (_, i) => i),
      );
      destination.write('{"n":500}\n');
      destination.flushSync();
      assert.match(readFileSync(file, 'utf8'), /\{"n":500\}\n$/);
    } finally {
      closeSync(fd);
    }
  });

  it('writes what is pending when the process exits, also by process.exit and by an uncaught exception', () => {
    const byExit = runChild(`import { TurnBatchedDestination } from ${JSON.stringify(DESTINATION)};
      const d = new TurnBatchedDestination(1); d.write('before exit\\n'); process.exit(3);`);
    assert.equal(byExit.status, 3);
    assert.equal(byExit.stdout, 'before exit\n');
    const byThrow = runChild(`import { TurnBatchedDestination } from ${JSON.stringify(DESTINATION)};
      const d = new TurnBatchedDestination(1); d.write('before the crash\\n'); throw new Error('boom');`);
    assert.equal(byThrow.status, 1);
    assert.equal(byThrow.stdout, 'before the crash\n');
    assert.match(byThrow.stderr, /boom/);
  });

  it('does not crash when nobody reads the logs any more', () => {
    const child = runChild(`import { TurnBatchedDestination } from ${JSON.stringify(DESTINATION)};
      const d = new TurnBatchedDestination(99); d.write('to a closed descriptor\\n'); d.flushSync(); console.error('still running');`);
    assert.equal(child.status, 0);
    assert.match(child.stderr, /still running/);
  });

  it('is what the process logger writes stdout through, with pino lines intact', () => {
    const child = runChild(`import { createLogger } from ${JSON.stringify(join(PACKAGE_ROOT, 'src', 'core', 'log.ts'))};
      const a = createLogger('info'); const b = createLogger('info');
      a.info({ k: 1 }, 'first'); b.warn('second'); a.debug('hidden');`);
    const lines = child.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(
      lines.map((line) => [line['msg'], line['level'], line['service']]),
      [
        ['first', 30, 'modelgate'],
        ['second', 40, 'modelgate'],
      ],
    );
    assert.equal(lines[0]?.['k'], 1);
  });
});
