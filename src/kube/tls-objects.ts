/**
 * The Kubernetes objects of self-managed TLS: one Secret in the webhook's
 * namespace and the caBundle of named ValidatingWebhookConfigurations. Every
 * write is conditional on the resourceVersion read (or a create), so two
 * replicas never overwrite each other: the one that loses gets `conflict`,
 * reads again and uses what the winner wrote. Nothing else is read or written
 * (the RBAC names these objects).
 */
import { AdmissionregistrationV1Api, ApiException, CoreV1Api } from '@kubernetes/client-node';
import type { KubeConfig, V1Secret } from '@kubernetes/client-node';

export interface StoredSecret {
  /** Decoded values. */
  readonly data: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** The object as read, to write back with its resourceVersion, labels and owners. */
  readonly object: V1Secret;
}

export type WriteResult = 'written' | 'conflict';

const isStatus = (error: unknown, status: number): boolean => error instanceof ApiException && error.code === status;

export class TlsObjects {
  readonly #core: CoreV1Api;
  readonly #admission: AdmissionregistrationV1Api;
  readonly #namespace: string;
  readonly #secret: string;
  readonly #webhooks: readonly string[];

  constructor(kubeConfig: KubeConfig, namespace: string, secret: string, webhooks: readonly string[]) {
    this.#core = kubeConfig.makeApiClient(CoreV1Api);
    this.#admission = kubeConfig.makeApiClient(AdmissionregistrationV1Api);
    this.#namespace = namespace;
    this.#secret = secret;
    this.#webhooks = webhooks;
  }

  get where(): string {
    return `Secret ${this.#namespace}/${this.#secret}`;
  }

  /** The Secret, or undefined when there is none. */
  async read(): Promise<StoredSecret | undefined> {
    let object: V1Secret;
    try {
      object = await this.#core.readNamespacedSecret({ name: this.#secret, namespace: this.#namespace });
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
    const data = Object.fromEntries(Object.entries(object.data ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64').toString('utf8')]));
    return { data, annotations: object.metadata?.annotations ?? {}, object };
  }

  /** Creates the Secret when `previous` is undefined, else replaces it at the resourceVersion read. */
  async write(previous: StoredSecret | undefined, data: Readonly<Record<string, string>>, annotations: Readonly<Record<string, string>>): Promise<WriteResult> {
    const encoded = Object.fromEntries(Object.entries(data).map(([key, value]) => [key, Buffer.from(value, 'utf8').toString('base64')]));
    try {
      if (previous === undefined) {
        await this.#core.createNamespacedSecret({
          namespace: this.#namespace,
          body: { apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name: this.#secret, annotations: { ...annotations } }, data: encoded },
        });
      } else {
        const metadata = previous.object.metadata ?? {};
        await this.#core.replaceNamespacedSecret({
          name: this.#secret,
          namespace: this.#namespace,
          body: { ...previous.object, metadata: { ...metadata, annotations: { ...metadata.annotations, ...annotations } }, data: encoded },
        });
      }
      return 'written';
    } catch (error) {
      if (isStatus(error, 409)) return 'conflict';
      throw error;
    }
  }

  /**
   * Sets every webhook's caBundle in the named configurations to `bundle`
   * (PEM); returns the names of those changed. A conflict is left for the
   * next sync; a configuration that does not exist yet is skipped.
   */
  async syncCaBundle(bundle: string): Promise<{ readonly changed: readonly string[]; readonly missing: readonly string[] }> {
    const encoded = Buffer.from(bundle, 'utf8').toString('base64');
    const changed: string[] = [];
    const missing: string[] = [];
    for (const name of this.#webhooks) {
      let configuration: Awaited<ReturnType<AdmissionregistrationV1Api['readValidatingWebhookConfiguration']>>;
      try {
        configuration = await this.#admission.readValidatingWebhookConfiguration({ name });
      } catch (error) {
        if (isStatus(error, 404)) {
          missing.push(name);
          continue;
        }
        throw error;
      }
      const webhooks = configuration.webhooks ?? [];
      if (webhooks.every((webhook) => webhook.clientConfig.caBundle === encoded)) continue;
      for (const webhook of webhooks) webhook.clientConfig.caBundle = encoded;
      try {
        await this.#admission.replaceValidatingWebhookConfiguration({ name, body: configuration });
        changed.push(name);
      } catch (error) {
        if (isStatus(error, 409)) missing.push(name);
        else throw error;
      }
    }
    return { changed, missing };
  }
}
