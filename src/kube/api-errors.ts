/**
 * Failed Kubernetes API calls, described in one place: describeKubeError says
 * it in a few words for logs and Events (`HTTP 403`, never a response body);
 * describeApiError makes the ClusterError of a command that reads a cluster,
 * a message that says what could not be read and why (unreachable, TLS,
 * unauthorized, forbidden), never a stack trace.
 */
import { EXIT_USAGE, ModelgateError, describeError } from '../core/errors.ts';
import { isPlainObject } from '../core/guards.ts';

type ClusterErrorCode = 'CLUSTER_UNAUTHORIZED' | 'CLUSTER_FORBIDDEN' | 'CLUSTER_NOT_SERVED' | 'CLUSTER_API_ERROR' | 'CLUSTER_UNREACHABLE';

const USER_ERROR = { exitCode: EXIT_USAGE } as const;

export class ClusterError extends ModelgateError<ClusterErrorCode> {
  static readonly codes = {
    CLUSTER_UNAUTHORIZED: USER_ERROR,
    CLUSTER_FORBIDDEN: USER_ERROR,
    CLUSTER_NOT_SERVED: USER_ERROR,
    CLUSTER_API_ERROR: USER_ERROR,
    CLUSTER_UNREACHABLE: USER_ERROR,
  } as const;
  override readonly name = 'ClusterError';
  constructor(code: ClusterErrorCode, message: string, cause?: unknown) {
    super(ClusterError.codes, code, message, cause);
  }
}

const TLS_CODES: ReadonlySet<string> = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The root cause of a fetch failure: undici wraps the socket error in `cause`. */
function rootCause(error: unknown): { code: string | undefined; message: string } {
  let current: unknown = error;
  for (let depth = 0; depth < 5; depth++) {
    if (!(current instanceof Error)) break;
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === 'string' || !(current.cause instanceof Error)) return { code: typeof code === 'string' ? code : undefined, message: current.message };
    current = current.cause;
  }
  return { code: undefined, message: describeError(error) };
}

function statusMessage(body: unknown): string | undefined {
  let value: unknown = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return body.trim() === '' ? undefined : body.trim().slice(0, 300);
    }
  }
  return isPlainObject(value) && typeof value['message'] === 'string' ? value['message'] : undefined;
}

/** The HTTP status of a failed API call, when the API server answered (the client's ApiException). */
export const apiStatus = (error: unknown): number | undefined => (isPlainObject(error) && typeof error['code'] === 'number' ? error['code'] : undefined);

/** How describeKubeError words a failure where call sites differ. */
export interface KubeErrorWording {
  /** What to check when the API server answered 403, added as ` (…)` after `HTTP 403`. */
  readonly forbidden?: string;
  /** Also read a Watch's `statusCode`, and keep only a message's first line. */
  readonly watch?: boolean;
}

/** The wording of the webhook's policy watch: a 403 there is the webhook ServiceAccount's RBAC; Watch errors carry `statusCode`. */
export const WATCH_WORDING: KubeErrorWording = { forbidden: 'forbidden: check the RBAC of the webhook ServiceAccount', watch: true };

/** A failed API call in a few words for logs and Events: `HTTP <status>` when the API server answered (never its body), else the error's message. */
export function describeKubeError(error: unknown, wording: KubeErrorWording = {}): string {
  const status =
    apiStatus(error) ?? (wording.watch === true && isPlainObject(error) && typeof error['statusCode'] === 'number' ? error['statusCode'] : undefined);
  if (status !== undefined) return `HTTP ${status}${status === 403 && wording.forbidden !== undefined ? ` (${wording.forbidden})` : ''}`;
  const message = describeError(error);
  return wording.watch === true && error instanceof Error ? (message.split('\n')[0] as string) : message;
}

/** A clear message for a failed API call: `what` is e.g. `list pods in all namespaces`. */
export function describeApiError(error: unknown, what: string, server: string): ClusterError {
  const code = apiStatus(error);
  if (code !== undefined) {
    const detail = statusMessage((error as { body?: unknown }).body);
    const suffix = detail === undefined ? '' : ` (the API server said: ${detail})`;
    if (code === 401)
      return new ClusterError(
        'CLUSTER_UNAUTHORIZED',
        `cannot ${what}: unauthorized, the API server at ${server} rejected the credentials of the kubeconfig${suffix}`,
      );
    if (code === 403) return new ClusterError('CLUSTER_FORBIDDEN', `cannot ${what}: forbidden${suffix}; the user needs RBAC list permission on it`);
    if (code === 404) return new ClusterError('CLUSTER_NOT_SERVED', `cannot ${what}: the API server at ${server} does not serve it (HTTP 404)${suffix}`);
    return new ClusterError('CLUSTER_API_ERROR', `cannot ${what}: HTTP ${code} from the API server at ${server}${suffix}`);
  }
  const cause = rootCause(error);
  const tls = cause.code !== undefined && (TLS_CODES.has(cause.code) || /CERT|SELF_SIGNED|TLS|SSL/.test(cause.code));
  // Node suggests --use-system-ca; for a cluster the fix is the kubeconfig's certificate-authority.
  const message = cause.message.replace(/; if the root CA is installed locally.*$/, '');
  const reason = tls
    ? `TLS verification failed (${cause.code}: ${message}); check the certificate-authority of the kubeconfig's cluster`
    : `${cause.code === undefined ? '' : `${cause.code}: `}${message}`;
  return new ClusterError('CLUSTER_UNREACHABLE', `cannot reach the cluster at ${server} to ${what}: ${reason}`);
}
