// One directory per test process for everything the test bed writes:
//
//   $TMPDIR/modelgate-e2e-run-XXXXXX/
//     logs/   server logs (etcd, kube-apiserver, registries)
//     tmp/    certificates, etcd data, OCI layouts, keys, docker configs
//
// On exit tmp/ is removed; logs/ too when the process exits with status 0.
// After a failure the logs stay and their path is printed, since that is
// when they are needed. MODELGATE_E2E_KEEP=1 keeps everything;
// MODELGATE_E2E_LOG_DIR puts the logs elsewhere (never removed).

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let root: string | undefined;

function keep(): boolean {
  return process.env['MODELGATE_E2E_KEEP'] === '1';
}

/** The run directory (created on first use). */
export function runDir(): string {
  if (root === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'modelgate-e2e-run-'));
    mkdirSync(join(dir, 'tmp'));
    root = dir;
    process.once('exit', (code) => {
      if (keep()) {
        process.stderr.write(`modelgate e2e: kept ${dir}\n`);
        return;
      }
      rmSync(join(dir, 'tmp'), { recursive: true, force: true });
      if (code === 0) rmSync(dir, { recursive: true, force: true });
      else process.stderr.write(`modelgate e2e: server logs kept in ${logDir()}\n`);
    });
  }
  return root;
}

/** A fresh directory under tmp/ of the run directory. */
export function scratchDir(prefix: string): string {
  return mkdtempSync(join(runDir(), 'tmp', `${prefix}-`));
}

let logs: string | undefined;

/** Where server logs go: $MODELGATE_E2E_LOG_DIR or logs/ of the run directory. */
export function logDir(): string {
  if (logs === undefined) {
    const fromEnv = process.env['MODELGATE_E2E_LOG_DIR'];
    logs = fromEnv !== undefined && fromEnv !== '' ? fromEnv : join(runDir(), 'logs');
    mkdirSync(logs, { recursive: true });
  }
  return logs;
}
