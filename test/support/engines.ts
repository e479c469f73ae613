/**
 * Engines made from policy text for tests that go through the engine (no HTTP server): each
 * engine is remembered so that one after() hook closes every registry client.
 */
import { after } from 'node:test';
import { handleAdmission } from '../../src/admission/handle.ts';
import { parseAdmissionReview } from '../../src/admission/review.ts';
import { createEngine } from '../../src/engine/engine.ts';
import type { EngineOptions, RegistryBackedEngine } from '../../src/engine/engine.ts';
import { policySetFromTexts } from '../../src/policy/load.ts';
import { admissionReview, kubeObject } from './objects.ts';

const engines: RegistryBackedEngine[] = [];

// At import, so on the importing test file's root: after all of its tests.
after(async () => {
  for (const created of engines.splice(0)) await created.client?.close();
});

/** An engine for the policy text (source `test.yaml`); closed after the file's tests. */
export function engine(text: string, options: EngineOptions = {}): RegistryBackedEngine {
  const created = createEngine(policySetFromTexts([{ source: 'test.yaml', text }]), options);
  engines.push(created);
  return created;
}

/** A CREATE of a Pod in `namespace` with one image volume per reference (model-0, model-1, ...). */
export async function admit(on: RegistryBackedEngine, references: readonly string[], namespace = 'team-a') {
  const object = kubeObject(
    'Pod',
    references.map((reference, index) => ({ name: `model-${index}`, reference })),
    { namespace },
  );
  return handleAdmission(parseAdmissionReview(admissionReview(object, { namespace })), on);
}
