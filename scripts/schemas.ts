/** Writes schemas/*.json from the document declarations (src/policy/published-schemas.ts). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../src/core/package-root.ts';
import { publishedSchemas } from '../src/policy/published-schemas.ts';

for (const [file, schema] of publishedSchemas()) {
  const path = join(PACKAGE_ROOT, 'schemas', file);
  writeFileSync(path, `${JSON.stringify(schema, null, 2)}\n`);
  console.log(`wrote ${path}`);
}
