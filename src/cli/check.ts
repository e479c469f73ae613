/** `modelgate check`: the admission engine on manifests from files, directories or stdin. */
import type { KubeObject } from '../admission/objects.ts';
import type { Engine } from '../engine/engine.ts';
import { CHECK } from './commands.ts';
import { commandEngine } from './engine.ts';
import { parseFlags } from './flags.ts';
import { placeInNamespace, readManifests } from './manifests.ts';
import { choosePolicySource, loadPolicy, policyLines } from './policy-source.ts';
import type { PolicyInfo } from './policy-source.ts';
import { evaluateObjects, outputFormat, printJson, printTable } from './report.ts';
import type { CheckRow, CommandIO } from './report.ts';
import { EXIT_DENIED, EXIT_OK, UsageError } from './usage.ts';

export type { CheckRow, CommandIO } from './report.ts';

export interface CheckReport {
  readonly allowed: boolean;
  readonly policyRevision: string;
  /** Where the policy came from, its revision and warnings. */
  readonly policy?: PolicyInfo;
  readonly objects: number;
  readonly rows: readonly CheckRow[];
  readonly denials: readonly string[];
}

export async function checkObjects(objects: readonly KubeObject[], engine: Engine): Promise<CheckReport> {
  const results = await evaluateObjects(objects, engine);
  const denials = results.flatMap((result) => (result.denial === undefined ? [] : [result.denial]));
  return {
    allowed: denials.length === 0,
    policyRevision: engine.policySet.revision,
    objects: objects.length,
    rows: results.flatMap((result) => result.rows),
    denials,
  };
}

/** A failed `kubectl get … | modelgate check -f -` gives empty input: that must not read as "allowed". */
export function emptyInput(sources: readonly string[], inputs: readonly string[]): UsageError {
  const what =
    sources.length === 0
      ? `${inputs.join(', ')}, which hold${inputs.length === 1 ? 's' : ''} no .yaml, .yml or .json file`
      : sources.length === 1
        ? sources[0] === '(stdin)'
          ? 'stdin'
          : sources[0]
        : `the ${sources.length} files read`;
  return new UsageError(`no Kubernetes objects in ${what} (an empty file, or a failed kubectl get?); pass --allow-empty to accept that`);
}

export async function runCheck(args: readonly string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseFlags('check', CHECK.flags, args);
  const inputs = [...(values.filename ?? []), ...positionals];
  if (inputs.length === 0) throw new UsageError('check needs manifests: -f FILE, -f DIR, or -f - for stdin');
  const output = outputFormat(values.output, ['table', 'json']);
  const namespace = values.namespace;
  if (namespace === '') throw new UsageError('-n needs a namespace name');

  const { policySet, info } = await loadPolicy(choosePolicySource({ policy: values.policy, config: values.config, cluster: 'never' }));
  const manifests = await readManifests(inputs, io);
  if (manifests.objects.length === 0 && values['allow-empty'] !== true) throw emptyInput(manifests.sources, inputs);
  const objects = manifests.objects.map((object) => placeInNamespace(object, namespace, policySet.config.workloads));

  const engine = await commandEngine(policySet, { offline: values.offline === true });
  let report: CheckReport;
  try {
    report = { ...(await checkObjects(objects, engine)), policy: info };
  } finally {
    await engine.client?.close();
  }
  if (output === 'json') {
    printJson(io, report);
  } else {
    io.stderr(policyLines(info));
    printTable(io, report.rows, report.objects, report.denials);
  }
  return report.allowed ? EXIT_OK : EXIT_DENIED;
}
