/** `modelgate serve`: the admission webhook. */
import { parseArgs } from 'node:util';
import { createLogger } from '../log.ts';
import { createEngine } from '../engine/engine.ts';
import { coreApi, loadKubeConfig } from '../kube/client.ts';
import { KubePullSecretReader } from '../kube/pull-secrets.ts';
import { loadPolicySet } from '../policy/load.ts';
import { startServer } from '../server/serve.ts';
import { policyOptions, portOption, stringOption } from './options.ts';

export async function runServe(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      policy: { type: 'string', multiple: true },
      config: { type: 'string' },
    },
  });
  const logger = createLogger();
  const { policyPaths, configPath } = policyOptions(values);
  const policySet = await loadPolicySet(policyPaths, configPath);
  logger.info({ revision: policySet.revision, policies: policySet.policies.map((policy) => policy.name), defaultAction: policySet.config.defaultAction }, 'policy loaded');
  const pullSecrets = policySet.config.credentials.pullSecrets
    ? new KubePullSecretReader(coreApi(loadKubeConfig()), (message) => logger.warn({ err: message }, 'pull secret not used'))
    : undefined;
  const engine = createEngine(policySet, pullSecrets === undefined ? {} : { pullSecrets });
  const host = values.host ?? process.env['MODELGATE_HOST'];
  const server = await startServer({
    port: portOption(values.port),
    ...(host === undefined || host === '' ? {} : { host }),
    tlsCert: stringOption(values['tls-cert'], 'MODELGATE_TLS_CERT', 'certs/tls.crt'),
    tlsKey: stringOption(values['tls-key'], 'MODELGATE_TLS_KEY', 'certs/tls.key'),
    engines: { current: () => engine },
    logger,
  });
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'stopping: answering in-flight reviews, accepting no new connections');
      void server.close().then(() => {
        logger.info('stopped');
        resolve(0);
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
