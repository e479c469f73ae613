/**
 * The published JSON Schemas (schemas/*.json) are what the declarations generate, and an
 * independent validator (Ajv) accepts with them every policy and Config the repository ships
 * or documents, so editors and CI can use them.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { Ajv } from 'ajv';
import { parseAllDocuments } from 'yaml';
import { isPlainObject } from '../../src/core/guards.ts';
import { PACKAGE_ROOT } from '../../src/core/package-root.ts';
import { publishedSchemas } from '../../src/policy/published-schemas.ts';

const SCHEMA_OF_KIND: Readonly<Record<string, string>> = { ModelPolicy: 'modelpolicy.json', Config: 'config.json' };

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(name) ? [path] : [];
  });
}

interface Document {
  readonly where: string;
  readonly data: Record<string, unknown>;
}

/** modelgate documents in a YAML text, and in the policy texts of ConfigMaps there. */
function documentsIn(text: string, where: string): Document[] {
  return parseAllDocuments(text).flatMap((doc, index): Document[] => {
    const record: unknown = doc.toJS();
    if (!isPlainObject(record)) return [];
    const at = `${where}#${index + 1}`;
    if (record['kind'] === 'ConfigMap' && isPlainObject(record['data'])) {
      return Object.entries(record['data']).flatMap(([key, value]) => (typeof value === 'string' ? documentsIn(value, `${at} ${key}`) : []));
    }
    return String(record['apiVersion']).startsWith('modelgate.dev/') ? [{ where: at, data: record }] : [];
  });
}

function readmeDocuments(): Document[] {
  const readme = readFileSync(join(PACKAGE_ROOT, 'README.md'), 'utf8');
  return [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].flatMap((match, index) => documentsIn(match[1] ?? '', `README.md yaml block ${index + 1}`));
}

const shipped = [join(PACKAGE_ROOT, 'manifests'), join(PACKAGE_ROOT, 'examples')].flatMap(yamlFiles);
const documents = [...shipped.flatMap((file) => documentsIn(readFileSync(file, 'utf8'), relative(PACKAGE_ROOT, file))), ...readmeDocuments()];

function ajvFor(file: string) {
  const ajv = new Ajv({ allErrors: true, strict: true });
  ajv.addKeyword('patternErrorMessage'); // yaml-language-server's message for a pattern
  return ajv.compile(JSON.parse(readFileSync(join(PACKAGE_ROOT, 'schemas', file), 'utf8')));
}

describe('published JSON Schemas', () => {
  for (const [file, generated] of publishedSchemas()) {
    it(`schemas/${file} is what the declarations generate (npm run schemas)`, () => {
      assert.deepEqual(JSON.parse(readFileSync(join(PACKAGE_ROOT, 'schemas', file), 'utf8')), generated);
    });
  }

  it('an independent validator accepts every shipped and documented policy and Config with them', () => {
    const validators = new Map(Object.values(SCHEMA_OF_KIND).map((file) => [file, ajvFor(file)]));
    assert.ok(documents.filter((doc) => doc.data['kind'] === 'ModelPolicy').length >= 5, 'policies found');
    assert.ok(
      documents.some((doc) => doc.where.startsWith('README.md')),
      'README examples found',
    );
    assert.ok(
      documents.some((doc) => doc.data['kind'] === 'Config'),
      'a Config found',
    );
    for (const { where, data } of documents) {
      const validate = validators.get(SCHEMA_OF_KIND[String(data['kind'])] ?? '');
      assert.ok(validate !== undefined, `${where}: kind ${String(data['kind'])}`);
      assert.ok(validate(data), `${where}: ${JSON.stringify(validate.errors)}`);
    }
  });

  it('and rejects what modelgate rejects: unknown fields, wrong values, patterns', () => {
    const validate = ajvFor('modelpolicy.json');
    const policy = (spec: unknown) => ({ apiVersion: 'modelgate.dev/v1alpha1', kind: 'ModelPolicy', metadata: { name: 'p' }, spec });
    assert.equal(validate(policy({ mode: 'enforce', match: { references: ['ghcr.io/**'] } })), true);
    assert.equal(validate(policy({ extra: true })), false);
    assert.equal(validate(policy({ mode: 'block' })), false);
    assert.equal(validate(policy({ match: { references: [''] } })), false);
    assert.equal(validate({ ...policy({}), metadata: { name: 'Upper' } }), false);
    assert.equal(validate(policy({ signatures: { authorities: [] } })), false);
  });
});
