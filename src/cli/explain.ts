/**
 * `modelgate explain REFERENCE`: the command's arguments. The trace is built
 * in explain/trace.ts from the engine's results and rendered by
 * explain/render.ts (text) or printed as JSON (the ExplainReport of
 * explain/model.ts).
 */
import { EXPLAIN } from './commands.ts';
import { explainReference } from './explain/trace.ts';
import type { ExplainReport } from './explain/model.ts';
import { renderExplain } from './explain/render.ts';
import { parseFlags } from './flags.ts';
import { choosePolicySource, loadPolicy } from './policy-source.ts';
import { outputFormat, printJson } from './report.ts';
import type { CommandIO } from './report.ts';
import { EXIT_DENIED, EXIT_OK, UsageError } from './usage.ts';

export type { ExplainReport } from './explain/model.ts';

export async function runExplain(args: readonly string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseFlags('explain', EXPLAIN.flags, args);
  if (positionals.length !== 1) throw new UsageError(`explain needs exactly one REFERENCE, got ${positionals.length}`);
  const output = outputFormat(values.output, ['text', 'json']);
  if (values.namespace === '' || values['policy-namespace'] === '')
    throw new UsageError(`${values.namespace === '' ? '-n' : '--policy-namespace'} needs a namespace name`);
  const source = choosePolicySource({
    policy: values.policy,
    config: values.config,
    cluster: 'when-configured',
    clusterFlags: values.kubeconfig !== undefined || values.context !== undefined,
    policyNamespace: values['policy-namespace'],
    namespacedPolicies: values['namespaced-policies'] === true,
  });
  // The Kubernetes client is loaded only when the policy comes from the cluster.
  const cluster = source.kind === 'configmaps' ? await import('./cluster.ts') : undefined;
  const kubeConfig = cluster?.loadClusterConfig({ kubeconfig: values.kubeconfig, context: values.context });
  const { policySet, info } = await loadPolicy(source, kubeConfig);
  // As kubectl: the context's namespace where a cluster is used.
  const namespace = values.namespace ?? (cluster === undefined || kubeConfig === undefined ? 'default' : cluster.contextNamespace(kubeConfig));
  const report: ExplainReport = {
    ...(await explainReference(positionals[0] as string, policySet, { namespace, offline: values.offline === true })),
    policy: info,
  };
  if (output === 'json') printJson(io, report);
  else io.stdout(renderExplain(report));
  return report.evaluation.verdict === 'deny' ? EXIT_DENIED : EXIT_OK;
}
