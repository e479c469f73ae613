/**
 * `bin/modelgate.js` runs the built JavaScript in dist/ whenever it exists, so
 * a benchmark of the real server measures dist/, not src/. This rebuilds dist/
 * (`npm run build`) when any source file is newer than its output or has none.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PACKAGE_ROOT } from '../../src/core/package-root.ts';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The first source file whose built output is missing or older, or undefined when dist/ is current. */
export function staleSource(): string | undefined {
  for (const source of sources(join(PACKAGE_ROOT, 'src'))) {
    const built = join(PACKAGE_ROOT, 'dist', relative(PACKAGE_ROOT, source).replace(/\.ts$/, '.js'));
    if (!existsSync(built) || statSync(built).mtimeMs < statSync(source).mtimeMs) return relative(PACKAGE_ROOT, source);
  }
  return undefined;
}

/** Rebuilds dist/ when it is behind src/; returns what was stale, if anything. */
export function ensureBuilt(): string | undefined {
  const stale = staleSource();
  if (stale === undefined) return undefined;
  execFileSync(process.execPath, [join(PACKAGE_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(PACKAGE_ROOT, 'tsconfig.build.json')], {
    cwd: PACKAGE_ROOT,
    stdio: 'inherit',
  });
  return stale;
}
