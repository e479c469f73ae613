/**
 * The JSON Schemas published in schemas/ for editors (yaml-language-server) and CI, generated
 * from the declarations by `npm run schemas`; a unit test keeps the committed files equal.
 */
import { publishedSchema } from '../core/schema.ts';
import { configSchema } from './config-schema.ts';
import { modelPolicySchema } from './model-policy-schema.ts';

const DRAFT_07 = 'http://json-schema.org/draft-07/schema#';

/** File name in schemas/ → the document's JSON Schema. */
export function publishedSchemas(): ReadonlyMap<string, Record<string, unknown>> {
  const header = (source: string) => ({ $schema: DRAFT_07, $comment: `Generated from ${source} by npm run schemas; do not edit.` });
  return new Map([
    ['modelpolicy.json', publishedSchema(modelPolicySchema, header('src/policy/model-policy-schema.ts'))],
    ['config.json', publishedSchema(configSchema, header('src/policy/config-schema.ts'))],
  ]);
}
