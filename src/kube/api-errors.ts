/**
 * Failed Kubernetes API calls of the commands that read a cluster, as
 * ClusterError with a message that says what could not be read and why
 * (unreachable, TLS, unauthorized, forbidden), never a stack trace.
 */
import { isPlainObject } from '../core/guards.ts';

export class ClusterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClusterError';
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
  return { code: undefined, message: String(error) };
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

/** The HTTP status of a failed API call, when the API server answered. */
export const apiStatus = (error: unknown): number | undefined => (isPlainObject(error) && typeof error['code'] === 'number' ? error['code'] : undefined);

/** A clear message for a failed API call: `what` is e.g. `list pods in all namespaces`. */
export function describeApiError(error: unknown, what: string, server: string): ClusterError {
  const code = apiStatus(error);
  if (code !== undefined) {
    const detail = statusMessage((error as { body?: unknown }).body);
    const suffix = detail === undefined ? '' : ` (the API server said: ${detail})`;
    if (code === 401) return new ClusterError(`cannot ${what}: unauthorized, the API server at ${server} rejected the credentials of the kubeconfig${suffix}`);
    if (code === 403) return new ClusterError(`cannot ${what}: forbidden${suffix}; the user needs RBAC list permission on it`);
    if (code === 404) return new ClusterError(`cannot ${what}: the API server at ${server} does not serve it (HTTP 404)${suffix}`);
    return new ClusterError(`cannot ${what}: HTTP ${code} from the API server at ${server}${suffix}`);
  }
  const cause = rootCause(error);
  const tls = cause.code !== undefined && (TLS_CODES.has(cause.code) || /CERT|SELF_SIGNED|TLS|SSL/.test(cause.code));
  // Node suggests --use-system-ca; for a cluster the fix is the kubeconfig's certificate-authority.
  const message = cause.message.replace(/; if the root CA is installed locally.*$/, '');
  const reason = tls
    ? `TLS verification failed (${cause.code}: ${message}); check the certificate-authority of the kubeconfig's cluster`
    : `${cause.code === undefined ? '' : `${cause.code}: `}${message}`;
  return new ClusterError(`cannot reach the cluster at ${server} to ${what}: ${reason}`);
}
