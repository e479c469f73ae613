/**
 * Files that are followed on disk (policy files, the TLS key pair). Their directories are
 * watched, not the files: the kubelet updates a mounted ConfigMap or Secret by swapping a
 * `..data` symlink, which a watch on the file itself would miss. A slow poll backs the watch
 * up (some file systems send no events), a debounce turns a burst of writes into one read,
 * and a fingerprint of the contents says whether anything changed. One read runs at a time;
 * a change noticed meanwhile reads again once it is over.
 */
import { statSync, watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import { realTimers } from './timers.ts';
import type { TimerHandle, Timers } from './timers.ts';

export interface FileWatchOptions<T> {
  /** Files and directories: a directory is watched itself, a file through its directory. */
  readonly paths: readonly string[];
  /** Wait after an event before reading, so a burst of writes is one read. */
  readonly debounceMs: number;
  /** Backstop: read this often even without events. */
  readonly pollMs: number;
  /** Reads the contents; throwing goes to onError (the next event or poll tries again). */
  readonly read: () => T | Promise<T>;
  readonly fingerprint: (contents: T) => string;
  /** The fingerprint of the contents in use at start; without it the first read counts as a change. */
  readonly initial?: string | undefined;
  /** Contents unlike the last seen. Throwing goes to onError, and they are read again next time. */
  readonly onChange: (contents: T) => void;
  readonly onError: (error: unknown) => void;
  readonly timers?: Timers | undefined;
}

export interface FileWatch {
  /** Reads now and reports a change (what the watch and the poll do); resolves when that read is over. */
  check(): Promise<void>;
  close(): void;
}

/** The directories to watch for `paths`; a path that is missing for now is watched where it would reappear. */
export function watchedDirectories(paths: readonly string[]): string[] {
  const dirs = new Set<string>();
  for (const path of paths) {
    let isDirectory = false;
    try {
      isDirectory = statSync(path).isDirectory();
    } catch {
      // Gone for now: watch where it would reappear.
    }
    dirs.add(isDirectory ? path : dirname(path));
  }
  return [...dirs];
}

export function watchFiles<T>(options: FileWatchOptions<T>): FileWatch {
  const timers = options.timers ?? realTimers;
  let seen = options.initial;
  let debounce: TimerHandle | undefined;
  let poll: TimerHandle | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let closed = false;

  const readOnce = async (): Promise<void> => {
    let contents: T;
    try {
      contents = await options.read();
    } catch (error) {
      options.onError(error);
      return;
    }
    const current = options.fingerprint(contents);
    if (current === seen) return;
    try {
      options.onChange(contents);
    } catch (error) {
      options.onError(error);
      return;
    }
    seen = current;
  };

  const check = async (): Promise<void> => {
    if (closed) return;
    if (running !== undefined) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await readOnce();
      } while (again && !closed);
    })().finally(() => {
      running = undefined;
    });
    return running;
  };

  const schedule = (): void => {
    if (debounce !== undefined || closed) return;
    debounce = timers.setTimeout(() => {
      debounce = undefined;
      void check();
    }, options.debounceMs);
  };

  const watchers: FSWatcher[] = [];
  for (const dir of watchedDirectories(options.paths)) {
    try {
      const watcher = watch(dir, { persistent: false }, schedule);
      watcher.on('error', () => undefined);
      watchers.push(watcher);
    } catch {
      // Poll only.
    }
  }
  const arm = (): void => {
    poll = timers.setTimeout(() => {
      arm();
      schedule();
    }, options.pollMs);
    poll.unref();
  };
  arm();

  return {
    check,
    close() {
      closed = true;
      if (poll !== undefined) timers.clearTimeout(poll);
      if (debounce !== undefined) timers.clearTimeout(debounce);
      for (const watcher of watchers) watcher.close();
    },
  };
}
