/**
 * The express application: POST /validate answers AdmissionReviews, /healthz
 * and /readyz report liveness and readiness. Every failure becomes a clear
 * JSON error with the right status; nothing the client sends can crash it.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { handleAdmission } from '../admission/handle.ts';
import type { AdmissionOutcome } from '../admission/handle.ts';
import { parseAdmissionReview, reviewResponse } from '../admission/review.ts';
import { describeError, httpStatusOf } from '../core/errors.ts';
import { Limiter } from '../core/limiter.ts';
import { BodyRoom, bodyLimit, readJsonBody } from './body.ts';
import type { AdmissionRequest, AdmissionResponse } from '../admission/review.ts';
import type { Logger } from '../core/log.ts';
import { reviewLogger } from './review-log.ts';
import type { EngineSource } from '../engine/manager.ts';
import type { Finding } from '../core/finding.ts';
import { findingsOf } from '../engine/decision.ts';
import type { Metrics, ReviewDecision } from './metrics.ts';

export interface AppOptions {
  readonly engines: EngineSource;
  readonly logger: Logger;
  /** Largest accepted request body. Object plus oldObject of a 1.5 MiB object fit with room. */
  readonly maxBodyBytes?: number;
  /** Review metrics, and `GET /metrics` serving them; no /metrics without. */
  readonly metrics?: Metrics;
  /** Weighted bytes of large review bodies read and judged at once (server/body.ts). */
  readonly bodyBudgetBytes?: number;
  /** Whether the server is in its shutdown delay: /readyz then fails so no new connections come. */
  readonly draining?: () => boolean;
}

/**
 * The largest review: the API server reads request bodies up to 3 MiB
 * (k8s.io/apiserver MaxRequestBodyBytes), which can grow as JSON with defaults
 * and managedFields, and an UPDATE also carries the stored object (etcd's
 * limit is 1.5 MiB, more once turned from protobuf into JSON).
 */
export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;
/** Room for the largest review (weighted ×4 for parsing), or several smaller ones, beside everything small. */
export const DEFAULT_BODY_BUDGET_BYTES = 32 * 1024 * 1024;
/** How long a large review may wait for room before it is refused with 503. */
const BODY_WAIT_MS = 2_000;

/** The AdmissionResponse for a decided review. */
export function toResponse(request: AdmissionRequest, outcome: AdmissionOutcome): AdmissionResponse {
  const { decision } = outcome;
  return {
    uid: request.uid,
    allowed: decision.allowed,
    ...(decision.allowed ? {} : { status: { code: 403, reason: 'Forbidden', message: decision.message ?? 'denied by modelgate' } }),
    ...(decision.warnings.length > 0 ? { warnings: decision.warnings } : {}),
    ...(Object.keys(decision.auditAnnotations).length > 0 ? { auditAnnotations: decision.auditAnnotations } : {}),
  };
}

/**
 * Writes a JSON answer straight to node's response: express's res.json() did
 * work an AdmissionReview answer never needs (ETag, freshness, charset lookup)
 * for ~1.5 µs per review.
 */
function sendJson(res: ServerResponse, status: number, value: unknown, close = false): void {
  const text = JSON.stringify(value);
  const headers: Record<string, string | number> = { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) };
  if (close) headers['connection'] = 'close';
  res.writeHead(status, headers);
  res.end(text);
}

const NO_FINDINGS: readonly Finding[] = [];

function outcomeFindings(outcome: AdmissionOutcome | undefined): readonly Finding[] {
  const verdicts = outcome?.decision.verdicts;
  if (verdicts === undefined || verdicts.length === 0) return NO_FINDINGS;
  const only = verdicts.length === 1 ? verdicts[0] : undefined;
  return only !== undefined ? findingsOf(only.results) : verdicts.flatMap((verdict) => findingsOf(verdict.results));
}

/** One line per tracked trusted root: its source, age and refresh trouble. */
function trustedRootLines(engines: EngineSource, now: number): string[] {
  return (engines.trustedRootStatus?.() ?? []).map((status) => {
    const age = status.asOf === undefined ? 'age unknown' : `${status.source === 'embedded' ? 'at least ' : ''}${Math.round((now - status.asOf) / 1000)} s old`;
    const trouble = status.failures === 0 ? '' : `; ${status.failures} refresh(es) failed, last: ${status.lastError ?? '?'}`;
    return `trusted root ${status.name}: ${status.source} (refresh ${status.refresh}), ${age}, sha256 ${status.fingerprint.slice(0, 12)}${trouble}`;
  });
}

/** The POST /validate handler: one AdmissionReview read, judged and answered; it never throws. */
function reviewHandler(options: AppOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { engines, logger, metrics } = options;
  const logReview = reviewLogger(logger);
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const budget = new Limiter(
    Math.max(options.bodyBudgetBytes ?? DEFAULT_BODY_BUDGET_BYTES, maxBodyBytes * 4),
    Number.POSITIVE_INFINITY,
    'room for a large review',
  );
  return async (req, res) => {
    const started = process.hrtime.bigint();
    let request: AdmissionRequest;
    try {
      // Room for a large body is held until its answer is written: parsed and judged, it still takes heap.
      const room = new BodyRoom(budget, BODY_WAIT_MS);
      res.once('close', () => room.release());
      request = parseAdmissionReview(await readJsonBody(req, bodyLimit(req, maxBodyBytes), room));
    } catch (error) {
      // A body or review error has the status to answer with; without one, the client went away mid-body: nobody to answer.
      const status = httpStatusOf(error);
      if (status === undefined) {
        logger.debug({ err: describeError(error) }, 'request body not received');
        return;
      }
      logger.warn({ err: describeError(error) }, 'rejected a malformed AdmissionReview');
      // Unread body left over (411, 413, 503): close rather than read the rest of it.
      sendJson(res, status, { error: describeError(error) }, status !== 400 && status !== 415);
      metrics?.observeReview('error', '', Number(process.hrtime.bigint() - started) / 1e9);
      return;
    }
    const engine = engines.current();
    let outcome: AdmissionOutcome | undefined;
    let response: AdmissionResponse;
    let failed = false;
    if (engine === undefined) {
      failed = true;
      // Not ready: fail closed with a reason rather than guess.
      response = { uid: request.uid, allowed: false, status: { code: 503, message: 'modelgate has no policy loaded yet; retry shortly' } };
    } else {
      try {
        const pending = handleAdmission(request, engine);
        // Most reviews (and every warm one) are decided synchronously: answer them in the same turn.
        outcome = pending instanceof Promise ? await pending : pending;
        response = toResponse(request, outcome);
      } catch (error) {
        failed = true;
        logger.error({ err: error, uid: request.uid }, 'internal error while evaluating a review');
        response = {
          uid: request.uid,
          allowed: false,
          status: { code: 500, message: `modelgate could not evaluate the object (${describeError(error)}); failing closed` },
        };
      }
    }
    sendJson(res, 200, reviewResponse(response));
    const decision: ReviewDecision = failed ? 'error' : response.allowed ? ((response.warnings?.length ?? 0) > 0 ? 'warn' : 'allow') : 'deny';
    const durationNs = Number(process.hrtime.bigint() - started);
    metrics?.observeReview(decision, request.kind.kind, durationNs / 1e9, outcomeFindings(outcome));
    logReview({
      uid: request.uid,
      kind: request.kind.kind,
      namespace: outcome?.object.namespace ?? request.namespace,
      name: outcome?.object.name ?? request.name,
      operation: request.operation,
      dryRun: request.dryRun,
      decision: decision === 'error' ? 'deny' : decision,
      reasons: outcome?.decision.reasons ?? (response.status === undefined ? [] : [response.status.message]),
      skipped: outcome?.skipped,
      revision: engine?.policySet.revision,
      durationMs: durationNs / 1e6,
    });
  };
}

/** A handler's unexpected error: logged, and answered with JSON (never a bare 500 page) unless an answer was begun. */
function internalError(logger: Logger, res: ServerResponse, error: unknown): void {
  logger.error({ err: error }, 'unexpected error in request handling');
  if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
}

function createApp(options: AppOptions, review: (req: IncomingMessage, res: ServerResponse) => Promise<void>): express.Express {
  const { engines, logger, metrics } = options;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  // The review route first: it is matched on every review.
  app.post('/validate', (req: Request, res: Response) => review(req, res));

  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok');
  });
  app.get('/readyz', (_req, res) => {
    const engine = engines.current();
    if (options.draining?.() === true) res.status(503).type('text/plain').send('shutting down');
    else if (engine === undefined) res.status(503).type('text/plain').send('policy not loaded');
    // An old trusted root is reported, never a reason to be unready: that would take admission down with it.
    else res.type('text/plain').send([`ok (policy revision ${engine.policySet.revision})`, ...trustedRootLines(engines, Date.now())].join('\n'));
  });
  if (metrics !== undefined) {
    app.get('/metrics', async (_req, res) => {
      const text = await metrics.render();
      res.set('Content-Type', metrics.contentType).send(text);
    });
  }

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found: POST AdmissionReviews to /validate' });
  });

  // express 5 passes handler errors here.
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => internalError(logger, res, error));
  return app;
}

/** Whether the request is a review the short path takes: exactly POST /validate, with or without a query (the API server adds `?timeout=…`). */
function isReview(req: IncomingMessage): boolean {
  const url = req.url ?? '';
  return req.method === 'POST' && (url === '/validate' || url.startsWith('/validate?'));
}

/**
 * The server's request listener: reviews go straight to the review handler, every other request
 * (and any spelling of /validate express would also match) through the express app. express's
 * router and its request and response layers were most of the CPU of a warm review.
 */
export function createRequestListener(options: AppOptions): RequestListener {
  const review = reviewHandler(options);
  const app = createApp(options, review);
  const { logger } = options;
  return (req, res) => {
    if (!isReview(req)) {
      app(req, res);
      return;
    }
    review(req, res).catch((error: unknown) => internalError(logger, res, error));
  };
}
