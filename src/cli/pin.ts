/**
 * `modelgate pin`: model references pinned to digests in manifests, then
 * judged as `check` judges them. The steps: read the files, find the
 * reference scalars (pin/sites.ts), resolve each tag through the registry
 * (pin/resolve.ts), rewrite the scalars in the text (pin/plan.ts), judge the
 * pinned objects, and print, diff or write. Nothing is written unless every
 * reference resolved and, with -w, the pinned manifests are allowed.
 */
import { writeFile } from 'node:fs/promises';
import { objectsFromText } from '../admission/objects.ts';
import { describeFileError } from '../core/errors.ts';
import { createEngine, createRegistryAccess } from '../engine/engine.ts';
import { checkObjects, emptyInput } from './check.ts';
import { PIN } from './commands.ts';
import { parseFlags } from './flags.ts';
import { placeInNamespace, readManifestTexts } from './manifests.ts';
import type { ManifestText } from './manifests.ts';
import { unifiedDiff } from './pin/diff.ts';
import { planPins, referencesToResolve } from './pin/plan.ts';
import type { FilePlan } from './pin/plan.ts';
import { resolveTags } from './pin/resolve.ts';
import { findSites } from './pin/sites.ts';
import { choosePolicySource, loadPolicy, policyLines } from './policy-source.ts';
import { printTable } from './report.ts';
import type { CommandIO } from './report.ts';
import { EXIT_DENIED, EXIT_OK, EXIT_USAGE, UsageError } from './usage.ts';

/** A file named twice (`-f a.yaml -f .`) is read and rewritten once. */
function distinct(texts: readonly ManifestText[]): ManifestText[] {
  const seen = new Set<string>();
  return texts.filter(({ source }) => source === '(stdin)' || (!seen.has(source) && seen.add(source) !== undefined));
}

/** The files as pin prints them to stdout: one stream of documents. */
function joined(files: readonly FilePlan[]): string {
  return files
    .map((file) => (file.pinnedText === '' || file.pinnedText.endsWith('\n') ? file.pinnedText : `${file.pinnedText}\n`))
    .filter((text) => text.trim() !== '')
    .join('---\n');
}

async function writeFiles(io: CommandIO, files: readonly FilePlan[]): Promise<void> {
  for (const file of files) {
    if (file.changes.length === 0) continue;
    try {
      await writeFile(file.source, file.pinnedText, 'utf8');
    } catch (error) {
      throw new UsageError(`cannot write ${file.source}: ${describeFileError(error)}`, { pointToHelp: false });
    }
    io.stderr(`wrote ${file.source} (${file.changes.length} reference${file.changes.length === 1 ? '' : 's'} pinned)\n`);
  }
}

export async function runPin(args: readonly string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseFlags('pin', PIN.flags, args);
  const inputs = [...(values.filename ?? []), ...positionals];
  if (inputs.length === 0) throw new UsageError('pin needs manifests: -f FILE, -f DIR, or -f - for stdin');
  if (values.write === true && inputs.includes('-'))
    throw new UsageError('-w rewrites files, and stdin (-f -) is not one: drop -w to print the pinned manifests');
  const namespace = values.namespace;
  if (namespace === '') throw new UsageError('-n needs a namespace name');

  const { policySet, info } = await loadPolicy(choosePolicySource({ policy: values.policy, config: values.config, cluster: 'never' }));
  const texts = distinct(await readManifestTexts(inputs, io));
  const manifests = texts.map(({ text, source }) => findSites(text, source, policySet.config.workloads));
  const objectCount = texts.reduce((sum, { text, source }) => sum + objectsFromText(text, source).length, 0);
  if (objectCount === 0 && values['allow-empty'] !== true)
    throw emptyInput(
      texts.map(({ source }) => source),
      inputs,
    );

  const access = createRegistryAccess(policySet.config);
  try {
    const resolutions = await resolveTags(access.client, referencesToResolve(manifests), policySet.config.timeouts.totalMs);
    const plan = planPins(manifests, resolutions);
    if (plan.failures.length > 0) {
      io.stderr(`modelgate: cannot pin ${plan.failures.length} reference${plan.failures.length === 1 ? '' : 's'}; nothing written:\n`);
      for (const failure of plan.failures) io.stderr(`  ${failure}\n`);
      return EXIT_USAGE;
    }
    for (const note of plan.notes) io.stderr(`${note}\n`);

    const objects = plan.files
      .flatMap((file) => objectsFromText(file.pinnedText, file.source))
      .map((object) => placeInNamespace(object, namespace, policySet.config.workloads));
    const report = await checkObjects(objects, createEngine(policySet, { registry: access }));
    io.stderr(policyLines(info));
    // The verdicts on stderr: stdout carries the manifests or the diff.
    printTable({ ...io, stdout: io.stderr }, report.rows, report.objects, report.denials);

    if (values['dry-run'] === true) {
      for (const file of plan.files) io.stdout(unifiedDiff(file.source, file.text, file.changes));
    } else if (values.write === true) {
      if (report.allowed) await writeFiles(io, plan.files);
      else io.stderr('modelgate: the pinned manifests would be denied; nothing written\n');
    } else {
      io.stdout(joined(plan.files));
    }
    return report.allowed ? EXIT_OK : EXIT_DENIED;
  } finally {
    await access.client.close();
  }
}
