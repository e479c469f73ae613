/**
 * Reads the JSON body of an AdmissionReview request. The API server sends
 * identity-encoded UTF-8 `application/json`, so that is what is accepted;
 * everything else is refused with the status and a reason the sender can act
 * on. Written for the review path instead of express.json(): body-parser's
 * generality (charsets, inflation, type matching) cost ~2 µs per review.
 */
import type { IncomingMessage } from 'node:http';
import { ModelgateError } from '../core/errors.ts';
import { LimitWaitError } from '../core/limiter.ts';
import type { Limiter, Release } from '../core/limiter.ts';
import { baseMediaType } from '../oci/media-types.ts';

const BODY_CODES = { 400: 'INVALID_BODY', 411: 'LENGTH_REQUIRED', 413: 'BODY_TOO_LARGE', 415: 'UNSUPPORTED_BODY', 503: 'NO_ROOM_FOR_BODY' } as const;

/** A review request refused for its body or headers; its HTTP status is the answer's. */
export class BodyError extends ModelgateError<(typeof BODY_CODES)[keyof typeof BODY_CODES]> {
  static readonly codes = {
    INVALID_BODY: { httpStatus: 400 },
    LENGTH_REQUIRED: { httpStatus: 411 },
    BODY_TOO_LARGE: { httpStatus: 413 },
    UNSUPPORTED_BODY: { httpStatus: 415 },
    NO_ROOM_FOR_BODY: { httpStatus: 503 },
  } as const;
  override readonly name = 'BodyError';
  readonly status: keyof typeof BODY_CODES;
  constructor(status: BodyError['status'], message: string) {
    super(BodyError.codes, BODY_CODES[status], message);
    this.status = status;
  }
}

/** `application/json`, optionally with `charset=utf-8` (any case, quoted or not); other parameters are ignored. */
export function checkContentType(header: string | undefined): void {
  const value = header ?? '';
  if (baseMediaType(value) !== 'application/json') {
    throw new BodyError(415, 'the request must have Content-Type: application/json and hold an AdmissionReview');
  }
  const semicolon = value.indexOf(';');
  if (semicolon === -1) return;
  for (const parameter of value.slice(semicolon + 1).split(';')) {
    const [name = '', charsetValue = ''] = parameter.split('=', 2);
    if (name.trim().toLowerCase() !== 'charset') continue;
    const charset = charsetValue
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase();
    if (charset !== 'utf-8' && charset !== 'utf8')
      throw new BodyError(415, `the request body must be UTF-8 JSON, not charset ${JSON.stringify(charset.slice(0, 40))}`);
  }
}

/** The content type, encoding and announced length of a review request; throws BodyError. */
export function checkHeaders(req: IncomingMessage, limitBytes: number): void {
  checkContentType(req.headers['content-type']);
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
    throw new BodyError(415, `the request body must not be compressed (Content-Encoding: ${encoding.slice(0, 40)})`);
  }
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limitBytes) throw new BodyError(413, `the request body is larger than the limit of ${limitBytes} bytes`);
}

/** Bodies up to this size need no room in the budget: connections are bounded, so these are too. */
export const SMALL_BODY_BYTES = 64 * 1024;
/**
 * Heap a large body takes while it is read, parsed and judged, per byte of
 * JSON: the bytes, the decoded string, then the parsed object (measured: 1.9×
 * the text for a pod with 11,000 volumes).
 */
const HEAP_PER_BODY_BYTE = 4;

/** Room is taken in steps of this many body bytes: a few acquisitions per large review, not one per chunk. */
const ROOM_STEP_BYTES = 256 * 1024;

/**
 * The room a large body takes in the budget, taken as its bytes arrive (a
 * body that stalls or trickles holds only what it sent) and kept until its
 * answer is written. Small bodies need none: connections are bounded, so are they.
 */
export class BodyRoom {
  readonly #budget: Limiter;
  readonly #waitMs: number;
  readonly #releases: Release[] = [];
  #covered = 0;

  constructor(budget: Limiter, waitMs: number) {
    this.#budget = budget;
    this.#waitMs = waitMs;
  }

  /** Undefined when `received` bytes are covered, else a promise for room for them; it rejects with a 503 BodyError when none comes in time. */
  cover(received: number): Promise<void> | undefined {
    if (received <= SMALL_BODY_BYTES || received <= this.#covered) return undefined;
    const target = Math.ceil(received / ROOM_STEP_BYTES) * ROOM_STEP_BYTES;
    const weight = (target - this.#covered) * HEAP_PER_BODY_BYTE;
    this.#covered = target;
    return this.#budget.acquire('', { deadline: Date.now() + this.#waitMs }, weight).then(
      (release) => {
        this.#releases.push(release);
      },
      (error: unknown) => {
        if (error instanceof LimitWaitError) throw new BodyError(503, 'modelgate is judging other large objects right now; retry shortly');
        throw error;
      },
    );
  }

  release(): void {
    for (const release of this.#releases.splice(0)) release();
  }
}

/**
 * The most a body may hold: its Content-Length when it announces one (up to
 * the limit), else 64 KiB (a body over that must announce its length, as the
 * API server always does). Throws a BodyError for bad headers: 413 over the
 * limit, 415 for a content type or encoding other than identity UTF-8 JSON.
 */
export function bodyLimit(req: IncomingMessage, limitBytes: number): number {
  checkHeaders(req, limitBytes);
  const header = req.headers['content-length'];
  const declared = header === undefined ? undefined : Number(header);
  if (declared === undefined || !Number.isSafeInteger(declared) || declared < 0) return Math.min(SMALL_BODY_BYTES, limitBytes);
  return declared;
}

/**
 * Resolves with the parsed body (any JSON value: the caller checks its shape); rejects with a
 * BodyError (or the stream's error when the client went away). With `room`, a large body is
 * read only as fast as the budget makes room for it.
 */
export function readJsonBody(req: IncomingMessage, limitBytes: number, room?: BodyRoom): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (error: BodyError): void => {
      // Stop reading; the answer is sent and the connection closed without reading the rest.
      settled = true;
      req.removeListener('data', onData);
      req.removeListener('end', onEnd);
      req.pause();
      reject(error);
    };
    try {
      checkHeaders(req, limitBytes);
    } catch (error) {
      reject(error);
      return;
    }
    const chunks: Buffer[] = [];
    let received = 0;
    const chunked = req.headers['content-length'] === undefined;
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > limitBytes) {
        fail(
          chunked
            ? new BodyError(411, `a request body over ${limitBytes} bytes must be sent with Content-Length`)
            : new BodyError(413, `the request body is larger than the limit of ${limitBytes} bytes`),
        );
        return;
      }
      chunks.push(chunk);
      const waiting = room?.cover(received);
      if (waiting !== undefined) {
        req.pause();
        waiting.then(
          () => req.resume(),
          (error: unknown) => fail(error instanceof BodyError ? error : new BodyError(503, 'modelgate could not make room for this review')),
        );
      }
    };
    let ended = false;
    const onEnd = (): void => {
      ended = true;
      if (settled) return;
      const bytes = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, received);
      if (bytes.length === 0) {
        reject(new BodyError(400, 'the request body is empty; POST an AdmissionReview'));
        return;
      }
      try {
        resolve(JSON.parse(bytes.toString('utf8')));
      } catch {
        reject(new BodyError(400, 'the request body is not valid JSON'));
      }
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', reject);
    // A client gone mid-body: settle so nothing waits forever. (Every request closes; only build the error when it matters.)
    req.once('close', () => {
      if (!ended) reject(new Error('the client closed the connection before sending the whole body'));
    });
  });
}
