/**
 * The admission.k8s.io/v1 AdmissionReview wire format: validation of what the
 * API server sends and construction of the answer.
 */
import { ModelgateError } from '../core/errors.ts';
import { isPlainObject } from '../core/guards.ts';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

export interface GroupVersionKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
}

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
const OPERATIONS: readonly string[] = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'];

export interface AdmissionRequest {
  readonly uid: string;
  readonly kind: GroupVersionKind;
  readonly subResource: string | undefined;
  readonly name: string | undefined;
  readonly namespace: string | undefined;
  readonly operation: Operation;
  readonly object: unknown;
  readonly oldObject: unknown;
  readonly dryRun: boolean;
  readonly username: string | undefined;
}

export interface AdmissionStatus {
  readonly code: number;
  readonly message: string;
  readonly reason?: string;
}

export interface AdmissionResponse {
  readonly uid: string;
  readonly allowed: boolean;
  readonly status?: AdmissionStatus;
  readonly warnings?: readonly string[];
  readonly auditAnnotations?: Readonly<Record<string, string>>;
}

export interface AdmissionReviewResponse {
  readonly apiVersion: typeof ADMISSION_API_VERSION;
  readonly kind: 'AdmissionReview';
  readonly response: AdmissionResponse;
}

/** The request body is not an AdmissionReview modelgate can answer; the server returns 400. */
export class InvalidReviewError extends ModelgateError<'INVALID_REVIEW'> {
  static readonly codes = { INVALID_REVIEW: { httpStatus: 400 } } as const;
  override readonly name = 'InvalidReviewError';
  constructor(message: string) {
    super(InvalidReviewError.codes, 'INVALID_REVIEW', message);
  }
}

const optionalString = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

/** Checks the envelope of an AdmissionReview and returns its request. */
export function parseAdmissionReview(body: unknown): AdmissionRequest {
  if (!isPlainObject(body)) throw new InvalidReviewError('the body must be a JSON object holding an AdmissionReview');
  if (body['apiVersion'] !== ADMISSION_API_VERSION) {
    throw new InvalidReviewError(
      `apiVersion must be ${ADMISSION_API_VERSION}, got ${JSON.stringify(body['apiVersion'] ?? null)}; set admissionReviewVersions: [v1] in the webhook configuration`,
    );
  }
  if (body['kind'] !== 'AdmissionReview') {
    throw new InvalidReviewError(`kind must be AdmissionReview, got ${JSON.stringify(body['kind'] ?? null)}`);
  }
  const request = body['request'];
  if (!isPlainObject(request)) throw new InvalidReviewError('the AdmissionReview has no request object');
  const uid = request['uid'];
  if (typeof uid !== 'string' || uid === '') throw new InvalidReviewError('request.uid must be a non-empty string');
  const kind = request['kind'];
  if (!isPlainObject(kind) || typeof kind['kind'] !== 'string' || typeof kind['version'] !== 'string') {
    throw new InvalidReviewError('request.kind must be an object with group, version and kind');
  }
  const operation = request['operation'];
  if (typeof operation !== 'string' || !OPERATIONS.includes(operation)) {
    throw new InvalidReviewError(`request.operation must be one of ${OPERATIONS.join(', ')}, got ${JSON.stringify(operation ?? null)}`);
  }
  const userInfo = request['userInfo'];
  return {
    uid,
    kind: { group: typeof kind['group'] === 'string' ? kind['group'] : '', version: kind['version'], kind: kind['kind'] },
    subResource: optionalString(request['subResource']),
    name: optionalString(request['name']),
    namespace: optionalString(request['namespace']),
    operation: operation as Operation,
    object: request['object'] ?? null,
    oldObject: request['oldObject'] ?? null,
    dryRun: request['dryRun'] === true,
    username: isPlainObject(userInfo) ? optionalString(userInfo['username']) : undefined,
  };
}

export function reviewResponse(response: AdmissionResponse): AdmissionReviewResponse {
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response };
}
