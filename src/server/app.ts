/**
 * The express application: POST /validate answers AdmissionReviews, /healthz
 * and /readyz report liveness and readiness. Every failure becomes a clear
 * JSON error with the right status; nothing the client sends can crash it.
 */
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { handleAdmission } from '../admission/handle.ts';
import type { AdmissionOutcome } from '../admission/handle.ts';
import { InvalidReviewError, parseAdmissionReview, reviewResponse } from '../admission/review.ts';
import type { AdmissionRequest, AdmissionResponse } from '../admission/review.ts';
import type { Logger } from '../log.ts';
import { reviewLogger } from './review-log.ts';
import type { Engine } from '../engine/engine.ts';
import type { Finding } from '../engine/finding.ts';
import type { Metrics, ReviewDecision } from '../metrics/metrics.ts';

export interface EngineSource {
  /** The active engine (policy set and registry access); undefined until a policy has loaded. */
  current(): Engine | undefined;
}

export interface AppOptions {
  readonly engines: EngineSource;
  readonly logger: Logger;
  /** Largest accepted request body. Object plus oldObject of a 1.5 MiB object fit with room. */
  readonly maxBodyBytes?: number;
  /** Review metrics, and `GET /metrics` serving them; no /metrics without. */
  readonly metrics?: Metrics;
}

export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;

interface HttpError {
  readonly status: number;
  readonly message: string;
}

function toResponse(request: AdmissionRequest, outcome: AdmissionOutcome): AdmissionResponse {
  const { decision } = outcome;
  return {
    uid: request.uid,
    allowed: decision.allowed,
    ...(decision.allowed ? {} : { status: { code: 403, reason: 'Forbidden', message: decision.message ?? 'denied by modelgate' } }),
    ...(decision.warnings.length > 0 ? { warnings: decision.warnings } : {}),
    ...(Object.keys(decision.auditAnnotations).length > 0 ? { auditAnnotations: decision.auditAnnotations } : {}),
  };
}

function bodyParserError(error: unknown): HttpError | undefined {
  if (typeof error !== 'object' || error === null || !('type' in error)) return undefined;
  const type = (error as { type: unknown }).type;
  switch (type) {
    case 'entity.too.large':
      return { status: 413, message: 'the request body is larger than the limit' };
    case 'entity.parse.failed':
      return { status: 400, message: 'the request body is not valid JSON' };
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return { status: 415, message: 'the request body must be UTF-8 JSON' };
    case 'request.aborted':
    case 'request.size.invalid':
      return { status: 400, message: 'the request body was incomplete' };
    default:
      return undefined;
  }
}

const NO_FINDINGS: readonly Finding[] = [];

function findingsOf(outcome: AdmissionOutcome | undefined): readonly Finding[] {
  const verdicts = outcome?.decision.verdicts;
  if (verdicts === undefined || verdicts.length === 0) return NO_FINDINGS;
  return verdicts.length === 1 ? (verdicts[0]?.findings ?? NO_FINDINGS) : verdicts.flatMap((verdict) => verdict.findings);
}

export function createApp(options: AppOptions): express.Express {
  const { engines, logger, metrics } = options;
  const logReview = reviewLogger(logger);
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok');
  });
  app.get('/readyz', (_req, res) => {
    const engine = engines.current();
    if (engine === undefined) res.status(503).type('text/plain').send('policy not loaded');
    else res.type('text/plain').send(`ok (policy revision ${engine.policySet.revision})`);
  });
  if (metrics !== undefined) {
    app.get('/metrics', async (_req, res) => {
      const text = await metrics.render();
      res.set('Content-Type', metrics.contentType).send(text);
    });
  }

  app.post(
    '/validate',
    express.json({ limit: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES, strict: true }),
    async (req: Request, res: Response) => {
      // express.json parses only application/json bodies and leaves req.body undefined otherwise.
      if (req.body === undefined) {
        res.status(415).json({ error: 'the request must have Content-Type: application/json and hold an AdmissionReview' });
        return;
      }
      const started = process.hrtime.bigint();
      let request: AdmissionRequest;
      try {
        request = parseAdmissionReview(req.body);
      } catch (error) {
        const message = error instanceof InvalidReviewError ? error.message : 'the request is not an AdmissionReview';
        logger.warn({ err: message }, 'rejected a malformed AdmissionReview');
        res.status(400).json({ error: message });
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
          response = { uid: request.uid, allowed: false, status: { code: 500, message: `modelgate could not evaluate the object (${(error as Error).message}); failing closed` } };
        }
      }
      res.json(reviewResponse(response));
      const decision: ReviewDecision = failed ? 'error' : response.allowed ? ((response.warnings?.length ?? 0) > 0 ? 'warn' : 'allow') : 'deny';
      const durationNs = Number(process.hrtime.bigint() - started);
      metrics?.observeReview(decision, request.kind.kind, durationNs / 1e9, findingsOf(outcome));
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
    },
  );

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found: POST AdmissionReviews to /validate' });
  });

  // express 5 passes body-parser and handler errors here; never answer with a bare 500 page.
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const known = bodyParserError(error);
    if (known === undefined) logger.error({ err: error }, 'unexpected error in request handling');
    const { status, message } = known ?? { status: 500, message: 'internal error' };
    if (!res.headersSent) res.status(status).json({ error: message });
  });
  return app;
}
