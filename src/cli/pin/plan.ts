/**
 * What `pin` changes in each file: the references to resolve, and, once they
 * are resolved, each file's text changes and a line per reference for the
 * user (pinned, already pinned, or why it cannot be).
 */
import type { Scalar } from 'yaml';
import { parseReference } from '../../reference/parse.ts';
import type { Resolution } from './resolve.ts';
import { applyChanges, changesOf } from './rewrite.ts';
import type { ScalarEdit, TextChange } from './rewrite.ts';
import type { ParsedManifest, PinSite } from './sites.ts';

/** Whether the reference as written names a digest already (an invalid one is left to resolution to report). */
function hasDigest(reference: string): boolean {
  try {
    return parseReference(reference).digest !== undefined;
  } catch {
    return false;
  }
}

/** The references to resolve: strings without a digest at sites that can be rewritten. */
export function referencesToResolve(manifests: readonly ParsedManifest[]): string[] {
  return manifests.flatMap((manifest) =>
    manifest.sites.flatMap((site) => (site.reference !== undefined && site.problem === undefined && !hasDigest(site.reference) ? [site.reference] : [])),
  );
}

export interface FilePlan {
  readonly source: string;
  readonly text: string;
  readonly pinnedText: string;
  readonly changes: readonly TextChange[];
}

export interface Plan {
  readonly files: readonly FilePlan[];
  /** One line per reference: what pin did with it. */
  readonly notes: readonly string[];
  /** One line per reference that could not be pinned. */
  readonly failures: readonly string[];
}

const where = (source: string, site: PinSite): string =>
  `${source}: ${site.object}, ${site.scheme === '' ? `volume ${JSON.stringify(site.volume)}` : 'storage URI'} at ${site.path}`;

export function planPins(manifests: readonly ParsedManifest[], resolutions: ReadonlyMap<string, Resolution>): Plan {
  const notes: string[] = [];
  const failures: string[] = [];
  const files = manifests.map((manifest): FilePlan => {
    // One edit per node: a node reached twice (a List and its item) is rewritten once.
    const edits = new Map<Scalar, ScalarEdit>();
    for (const site of manifest.sites) {
      const written = site.reference === undefined ? '(not a string)' : `${site.scheme}${site.reference}`;
      if (site.problem !== undefined || site.reference === undefined || site.node === undefined) {
        if (site.reference !== undefined && hasDigest(site.reference)) notes.push(`${where(manifest.source, site)}: ${written} (already pinned)`);
        else failures.push(`${where(manifest.source, site)}: ${written}: cannot be pinned: ${site.problem ?? 'not a string'}`);
        continue;
      }
      if (hasDigest(site.reference)) {
        notes.push(`${where(manifest.source, site)}: ${written} (already pinned)`);
        continue;
      }
      const resolution = resolutions.get(site.reference);
      if (resolution === undefined || !resolution.ok) {
        failures.push(`${where(manifest.source, site)}: ${written}: ${resolution?.error ?? 'not resolved'}`);
        continue;
      }
      edits.set(site.node, { node: site.node, value: `${site.scheme}${resolution.pinned}` });
      notes.push(`${where(manifest.source, site)}: ${written} -> ${site.scheme}${resolution.pinned}`);
    }
    const changes = changesOf([...edits.values()]);
    return { source: manifest.source, text: manifest.text, pinnedText: applyChanges(manifest.text, changes), changes };
  });
  return { files, notes, failures };
}
