/**
 * The manifests `check` reads: files, stdin (`-`), and directories, which are
 * read as `kubectl apply -R -f DIR` reads them: every *.yaml, *.yml and *.json
 * file in the directory and below, in name order (directories where their name
 * sorts). Entries starting with a dot (.git, the `..data` of a mounted
 * ConfigMap) are left out.
 */
import { describeFileError } from '../core/errors.ts';
import { readFile, readdir, stat } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import { join } from 'node:path';
import { objectsFromText } from '../admission/objects.ts';
import type { KubeObject } from '../admission/objects.ts';
import { workloadKind, groupOf } from '../admission/kinds.ts';
import type { WorkloadSetting } from '../policy/types.ts';
import { isPlainObject } from '../core/guards.ts';
import type { CommandIO } from './report.ts';
import { UsageError } from './usage.ts';

const MANIFEST_FILE = /\.(ya?ml|json)$/i;

/** Byte order, as Go's filepath.Walk sorts, so that the order does not depend on the locale. */
const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The manifest files under a directory, in kubectl's order. */
export async function manifestFiles(dir: string): Promise<string[]> {
  let listed: Dirent[];
  try {
    listed = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    throw new UsageError(`cannot read ${dir}: ${describeFileError(error)}`);
  }
  const entries = listed.filter((entry) => !entry.name.startsWith('.')).sort((a, b) => byName(a.name, b.name));
  const files: string[] = [];
  for (const entry of entries) {
    const path = join(dir, entry.name);
    // Symbolic links to directories are not followed (nor by filepath.Walk): no cycles.
    if (entry.isDirectory()) files.push(...(await manifestFiles(path)));
    else if (MANIFEST_FILE.test(entry.name) && (entry.isFile() || (entry.isSymbolicLink() && (await stat(path).catch(() => undefined))?.isFile() === true)))
      files.push(path);
  }
  return files;
}

export interface Manifests {
  readonly objects: readonly KubeObject[];
  /** The files read, stdin as `(stdin)`. */
  readonly sources: readonly string[];
}

export interface ManifestText {
  /** The file read, stdin as `(stdin)`. */
  readonly source: string;
  readonly text: string;
}

/** The text of every manifest file in the inputs, in order: each `-f` as given, a directory's files in name order. */
export async function readManifestTexts(inputs: readonly string[], io: CommandIO): Promise<ManifestText[]> {
  const texts: ManifestText[] = [];
  for (const input of inputs) {
    if (input === '-') {
      texts.push({ source: '(stdin)', text: await io.stdin() });
      continue;
    }
    let isDirectory: boolean;
    try {
      isDirectory = (await stat(input)).isDirectory();
    } catch (error) {
      throw new UsageError(`cannot read ${input}: ${describeFileError(error)}`);
    }
    const files = isDirectory ? await manifestFiles(input) : [input];
    for (const file of files) {
      try {
        texts.push({ source: file, text: await readFile(file, 'utf8') });
      } catch (error) {
        throw new UsageError(`cannot read ${file}: ${describeFileError(error)}`);
      }
    }
  }
  return texts;
}

/** Every object in the inputs, in order: each `-f` as given, a directory's files in name order. */
export async function readManifests(inputs: readonly string[], io: CommandIO): Promise<Manifests> {
  const texts = await readManifestTexts(inputs, io);
  return { objects: texts.flatMap(({ text, source }) => objectsFromText(text, source)), sources: texts.map(({ source }) => source) };
}

/**
 * The object with `namespace` where it names none, as `kubectl apply -n`
 * places it; cluster-scoped workload kinds stay without one.
 */
export function placeInNamespace(object: KubeObject, namespace: string, workloads: readonly WorkloadSetting[]): KubeObject {
  const metadata = isPlainObject(object['metadata']) ? object['metadata'] : {};
  if (typeof metadata['namespace'] === 'string' && metadata['namespace'] !== '') return object;
  const apiVersion = typeof object['apiVersion'] === 'string' ? object['apiVersion'] : '';
  const kind = workloadKind(groupOf(apiVersion), typeof object['kind'] === 'string' ? object['kind'] : '', workloads);
  if (kind?.namespaced === false) return object;
  return { ...object, metadata: { ...metadata, namespace } };
}
