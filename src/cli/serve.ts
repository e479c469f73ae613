/**
 * `modelgate serve`: the admission webhook.
 *
 * Policy comes from one of two places:
 * - `--policy PATH...` (and `--config FILE`): files, for local runs and for
 *   deployments that mount them; followed on disk, a valid change is applied
 *   and an invalid one is logged while the last good policy keeps serving;
 * - otherwise, ConfigMaps labelled `modelgate.dev/policy: "true"` in the
 *   webhook namespace (and, with namespaced policies, in every namespace),
 *   watched through the kubeconfig or the in-cluster service account.
 *
 * SIGTERM (or SIGINT): wait `--shutdown-delay` while still serving (with
 * /readyz failing and every answer closing its connection), then stop
 * accepting connections, close the idle ones, answer every in-flight review,
 * stop the watchers, close the registry clients and exit 0.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LOG_LEVELS, createLogger } from '../core/log.ts';
import type { Logger } from '../core/log.ts';
import { checkRegistryConfig } from '../engine/engine.ts';
import { EngineManager } from '../engine/manager.ts';
import { coreApi, loadKubeConfig } from '../kube/client.ts';
import { kubeConfigSource, webhookNamespace } from '../kube/context.ts';
import { KubePullSecretReader } from '../kube/pull-secrets.ts';
import type { PullSecretReader } from '../engine/review-credentials.ts';
import { PolicyWatcher } from '../kube/policy-watch.ts';
import type { ReloadResult } from '../kube/policy-watch.ts';
import type { RegistryClientOptions } from '../oci/client.ts';
import { watchPolicyFiles } from '../policy/file-watch.ts';
import { BUNDLED_POLICY } from '../core/package-root.ts';
import { loadPolicySet } from '../policy/load.ts';
import type { PolicySet } from '../policy/types.ts';
import { Metrics, engineCaches } from '../server/metrics.ts';
import { startServer } from '../server/serve.ts';
import type { RequestEvent } from '../oci/http.ts';
import { SERVE } from './commands.ts';
import { parseFlags } from './flags.ts';
import { env, policyPathsOption, portOption } from './options.ts';
import { startTlsSource } from './serve-tls.ts';
import type { TlsSource } from './serve-tls.ts';
import { UsageError } from './usage.ts';

/** A policy reload, from files or ConfigMaps: what a reload counter needs. */
export interface PolicyReload extends ReloadResult {
  readonly source: 'files' | 'configmaps';
}

/** Ways in for metrics and tests; all optional. */
export interface ServeHooks {
  /** Every policy reload after the first load: ok, the active revision, and the new problems. */
  readonly onReload?: (reload: PolicyReload) => void;
  /** Every registry HTTP exchange (RegistryClientOptions.onRequest). */
  readonly onRegistryRequest?: RegistryClientOptions['onRequest'];
  /** Resolves to stop the server as SIGTERM would (tests); signals always work too. */
  readonly stop?: Promise<unknown>;
  readonly logger?: Logger;
  /** Where the serving pair comes from, once it is there (tests force a self-managed sync with it). */
  readonly onTlsSource?: (source: TlsSource) => void;
}

function booleanOption(flag: boolean | undefined, envName: string): boolean {
  if (flag !== undefined) return flag;
  const text = env(envName);
  if (text === undefined) return false;
  if (/^(true|1|yes)$/i.test(text)) return true;
  if (/^(false|0|no)$/i.test(text)) return false;
  throw new UsageError(`${envName} must be true or false, got ${JSON.stringify(text)}`);
}

export function shutdownDelayOption(flag: string | undefined): number {
  const text = flag ?? env('MODELGATE_SHUTDOWN_DELAY') ?? '0';
  const seconds = Number(text.replace(/s$/, ''));
  if (!/^\d+(\.\d+)?s?$/.test(text) || seconds > 300) throw new UsageError(`--shutdown-delay must be seconds between 0 and 300, got ${JSON.stringify(text)}`);
  return seconds * 1000;
}

/**
 * Registry exchanges that failed, with their cause: what an admission answer
 * never says (connection errors, the registry's own words, redacted) is for
 * the operator's log. A 401 before a token and a 404 of a referrers tag are
 * the protocol at work, not trouble.
 */
function logRegistryTrouble(logger: Logger, event: RequestEvent): void {
  const { registry, host, path, status, error, diagnostic, attempt } = event;
  if (error !== undefined) logger.warn({ registry, host, path, error, diagnostic, attempt }, 'registry request failed');
  else if (status >= 500 || status === 403 || status === 429)
    logger.info({ registry, host, path, status, diagnostic, attempt }, 'registry request answered with an error');
}

/** MODELGATE_LOG_LEVEL, checked: pino's own error for a typo is a stack trace. */
function logLevel(): string {
  const level = env('MODELGATE_LOG_LEVEL') ?? 'info';
  if (!LOG_LEVELS.includes(level))
    throw new UsageError(`MODELGATE_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`, { pointToHelp: false });
  return level;
}

/** A listen error as one line the operator can act on; undefined for errors that are not about the address. */
export function listenError(error: unknown, port: number, host: string | undefined): UsageError | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const where = `${host ?? 'all addresses'} port ${port}`;
  const plain = { pointToHelp: false };
  if (code === 'EADDRINUSE')
    return new UsageError(`cannot listen on ${where}: the port is in use (EADDRINUSE); stop what uses it or pass --port N (MODELGATE_PORT)`, plain);
  if (code === 'EACCES')
    return new UsageError(`cannot listen on ${where}: permission denied (EACCES); ports below 1024 need privileges, pass --port N (MODELGATE_PORT)`, plain);
  if (code === 'EADDRNOTAVAIL') return new UsageError(`cannot listen on ${where}: no such local address (EADDRNOTAVAIL); check --host (MODELGATE_HOST)`, plain);
  return undefined;
}

/** The `--policy` paths (or MODELGATE_POLICY) and `--config`, or undefined when policy is to come from ConfigMaps. */
function policyFiles(values: {
  policy?: string[] | undefined;
  config?: string | undefined;
}): { paths: readonly string[]; configPath: string | undefined } | undefined {
  const paths = policyPathsOption(values.policy);
  const configPath = values.config ?? env('MODELGATE_CONFIG');
  if (paths.length > 0) return { paths, configPath };
  // A Config file alone goes with the bundled policy, as it always has.
  return configPath === undefined ? undefined : { paths: [BUNDLED_POLICY], configPath };
}

/** Pull secrets are read only when a Config asks for them; the API client is made on first use. */
function lazyPullSecretReader(logger: Logger, kubeConfig: () => ReturnType<typeof loadKubeConfig>): PullSecretReader {
  let reader: KubePullSecretReader | undefined;
  return {
    dockerConfigs(namespace, podSpec) {
      reader ??= new KubePullSecretReader(coreApi(kubeConfig()), (message) => logger.warn({ err: message }, 'pull secret not used'));
      return reader.dockerConfigs(namespace, podSpec);
    },
  };
}

export async function runServe(args: readonly string[], hooks: ServeHooks = {}): Promise<number> {
  const { values, positionals } = parseFlags('serve', SERVE.flags, args);
  if (positionals.length > 0) throw new UsageError(`serve takes no arguments, got ${JSON.stringify(positionals.join(' '))}`);
  const logger = hooks.logger ?? createLogger(logLevel());
  const port = portOption(values.port);
  const shutdownDelayMs = shutdownDelayOption(values['shutdown-delay']);
  const namespacedPolicies = booleanOption(values['namespaced-policies'], 'MODELGATE_NAMESPACED_POLICIES');
  let files = policyFiles(values);
  if (files === undefined && kubeConfigSource() === undefined) {
    // In a pod a missing token is a deployment mistake: never swap in another policy silently.
    if (env('KUBERNETES_SERVICE_HOST') !== undefined) {
      throw new UsageError(
        'no --policy given and no service account token to watch policy ConfigMaps with: set automountServiceAccountToken: true on the Deployment (see manifests/), or give --policy',
      );
    }
    logger.warn({ policy: BUNDLED_POLICY }, 'no --policy and no Kubernetes API configuration (KUBECONFIG, ~/.kube/config): serving the bundled policy file');
    files = { paths: [BUNDLED_POLICY], configPath: undefined };
  }
  let kubeConfig: ReturnType<typeof loadKubeConfig> | undefined;
  const getKubeConfig = (): ReturnType<typeof loadKubeConfig> => (kubeConfig ??= loadKubeConfig());
  const metrics = new Metrics();
  const manager = new EngineManager({
    engine: {
      pullSecrets: lazyPullSecretReader(logger, getKubeConfig),
      onRequest: (event) => {
        metrics.observeRegistryRequest(event);
        logRegistryTrouble(logger, event);
        hooks.onRegistryRequest?.(event);
      },
    },
    logger,
    publicGood: { cacheDir: values['cache-dir'] ?? env('MODELGATE_CACHE_DIR') },
  });
  // Read at scrape time; the manager keeps one set of caches while connection settings stay the same.
  metrics.attachCaches(() => engineCaches(manager.current()));
  metrics.attachTrustedRoots(() => manager.trustedRootStatus());
  const apply = (next: PolicySet): void => {
    manager.update(next);
    metrics.setPolicyRevision(next.revision);
  };
  const reloaded = (result: ReloadResult, source: PolicyReload['source']): void => {
    metrics.policyReload(result.ok, result.revision);
    hooks.onReload?.({ ...result, source });
  };

  let stopPolicy: () => void;
  if (files !== undefined) {
    const paths = files.configPath === undefined ? files.paths : [...files.paths, files.configPath];
    const policySet = await loadPolicySet(files.paths, files.configPath);
    apply(policySet);
    logger.info(
      { revision: policySet.revision, policies: policySet.policies.map((policy) => policy.name), defaultAction: policySet.config.defaultAction, files: paths },
      'policy loaded',
    );
    if (namespacedPolicies || policySet.config.namespacedPolicies)
      logger.warn('namespaced policies come from ConfigMaps; with --policy only the files are used');
    const watcher = watchPolicyFiles({
      paths,
      initial: policySet,
      logger,
      onPolicySet: apply,
      onReload: (result) => reloaded(result, 'files'),
    });
    stopPolicy = () => watcher.close();
  } else {
    const source = kubeConfigSource();
    const namespace = webhookNamespace(values.namespace);
    const cluster = getKubeConfig().getCurrentCluster()?.server;
    logger.info({ namespace, namespacedPolicies, kubeconfig: source, server: cluster }, 'watching policy ConfigMaps labelled modelgate.dev/policy=true');
    const watcher = new PolicyWatcher({
      kubeConfig: getKubeConfig(),
      namespace,
      namespacedPolicies,
      logger,
      onPolicySet: apply,
      onReload: (result) => reloaded(result, 'configmaps'),
      check: (candidate) => checkRegistryConfig(candidate.config),
    });
    watcher.start();
    stopPolicy = () => watcher.stop();
  }

  let server: Awaited<ReturnType<typeof startServer>>;
  let tls: TlsSource | undefined;
  const host = values.host ?? env('MODELGATE_HOST');
  try {
    tls = await startTlsSource(values, { namespace: () => webhookNamespace(values.namespace), kubeConfig: getKubeConfig, logger });
    hooks.onTlsSource?.(tls);
    server = await startServer({
      port,
      ...(host === undefined ? {} : { host }),
      tlsCert: tls.certPath,
      tlsKey: tls.keyPath,
      engines: manager,
      logger,
      metrics,
    });
  } catch (error) {
    tls?.stop();
    stopPolicy();
    await manager.close();
    throw listenError(error, port, host) ?? error;
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      void (async () => {
        if (shutdownDelayMs > 0) {
          // Clients still reach us (endpoints and load balancers lag); /readyz fails and answers close their connections.
          server.drain();
          logger.info({ signal, shutdownDelayMs }, 'stopping: still serving during the shutdown delay');
          await sleep(shutdownDelayMs);
        }
        logger.info({ signal }, 'stopping: answering in-flight reviews, accepting no new connections');
        await server.close();
        tls?.stop();
        stopPolicy();
        await manager.close();
        process.off('SIGTERM', onTerm);
        process.off('SIGINT', onInt);
        logger.info('stopped');
        resolve(0);
      })();
    };
    const onTerm = (): void => stop('SIGTERM');
    const onInt = (): void => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
    void hooks.stop?.then(() => stop('stop'));
  });
}
