/**
 * Policy files (`--policy`, `--config`) that follow their contents on disk,
 * the way the TLS key pair does (src/server/tls.ts), through core/file-watch.ts:
 * the directories are watched and a poll backs the watch up. A change is
 * loaded and, when it is valid, applied; an invalid one is logged and
 * reported, and the last good policy keeps serving.
 */
import { describeError } from '../core/errors.ts';
import { createHash } from 'node:crypto';
import { watchFiles } from '../core/file-watch.ts';
import type { Timers } from '../core/timers.ts';
import type { Logger } from '../core/log.ts';
import { PolicyLoadError, formatProblem, policySetFromTexts, readPolicyTexts } from './load.ts';
import type { PolicyText } from './load.ts';
import type { PolicySet } from './types.ts';

export interface FileReloadResult {
  readonly ok: boolean;
  readonly revision: string | undefined;
  readonly errors: readonly string[];
}

export interface PolicyFileWatchOptions {
  /** Policy files and directories, then the Config file if any (as loadPolicySet reads them). */
  readonly paths: readonly string[];
  /** The set loaded at start; changes are judged against it. */
  readonly initial: PolicySet;
  /** Applies a new set; throwing (e.g. PolicyLoadError) refuses it and the previous one stays. */
  readonly onPolicySet: (policySet: PolicySet) => void;
  readonly onReload?: (result: FileReloadResult) => void;
  readonly logger: Logger;
  /** Backstop poll of the files; default 2000 ms. */
  readonly pollMs?: number;
  /** Wait after a change event, so an editor's or the kubelet's burst of writes is one reload; default 100 ms. */
  readonly debounceMs?: number;
  /** Default: the process's timers. */
  readonly timers?: Timers;
}

export interface PolicyFileWatcher {
  /** Reads the files now and applies a change (what the watch and the poll do). */
  reload(): Promise<void>;
  close(): void;
}

const fingerprint = (texts: readonly PolicyText[]): string =>
  createHash('sha256')
    .update(JSON.stringify(texts.map(({ source, text }) => [source, text])))
    .digest('hex');

export function watchPolicyFiles(options: PolicyFileWatchOptions): PolicyFileWatcher {
  const { logger } = options;
  let revision = options.initial.revision;
  /** The problem last reported: an unreadable file is retried on every poll, but reported once. */
  let lastProblem: string | undefined;

  const report = (error: unknown, what: string): void => {
    const problems = error instanceof PolicyLoadError ? error.problems.map(formatProblem) : [describeError(error)];
    const key = problems.join('\n');
    if (key === lastProblem) return;
    lastProblem = key;
    logger.error({ problems, revision }, `${what}; the last good policy (revision ${revision}) stays active`);
    options.onReload?.({ ok: false, revision, errors: problems });
  };

  /** New file contents, good or not (unchanged files are not loaded again). */
  const load = (texts: PolicyText[]): void => {
    let policySet: PolicySet;
    try {
      policySet = policySetFromTexts(texts);
      if (policySet.revision !== revision) options.onPolicySet(policySet);
    } catch (error) {
      report(error, 'invalid policy files');
      return;
    }
    lastProblem = undefined;
    if (policySet.revision === revision) return;
    const previous = revision;
    revision = policySet.revision;
    logger.info(
      { revision, previousRevision: previous, policies: policySet.policies.map((policy) => policy.name), defaultAction: policySet.config.defaultAction },
      'policy reloaded from files',
    );
    options.onReload?.({ ok: true, revision, errors: [] });
  };

  const watch = watchFiles({
    paths: options.paths,
    debounceMs: options.debounceMs ?? 100,
    pollMs: options.pollMs ?? 2000,
    read: () => readPolicyTexts(options.paths),
    fingerprint,
    onChange: load,
    onError: (error) => report(error, 'policy files not readable'),
    timers: options.timers,
  });
  return { reload: watch.check, close: watch.close };
}
