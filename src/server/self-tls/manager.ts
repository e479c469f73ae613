/**
 * Self-managed TLS: keeps the webhook's CA and serving pair in one Secret
 * (material.ts decides what it should hold), the CA bundle in the webhook's
 * own ValidatingWebhookConfigurations, and the serving pair in the files the
 * server serves from. Those files are followed by server/tls.ts as any
 * mounted pair is, so a renewal reaches new handshakes without a restart and
 * established connections keep theirs.
 *
 * Each sync: read the Secret, renew what is due, write it back conditionally
 * (a replica that loses the race reads the winner's), write the caBundle,
 * then the files. Every replica syncs on an interval; they converge on the
 * one Secret.
 */
import { rename, readFile, writeFile } from 'node:fs/promises';
import { describeError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { describeKubeError } from '../../kube/api-errors.ts';
import type { StoredSecret, TlsObjects } from '../../kube/tls-objects.ts';
import { CA_SINCE_ANNOTATION, materialData, readMaterial, renew } from './material.ts';
import type { TlsMaterial, TlsSettings } from './material.ts';

export interface SelfManagedTlsOptions {
  readonly objects: Pick<TlsObjects, 'read' | 'write' | 'syncCaBundle' | 'where'>;
  readonly settings: TlsSettings;
  readonly certPath: string;
  readonly keyPath: string;
  readonly logger: Logger;
  readonly intervalMs: number;
  readonly now?: () => Date;
}

/** Conflicting writes in a row before a sync gives up until the next one. */
const MAX_CONFLICTS = 5;

async function writeAtomically(path: string, text: string, mode: number): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, text, { mode });
  await rename(temporary, path);
}

const readText = (path: string): Promise<string | undefined> => readFile(path, 'utf8').catch(() => undefined);

export class SelfManagedTls {
  readonly #options: SelfManagedTlsOptions;
  readonly #now: () => Date;
  /** The bundle the webhook configurations were last seen (or made) to hold. */
  #syncedBundle: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(options: SelfManagedTlsOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => new Date());
  }

  /** The first sync: the files exist when it resolves. Then syncs on the interval. */
  async start(): Promise<void> {
    await this.sync();
    this.#schedule();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      this.#running = this.sync()
        .catch((error: unknown) => this.#options.logger.warn({ err: describeKubeError(error) }, 'self-managed TLS: sync failed; retrying'))
        .finally(() => {
          this.#running = undefined;
          if (this.#timer !== undefined) this.#schedule();
        });
    }, this.#options.intervalMs);
    this.#timer.unref();
  }

  /** One sync (also what tests call to force one); throws when the Secret cannot be read or written. */
  async sync(): Promise<void> {
    if (this.#running !== undefined) await this.#running;
    const material = await this.#settleSecret();
    await this.#syncWebhooks(material);
    await this.#writeFiles(material);
  }

  async #settleSecret(): Promise<TlsMaterial> {
    const { objects, settings, logger } = this.#options;
    for (let attempt = 0; attempt < MAX_CONFLICTS; attempt++) {
      const stored: StoredSecret | undefined = await objects.read();
      const current = stored === undefined ? undefined : readMaterial(stored.data, stored.annotations[CA_SINCE_ANNOTATION]);
      const inWebhooks = current !== undefined && this.#syncedBundle === current.cas.join('');
      const next = renew(current, settings, this.#now(), inWebhooks);
      if (next.changes.length === 0) return next.material;
      const written = await objects.write(stored, materialData(next.material), { [CA_SINCE_ANNOTATION]: String(next.material.caSince) });
      if (written === 'written') {
        logger.info({ secret: objects.where, changes: next.changes }, 'self-managed TLS: Secret updated');
        return next.material;
      }
      logger.debug({ secret: objects.where }, 'self-managed TLS: another replica wrote the Secret first; reading it');
    }
    throw new Error(`self-managed TLS: ${objects.where} kept changing under ${MAX_CONFLICTS} writes in a row`);
  }

  async #syncWebhooks(material: TlsMaterial): Promise<void> {
    const { objects, logger } = this.#options;
    const bundle = material.cas.join('');
    try {
      const result = await objects.syncCaBundle(bundle);
      if (result.changed.length > 0) logger.info({ webhooks: result.changed }, 'self-managed TLS: caBundle written');
      if (result.missing.length > 0)
        logger.warn({ webhooks: result.missing }, 'self-managed TLS: caBundle not written yet (configuration missing or changed meanwhile)');
      this.#syncedBundle = result.missing.length === 0 ? bundle : undefined;
    } catch (error) {
      this.#syncedBundle = undefined;
      logger.warn(
        { err: describeKubeError(error, { forbidden: 'forbidden: check the RBAC for the webhook configurations' }) },
        'self-managed TLS: caBundle not written',
      );
    }
  }

  async #writeFiles(material: TlsMaterial): Promise<void> {
    const { certPath, keyPath, logger } = this.#options;
    if ((await readText(certPath)) === material.cert && (await readText(keyPath)) === material.key) return;
    try {
      // The key first: server/tls.ts uses a pair only once both files match.
      await writeAtomically(keyPath, material.key, 0o600);
      await writeAtomically(certPath, material.cert, 0o644);
    } catch (error) {
      throw new Error(`self-managed TLS: cannot write the serving pair (${certPath}, ${keyPath}): ${describeError(error)}`);
    }
    logger.info({ cert: certPath }, 'self-managed TLS: serving pair written');
  }
}
