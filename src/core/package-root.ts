/** Locates files shipped with the package, from src/ (tests) and dist/src/ (built) alike. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'modelgate') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the modelgate package root');
    dir = parent;
  }
}

export const PACKAGE_ROOT = findRoot();
/** The policy used when none is given: digest pinning everywhere. */
export const BUNDLED_POLICY = join(PACKAGE_ROOT, 'manifests', 'policy.yaml');
