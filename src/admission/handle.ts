/**
 * AdmissionRequest → Decision. Decides quickly what needs no evaluation
 * (other kinds, DELETE and CONNECT, subresources, objects without image
 * volumes) and evaluates the rest.
 */
import { decide } from '../engine/decision.ts';
import type { Decision, ObjectIdentity } from '../engine/decision.ts';
import { evaluateReferences } from '../engine/evaluate.ts';
import type { PolicySet } from '../policy/types.ts';
import { isPlainObject } from '../policy/schema.ts';
import { extractModelReferences, newReferences } from './extract.ts';
import { podSpecLocation } from './kinds.ts';
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

export function handleAdmission(request: AdmissionRequest, policySet: PolicySet): AdmissionOutcome {
  const object = identify(request);
  const skip = (skipped: string): AdmissionOutcome => ({ decision: ALLOW, object, skipped });
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return skip(`operation ${request.operation}`);
  if (request.subResource !== undefined) return skip(`subresource ${request.subResource}`);
  const location = podSpecLocation(request.kind.group, request.kind.kind);
  if (location === undefined) return skip(`kind ${request.kind.group === '' ? '' : `${request.kind.group}/`}${request.kind.kind} carries no pod spec`);
  if (!isPlainObject(request.object)) return skip('no object');
  let sites = extractModelReferences(request.object, location);
  if (sites.length === 0) return skip('no image volumes');
  if (request.operation === 'UPDATE') {
    sites = newReferences(sites, request.oldObject, location);
    if (sites.length === 0) return skip('image volume references unchanged');
  }
  // Namespaced kinds always have a namespace on the request; `default` covers manifests checked offline.
  const namespace = object.namespace === '' ? 'default' : object.namespace;
  return { decision: decide(object, evaluateReferences(sites, namespace, policySet)), object, skipped: undefined };
}
