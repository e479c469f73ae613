/**
 * The engine for a command. engine/engine.ts brings the registry client
 * (undici) and the signature verifiers with it, a fifth of a second to load;
 * a command whose policies read nothing from a registry, or that runs
 * --offline, gets the same registry-less engine createEngine would make,
 * without loading them.
 */
import type { EngineOptions, RegistryBackedEngine } from '../engine/engine.ts';
import { needsRegistry } from '../engine/registry-needs.ts';
import type { PolicySet } from '../policy/types.ts';

export async function commandEngine(policySet: PolicySet, options: EngineOptions = {}): Promise<RegistryBackedEngine> {
  if (options.offline === true || !needsRegistry(policySet)) return { policySet, artifacts: undefined, client: undefined, cache: undefined };
  const { createEngine } = await import('../engine/engine.ts');
  return createEngine(policySet, options);
}
