/**
 * A TLS key pair that follows its files on disk. cert-manager and the kubelet
 * replace Secret files by swapping a `..data` symlink, so the directory is
 * watched (not the files) and a slow poll backs the watch up (core/file-watch.ts). A new pair is
 * validated before it is used; until a complete, matching pair is there, the
 * old one keeps serving.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { EXIT_USAGE, ModelgateError, describeError } from '../core/errors.ts';
import { watchFiles } from '../core/file-watch.ts';
import type { Timers } from '../core/timers.ts';
import type { Logger } from '../core/log.ts';

export interface KeyPair {
  readonly cert: Buffer;
  readonly key: Buffer;
}

export class TlsFilesError extends ModelgateError<'TLS_FILES_UNUSABLE'> {
  static readonly codes = { TLS_FILES_UNUSABLE: { exitCode: EXIT_USAGE } } as const;
  override readonly name = 'TlsFilesError';
  constructor(message: string) {
    super(TlsFilesError.codes, 'TLS_FILES_UNUSABLE', message);
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
      `cannot read the TLS key pair (${certPath}, ${keyPath}): ${describeError(error)}; run \`npm run certs\` or mount the serving Secret`,
    );
  }
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    throw new TlsFilesError(`the TLS certificate ${certPath} and key ${keyPath} are not a usable pair: ${describeError(error)}`);
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
  timers?: Timers,
): KeyPairWatcher {
  return watchFiles({
    paths: [certPath, keyPath],
    debounceMs: 100,
    pollMs,
    read: () => readKeyPair(certPath, keyPath),
    fingerprint,
    initial: fingerprint(initial),
    onChange: (pair) => {
      apply(pair);
      logger.info({ cert: certPath }, 'TLS key pair reloaded');
    },
    // Mid-rotation the files may briefly disagree; the next event or poll retries.
    onError: (error) => logger.warn({ err: describeError(error) }, 'TLS key pair not reloaded; still serving the previous one'),
    timers,
  });
}
