/**
 * The mapping of a verified OMS statement (oms-statement.ts) onto the layers of a manifest:
 * pure, so the whole judgement is a table of cases (test/unit/signature/oms-mapping.test.ts).
 *
 * A raw ModelPack layer is one file: its digest is the file's sha256, its name the one the
 * runtime writes (artifact/file-names.ts, given here already resolved). The signature covers
 * the model exactly when every mounted layer is a signed resource of equal sha256 and every
 * resource is a mounted layer. What a statement says and a manifest cannot show is refused,
 * each with the file and the reason: shards, another hash, a single-file model (`.`), a tar
 * layer (its digest is the archive's, not a file's), a layer under a signed ignore_paths entry
 * (the signature says nothing about it), names the layer's annotations disagree on, and a root
 * digest that is not sha256 over the resource digests in order (the statement was edited).
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type { OmsStatement } from './oms-statement.ts';

/** One layer of the manifest as the runtime will write it. */
export interface MountedLayer {
  /** Position in the manifest's layers (0-based). */
  readonly index: number;
  readonly digest: string;
  readonly mediaType: string;
  /** The file name the runtime writes, cleaned; undefined when the runtime skips the layer, `''` over the volume itself. */
  readonly path: string | undefined;
  /** Every name its annotations give (title, filepath, legacy filepath), cleaned. */
  readonly names: readonly string[];
  /** Its media type is a tar archive. */
  readonly tar: boolean;
}

/** One line of the file-by-file mapping, for explain. */
export interface MappingRow {
  readonly file: string;
  /** `match`, or what is wrong with this file. */
  readonly verdict: string;
}

export interface Mapping {
  readonly ok: boolean;
  /** Every problem, one per file (or per statement), worded for a denial. */
  readonly problems: readonly string[];
  readonly rows: readonly MappingRow[];
  /** Files that matched. */
  readonly matched: number;
}

const quote = (name: string): string => JSON.stringify(name.length > 160 ? `${name.slice(0, 159)}…` : name);
const hex = (digest: string): string => digest.slice(digest.indexOf(':') + 1);
const short = (value: string): string => (value.length > 12 ? `${value.slice(0, 12)}…` : value);

/** sha256 over the resource digests (bytes) concatenated in the listed order, as model_signing computes the subject digest. */
export function rootDigestOf(statement: OmsStatement): string {
  const hash = createHash('sha256');
  for (const resource of statement.resources) hash.update(Buffer.from(resource.digest, 'hex'));
  return hash.digest('hex');
}

/** The ignore_paths entry a path lies under (model_signing: `path.is_relative_to(entry)`), or undefined. */
function ignoredBy(path: string, ignorePaths: readonly string[]): string | undefined {
  for (const entry of ignorePaths) {
    const clean = posix.normalize(entry).replace(/^\.\/|\/$/g, '');
    if (clean === '.' || clean === '') return entry;
    if (path === clean || path.startsWith(`${clean}/`)) return entry;
  }
  return undefined;
}

/** Problems of the statement itself, before any file is compared. */
function statementProblems(statement: OmsStatement): string[] {
  const problems: string[] = [];
  if (statement.method !== 'files')
    problems.push(
      `the model was signed with serialization method ${quote(statement.method)} (file shards): shard digests are not the file digests a manifest holds; sign with whole files (model_signing's default)`,
    );
  if (statement.hashType !== 'sha256')
    problems.push(`the model was signed with hash type ${quote(statement.hashType)}: only whole-file sha256 equals an OCI layer digest; sign with sha256`);
  if (statement.rootDigest !== undefined) {
    const computed = rootDigestOf(statement);
    if (computed !== statement.rootDigest)
      problems.push(
        `the statement's subject digest ${short(statement.rootDigest)} is not sha256 over its resource digests in order (${short(computed)}): the statement is inconsistent`,
      );
  }
  return problems;
}

/** Maps the statement onto the mounted layers (the signature layer already left out). */
export function mapStatement(statement: OmsStatement, layers: readonly MountedLayer[]): Mapping {
  const problems = statementProblems(statement);
  const rows: MappingRow[] = [];
  const resources = new Map<string, string>();
  for (const resource of statement.resources) {
    const { name } = resource;
    const at = `signed file ${quote(name)}`;
    if (name === '.' || name === '') {
      problems.push(`the signature is of a single-file model (resource "."): it names no file, so it cannot be mapped onto layers; sign the model's directory`);
      continue;
    }
    if (resource.algorithm !== 'sha256') {
      problems.push(`${at} is hashed with ${quote(resource.algorithm)}, not sha256: it cannot be compared with its layer digest`);
      continue;
    }
    if (posix.normalize(name) !== name || name.startsWith('/') || name.startsWith('../') || name.endsWith('/')) {
      problems.push(`${at} is not a clean relative path: model_signing never writes one, the statement was made by something else`);
      continue;
    }
    if (resources.has(name)) {
      problems.push(`${at} is listed twice in the statement`);
      continue;
    }
    resources.set(name, resource.digest);
  }
  const byPath = new Map<string, MountedLayer>();
  let matched = 0;
  for (const layer of layers) {
    if (layer.path === undefined) continue; // Not written by the runtime: nothing to cover.
    const where = `layer ${layer.index + 1}`;
    const file = layer.path === '' ? '(the volume itself)' : layer.path;
    const wrong = (verdict: string, problem: string): void => {
      rows.push({ file, verdict });
      problems.push(problem);
    };
    if (layer.path === '') {
      wrong('mounted over the volume', `${where} is mounted over the volume itself, not as a file: no signed file can be there`);
      continue;
    }
    const other = byPath.get(layer.path);
    if (other !== undefined) {
      wrong('two layers', `${where} and layer ${other.index + 1} both write ${quote(layer.path)}: which one the runtime keeps is not known`);
      continue;
    }
    byPath.set(layer.path, layer);
    if (layer.tar) {
      wrong(
        'tar layer',
        `${where} (${quote(layer.path)}) is a tar archive (${layer.mediaType}): its digest is the archive's, not a signed file's; push the files as raw layers, one per file`,
      );
      continue;
    }
    const ignored = ignoredBy(layer.path, statement.ignorePaths);
    if (ignored !== undefined) {
      wrong(
        'under ignore_paths',
        `${where} writes ${quote(layer.path)}, under the signed ignore_paths entry ${quote(ignored)}: the signature says nothing about its content`,
      );
      continue;
    }
    const disagreeing = layer.names.find((name) => name !== layer.path);
    if (disagreeing !== undefined) {
      wrong(
        'annotations disagree',
        `${where}'s annotations name it both ${quote(layer.path)} (written by the runtime) and ${quote(disagreeing)}: the path must be one, as signed`,
      );
      continue;
    }
    const signed = resources.get(layer.path);
    if (signed === undefined) {
      const sameContent = [...resources].find(
        ([name, digest]) => digest === hex(layer.digest) && !byPath.has(name) && posix.basename(name) === posix.basename(layer.path ?? ''),
      );
      wrong(
        sameContent === undefined ? 'not signed' : `signed as ${sameContent[0]}`,
        sameContent === undefined
          ? `${where} writes ${quote(layer.path)}, which the signature does not list (an extra file)`
          : `${where} writes ${quote(layer.path)}, but the signature has that content at ${quote(sameContent[0])}: the path differs by its directory; push the model keeping its directories`,
      );
      continue;
    }
    if (signed !== hex(layer.digest)) {
      wrong(
        'changed',
        `${where} writes ${quote(layer.path)} with sha256 ${short(hex(layer.digest))}, but the signature has ${short(signed)}: the file was changed`,
      );
      continue;
    }
    matched++;
    rows.push({ file: layer.path, verdict: 'match' });
  }
  for (const name of resources.keys()) {
    if (byPath.has(name)) continue;
    rows.push({ file: name, verdict: 'missing' });
    problems.push(`the signed file ${quote(name)} is not a layer of the manifest (a missing file)`);
  }
  return { ok: problems.length === 0, problems, rows, matched };
}
