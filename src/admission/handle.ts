/**
 * AdmissionRequest → Decision. Decides quickly what needs no evaluation
 * (other kinds, DELETE and CONNECT, subresources, objects without image
 * volumes) and evaluates the rest.
 */
import { decide, tooManyReferences } from '../engine/decision.ts';
import type { Decision, ObjectIdentity } from '../engine/decision.ts';
import { evaluateReferences } from '../engine/evaluate.ts';
import type { Engine } from '../engine/engine.ts';
import { isPlainObject } from '../core/guards.ts';
import { extractModelReferences, newReferences } from './extract.ts';
import { kindName, workloadKind } from './kinds.ts';
import type { AdmissionRequest } from './review.ts';

export interface AdmissionOutcome {
  readonly decision: Decision;
  readonly object: ObjectIdentity;
  /** Why no reference was evaluated, when none was. */
  readonly skipped: string | undefined;
}

const ALLOW: Decision = { allowed: true, message: undefined, warnings: [], auditAnnotations: {}, verdicts: [], reasons: [] };

export function identify(request: Pick<AdmissionRequest, 'kind' | 'namespace' | 'name' | 'object' | 'oldObject'>): ObjectIdentity {
  const source = isPlainObject(request.object) ? request.object : request.oldObject;
  const metadata = isPlainObject(source) && isPlainObject(source['metadata']) ? source['metadata'] : {};
  const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
  const generateName = str(metadata['generateName']);
  return {
    kind: request.kind.kind,
    namespace: request.namespace ?? str(metadata['namespace']) ?? '',
    name: request.name ?? str(metadata['name']) ?? (generateName === undefined ? '(unnamed)' : `${generateName}<generated>`),
  };
}

/** Synchronous unless a matching policy has artifact rules that need the registry. */
export function handleAdmission(request: AdmissionRequest, engine: Engine): AdmissionOutcome | Promise<AdmissionOutcome> {
  const identity = identify(request);
  const skipAs = (object: ObjectIdentity, skipped: string): AdmissionOutcome => ({ decision: ALLOW, object, skipped });
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return skipAs(identity, `operation ${request.operation}`);
  if (request.subResource !== undefined) return skipAs(identity, `subresource ${request.subResource}`);
  const kind = workloadKind(request.kind.group, request.kind.kind, engine.policySet.config.workloads);
  if (kind === undefined) return skipAs(identity, `kind ${kindName(request.kind)} carries no pod spec modelgate knows`);
  // The API server sends a namespace for every namespaced object; manifests checked offline may lack one, and kubectl would put those into `default`.
  const namespace = !kind.namespaced ? '' : identity.namespace === '' ? 'default' : identity.namespace;
  const object: ObjectIdentity = { ...identity, namespace };
  const skip = (skipped: string): AdmissionOutcome => skipAs(object, skipped);
  if (!isPlainObject(request.object)) return skip('no object');
  let sites = extractModelReferences(request.object, kind);
  if (sites.length === 0) return skip('no image volumes');
  if (request.operation === 'UPDATE') {
    sites = newReferences(sites, request.oldObject, kind);
    if (sites.length === 0) return skip('image volume references unchanged');
  }
  const limit = engine.policySet.config.limits.maxReferencesPerObject;
  if (sites.length > limit) return { decision: tooManyReferences(object, sites.length, limit), object, skipped: undefined };
  const context = { engine, namespace, object: { kind: object.kind, name: object.name }, deadline: Date.now() + engine.policySet.config.timeouts.totalMs };
  // Each reference with its pod's pull secrets in reach (pods of one object may pull with different ones).
  const withPod = engine.withPod;
  const verdicts =
    withPod === undefined ? evaluateReferences(sites, context) : evaluateReferences(sites, context, (site, work) => withPod(namespace, site.podSpec, work));
  if (verdicts instanceof Promise) return verdicts.then((list) => ({ decision: decide(object, list), object, skipped: undefined }));
  return { decision: decide(object, verdicts), object, skipped: undefined };
}
