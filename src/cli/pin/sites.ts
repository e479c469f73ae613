/**
 * Where in a manifest file the model references sit, as YAML nodes: the same
 * sites the admission extractors find (every workload kind `check` knows,
 * KServe `oci://` storage URIs included), located in the parsed documents so
 * that `pin` can rewrite exactly those scalars and nothing else.
 */
import { isScalar, parseAllDocuments } from 'yaml';
import type { Document, Scalar } from 'yaml';
import { extractModelReferences } from '../../admission/extract.ts';
import { groupOf, workloadKind } from '../../admission/kinds.ts';
import { ManifestError } from '../../admission/objects.ts';
import { isPlainObject } from '../../core/guards.ts';
import type { WorkloadSetting } from '../../policy/types.ts';

/** KServe's schemes for OCI models, as admission/extract.ts reads them. */
const OCI_URI = /^oci(?:\+native)?:\/\//i;

export interface PinSite {
  /** `Deployment default/llm` (namespace as written, if any). */
  readonly object: string;
  readonly volume: string;
  /** Field path in the object, as check reports it. */
  readonly path: string;
  /** The reference as written (a storage URI without its scheme); undefined when it is not a string. */
  readonly reference: string | undefined;
  /** `oci://` (as written) for a storage URI, else empty. */
  readonly scheme: string;
  /** The scalar to rewrite; undefined when the reference cannot be rewritten where it is (see problem). */
  readonly node: Scalar | undefined;
  /** Why this reference cannot be pinned in place. */
  readonly problem?: string;
}

type Segment = string | number;

/** `spec.volumes[2].image.reference` or `a["odd key"].b` (core/paths.ts's format) as node-path segments. */
export function fieldPathSegments(path: string): Segment[] {
  const segments: Segment[] = [];
  for (const match of path.matchAll(/([A-Za-z_$][\w$-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/g)) {
    if (match[1] !== undefined) segments.push(match[1]);
    else if (match[2] !== undefined) segments.push(Number(match[2]));
    else segments.push(JSON.parse(match[3] as string) as string);
  }
  return segments;
}

interface Located {
  readonly object: Record<string, unknown>;
  readonly at: readonly Segment[];
}

/** The objects of a document with where each sits (List items flattened, as objectsFromText does). */
function objectsOf(data: Record<string, unknown>, at: readonly Segment[], into: Located[]): void {
  if (typeof data['kind'] === 'string' && data['kind'].endsWith('List') && Array.isArray(data['items'])) {
    data['items'].forEach((item: unknown, index) => {
      if (isPlainObject(item)) objectsOf(item, [...at, 'items', index], into);
    });
    return;
  }
  into.push({ object: data, at });
}

function objectName(object: Record<string, unknown>): string {
  const metadata = isPlainObject(object['metadata']) ? object['metadata'] : {};
  const namespace = typeof metadata['namespace'] === 'string' && metadata['namespace'] !== '' ? `${metadata['namespace']}/` : '';
  const name = typeof metadata['name'] === 'string' ? metadata['name'] : '(unnamed)';
  return `${typeof object['kind'] === 'string' ? object['kind'] : '(no kind)'} ${namespace}${name}`;
}

function nodeProblem(node: unknown): string | undefined {
  if (!isScalar(node) || typeof node.value !== 'string') return 'it is reached through a YAML alias or is not a plain string; pin it by hand';
  if (node.type === 'BLOCK_FOLDED' || node.type === 'BLOCK_LITERAL') return 'it is a block scalar (| or >); write it as a plain or quoted string';
  return undefined;
}

function documentSites(doc: Document, name: string, workloads: readonly WorkloadSetting[]): PinSite[] {
  const data: unknown = doc.toJS({ maxAliasCount: 100 });
  if (data === null || data === undefined) return [];
  if (!isPlainObject(data)) throw new ManifestError(`${name}: not a Kubernetes object`);
  const located: Located[] = [];
  objectsOf(data, [], located);
  const sites: PinSite[] = [];
  for (const { object, at } of located) {
    const apiVersion = typeof object['apiVersion'] === 'string' ? object['apiVersion'] : '';
    const kind = workloadKind(groupOf(apiVersion), typeof object['kind'] === 'string' ? object['kind'] : '', workloads);
    if (kind === undefined) continue;
    for (const site of extractModelReferences(object, kind)) {
      const written = typeof site.reference === 'string' ? site.reference : undefined;
      const base = { object: objectName(object), volume: site.volume, path: site.path, reference: written };
      if (site.problem !== undefined || written === undefined) {
        sites.push({ ...base, scheme: '', node: undefined, problem: site.problem ?? 'the reference is not a string' });
        continue;
      }
      // An image volume that a podSpecPatch adds sits inside a string of YAML: its path has `: volumes`.
      if (site.path.includes(': ')) {
        sites.push({ ...base, scheme: '', node: undefined, problem: 'it sits inside a podSpecPatch string; pin it there by hand' });
        continue;
      }
      const node = doc.getIn([...at, ...fieldPathSegments(site.path)], true);
      const problem = nodeProblem(node);
      const scalar = problem === undefined ? (node as Scalar) : undefined;
      const scheme = site.kind === 'storageUri' ? (OCI_URI.exec(String(scalar?.value ?? ''))?.[0] ?? 'oci://') : '';
      sites.push({ ...base, scheme, node: scalar, ...(problem === undefined ? {} : { problem }) });
    }
  }
  return sites;
}

export interface ParsedManifest {
  readonly source: string;
  readonly text: string;
  readonly sites: readonly PinSite[];
}

/** The model-reference sites of every document of a manifest text. Throws ManifestError on YAML errors. */
export function findSites(text: string, source: string, workloads: readonly WorkloadSetting[]): ParsedManifest {
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  const sites: PinSite[] = [];
  list.forEach((doc, index) => {
    const name = `${source} (document ${index + 1})`;
    if (doc.errors.length > 0) throw new ManifestError(`${name}: ${doc.errors[0]?.message.split('\n')[0] ?? 'invalid YAML'}`);
    sites.push(...documentSites(doc, name, workloads));
  });
  return { source, text, sites };
}
