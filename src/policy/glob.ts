/**
 * Glob matching for namespaces, repositories and registry hosts.
 * `*` and `?` stay inside one `/`-separated segment; `**` crosses segments,
 * and `a/**` also matches `a` itself so that a repository tree includes its root.
 */

const compiled = new Map<string, RegExp>();
const SPECIAL = /[\\^$.|+()[\]{}]/;

export function globToRegExp(glob: string): RegExp {
  let cached = compiled.get(glob);
  if (cached !== undefined) return cached;
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i] as string;
    if (char === '*') {
      if (glob[i + 1] === '*') {
        i++;
        if (glob[i + 1] === '/') {
          i++;
          source += '(?:.*/)?';
        } else if (source.endsWith('/') && i === glob.length - 1) {
          // "a/**" matches "a" too
          source = `${source.slice(0, -1)}(?:/.*)?`;
        } else {
          source += '.*';
        }
      } else {
        source += '[^/]*';
      }
    } else if (char === '?') {
      source += '[^/]';
    } else {
      source += SPECIAL.test(char) ? `\\${char}` : char;
    }
  }
  cached = new RegExp(`^${source}$`);
  compiled.set(glob, cached);
  return cached;
}

export function matchesGlob(glob: string, value: string): boolean {
  return globToRegExp(glob).test(value);
}

export function matchesAny(globs: readonly string[], value: string): boolean {
  for (const glob of globs) if (matchesGlob(glob, value)) return true;
  return false;
}
