/**
 * A TLS key pair that follows its files on disk. cert-manager and the kubelet
 * replace Secret files by swapping a `..data` symlink, so the directory is
 * watched (not the files) and a slow poll backs the watch up. A new pair is
 * validated before it is used; until a complete, matching pair is there, the
 * old one keeps serving.
 */
import { createHash } from 'node:crypto';
import { watch, readFileSync } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { Logger } from '../core/log.ts';

export interface KeyPair {
  readonly cert: Buffer;
  readonly key: Buffer;
}

export class TlsFilesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TlsFilesError';
  }
}

/** Reads and checks a key pair; throws TlsFilesError naming the problem. */
export function readKeyPair(certPath: string, keyPath: string): KeyPair {
  let cert: Buffer;
  let key: Buffer;
  try {
    cert = readFileSync(certPath);
    key = readFileSync(keyPath);
  } catch (error) {
    throw new TlsFilesError(
      `cannot read the TLS key pair (${certPath}, ${keyPath}): ${(error as Error).message}; run \`npm run certs\` or mount the serving Secret`,
    );
  }
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    throw new TlsFilesError(`the TLS certificate ${certPath} and key ${keyPath} are not a usable pair: ${(error as Error).message}`);
  }
  return { cert, key };
}

export interface KeyPairWatcher {
  close(): void;
}

const fingerprint = (pair: KeyPair): string => createHash('sha256').update(pair.cert).update(pair.key).digest('hex');

export function watchKeyPair(
  certPath: string,
  keyPath: string,
  initial: KeyPair,
  apply: (pair: KeyPair) => void,
  logger: Logger,
  pollMs = 10_000,
): KeyPairWatcher {
  let current = fingerprint(initial);
  let timer: NodeJS.Timeout | undefined;
  const reload = (): void => {
    timer = undefined;
    let pair: KeyPair;
    try {
      pair = readKeyPair(certPath, keyPath);
    } catch (error) {
      // Mid-rotation the files may briefly disagree; the next event or poll retries.
      logger.warn({ err: (error as Error).message }, 'TLS key pair not reloaded; still serving the previous one');
      return;
    }
    const next = fingerprint(pair);
    if (next === current) return;
    apply(pair);
    current = next;
    logger.info({ cert: certPath }, 'TLS key pair reloaded');
  };
  const schedule = (): void => {
    if (timer === undefined) timer = setTimeout(reload, 100);
  };
  const watchers: FSWatcher[] = [];
  for (const dir of new Set([dirname(certPath), dirname(keyPath)])) {
    try {
      const watcher = watch(dir, { persistent: false }, schedule);
      watcher.on('error', () => undefined);
      watchers.push(watcher);
    } catch {
      // Poll only.
    }
  }
  const poll = setInterval(schedule, pollMs);
  poll.unref();
  return {
    close() {
      clearInterval(poll);
      if (timer !== undefined) clearTimeout(timer);
      for (const watcher of watchers) watcher.close();
    },
  };
}
