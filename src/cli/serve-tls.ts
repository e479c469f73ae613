/**
 * Where `modelgate serve` gets its serving pair: files (--tls-cert,
 * --tls-key; the default), or self-managed (--tls-mode self-managed): a CA
 * and serving certificate kept in a Secret, the CA written into the named
 * webhook configurations, the pair written to the --tls-cert/--tls-key files
 * the server follows.
 */
import type { Logger } from '../core/log.ts';
import type { KubeConfig } from '@kubernetes/client-node';
import { SelfManagedTls } from '../server/self-tls/manager.ts';
import type { TlsSettings } from '../server/self-tls/material.ts';
import { TlsObjects } from '../kube/tls-objects.ts';
import { commaList, env, listOption, stringOption } from './options.ts';
import { UsageError } from './usage.ts';

export interface TlsFlags {
  readonly 'tls-cert'?: string | undefined;
  readonly 'tls-key'?: string | undefined;
  readonly 'tls-mode'?: string | undefined;
  readonly 'tls-secret'?: string | undefined;
  readonly 'webhook-config'?: string[] | undefined;
  readonly 'tls-names'?: string | undefined;
  readonly 'tls-cert-validity'?: string | undefined;
  readonly 'tls-cert-renew-before'?: string | undefined;
  readonly 'tls-ca-validity'?: string | undefined;
  readonly 'tls-ca-renew-before'?: string | undefined;
  readonly 'tls-sync-interval'?: string | undefined;
}

export interface TlsSource {
  readonly certPath: string;
  readonly keyPath: string;
  /** Self-managed: a sync now (tests force renewals with it). */
  readonly sync?: () => Promise<void>;
  stop(): void;
}

const UNITS: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1 };

/** A Go-style duration (`2160h`, `1h30m`, `90s`, `500ms`) in milliseconds. */
export function durationOption(flag: string, text: string | undefined, fallback: string): number {
  const value = text ?? fallback;
  const parts = [...value.matchAll(/(\d+)(ms|h|m|s)/g)];
  if (parts.length === 0 || parts.map((part) => part[0]).join('') !== value)
    throw new UsageError(`--${flag} must be a duration such as 2160h, 30m or 90s, got ${JSON.stringify(value)}`);
  return parts.reduce((sum, part) => sum + Number(part[1]) * (UNITS[part[2] as string] as number), 0);
}

function settingsOf(flags: TlsFlags, namespace: string): TlsSettings {
  const names = commaList(flags['tls-names'] ?? env('MODELGATE_TLS_NAMES') ?? `modelgate.${namespace}.svc,modelgate.${namespace}.svc.cluster.local`);
  if (names.length === 0 || names.length > 32 || names.some((name) => !/^[A-Za-z0-9.:*-]{1,253}$/.test(name)))
    throw new UsageError('--tls-names must be 1 to 32 comma-separated DNS names or IP addresses');
  const settings = {
    names,
    certValidityMs: durationOption('tls-cert-validity', flags['tls-cert-validity'], '2160h'),
    certRenewBeforeMs: durationOption('tls-cert-renew-before', flags['tls-cert-renew-before'], '720h'),
    caValidityMs: durationOption('tls-ca-validity', flags['tls-ca-validity'], '87600h'),
    caRenewBeforeMs: durationOption('tls-ca-renew-before', flags['tls-ca-renew-before'], '8760h'),
    caPropagationMs: 60_000,
  };
  if (settings.certRenewBeforeMs >= settings.certValidityMs || settings.caRenewBeforeMs >= settings.caValidityMs)
    throw new UsageError('a --tls-*-renew-before must be shorter than its validity');
  return settings;
}

export async function startTlsSource(
  flags: TlsFlags,
  context: { readonly namespace: () => string; readonly kubeConfig: () => KubeConfig; readonly logger: Logger },
): Promise<TlsSource> {
  const certPath = stringOption(flags['tls-cert'], 'MODELGATE_TLS_CERT', 'certs/tls.crt');
  const keyPath = stringOption(flags['tls-key'], 'MODELGATE_TLS_KEY', 'certs/tls.key');
  const mode = flags['tls-mode'] ?? env('MODELGATE_TLS_MODE') ?? 'files';
  if (mode === 'files') return { certPath, keyPath, stop: () => undefined };
  if (mode !== 'self-managed') throw new UsageError(`--tls-mode must be files or self-managed, got ${JSON.stringify(mode)}`);
  const secret = flags['tls-secret'] ?? env('MODELGATE_TLS_SECRET');
  if (secret === undefined) throw new UsageError('--tls-mode self-managed needs --tls-secret NAME (the Secret that holds the CA and serving pair)');
  const webhooks = listOption(flags['webhook-config'], 'MODELGATE_WEBHOOK_CONFIGS');
  const namespace = context.namespace();
  const intervalMs = durationOption('tls-sync-interval', flags['tls-sync-interval'], '1m');
  const manager = new SelfManagedTls({
    objects: new TlsObjects(context.kubeConfig(), namespace, secret, webhooks),
    settings: { ...settingsOf(flags, namespace), caPropagationMs: Math.max(intervalMs, 1_000) },
    certPath,
    keyPath,
    logger: context.logger,
    intervalMs,
  });
  context.logger.info({ secret: `${namespace}/${secret}`, webhooks }, 'self-managed TLS: CA and serving pair kept in a Secret');
  await manager.start();
  return { certPath, keyPath, sync: () => manager.sync(), stop: () => manager.stop() };
}
