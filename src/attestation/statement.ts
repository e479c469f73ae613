/**
 * The in-toto statement of an attestation: the DSSE payload, read strictly (signature/binding.ts
 * reads cosign's own sign predicate; this reads any predicate). Its subject digests bind it to
 * an artifact, its predicateType says what it claims, its predicate is what conditions read.
 */
import { ANY, STRING, STRING_MAP, arrayOf, describeRefusal, objectOf, parseStrictJson } from '../core/strict-json.ts';
import type { JsonShape } from '../core/strict-json.ts';
import { IN_TOTO_PAYLOAD_TYPE } from '../signature/binding.ts';
import { SignatureFormatError } from '../signature/errors.ts';

const STATEMENT_TYPES = ['https://in-toto.io/Statement/v1', 'https://in-toto.io/Statement/v0.1'];
/** Most subjects read from one statement. */
const MAX_SUBJECTS = 64;

const SHAPE: JsonShape = objectOf({
  _type: STRING,
  subject: arrayOf(objectOf({ name: STRING, uri: STRING, digest: STRING_MAP, annotations: ANY }), 1024),
  predicateType: STRING,
  predicate: ANY,
});

export interface StatementSubject {
  readonly name: string;
  /** `algorithm → hex`, as the statement writes it (hex lower-cased). */
  readonly digest: Readonly<Record<string, string>>;
}

export interface Statement {
  readonly type: string;
  readonly predicateType: string;
  readonly subjects: readonly StatementSubject[];
  /** Every subject digest as `algorithm:hex`. */
  readonly digests: readonly string[];
  /** The predicate as parsed JSON (undefined when the statement has none). */
  readonly predicate: unknown;
}

const invalid = (message: string): SignatureFormatError => new SignatureFormatError({ code: 'UNSUPPORTED_CONTENT', message });

/** Reads a DSSE payload as an in-toto statement; throws SignatureFormatError saying why it is not one. */
export function parseStatement(payloadType: string, payload: Uint8Array): Statement {
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE) throw invalid(`the DSSE payload type is ${JSON.stringify(payloadType)}, not ${IN_TOTO_PAYLOAD_TYPE}`);
  let json: unknown;
  try {
    json = parseStrictJson(payload, SHAPE);
  } catch (error) {
    throw new SignatureFormatError({ code: 'MALFORMED_SIGNATURE', message: describeRefusal('in-toto statement', error) });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw invalid('the in-toto statement is not a JSON object');
  const record = json as Record<string, unknown>;
  const type = record['_type'];
  if (typeof type !== 'string' || !STATEMENT_TYPES.includes(type))
    throw invalid(`the payload is not an in-toto statement (_type ${JSON.stringify(type ?? null)})`);
  const predicateType = record['predicateType'];
  if (typeof predicateType !== 'string' || predicateType === '') throw invalid('the in-toto statement has no predicateType');
  const subjects: StatementSubject[] = [];
  const digests: string[] = [];
  const listed = Array.isArray(record['subject']) ? record['subject'] : [];
  for (const value of listed.slice(0, MAX_SUBJECTS)) {
    const subject = value as Record<string, unknown>;
    const digest: Record<string, string> = {};
    const given = subject['digest'];
    if (typeof given === 'object' && given !== null)
      for (const [algorithm, hex] of Object.entries(given)) {
        if (typeof hex !== 'string') continue;
        digest[algorithm] = hex.toLowerCase();
        digests.push(`${algorithm}:${hex.toLowerCase()}`);
      }
    subjects.push({ name: typeof subject['name'] === 'string' ? subject['name'] : '', digest });
  }
  if (digests.length === 0) throw invalid('the in-toto statement names no subject digest');
  return { type, predicateType, subjects, digests, predicate: record['predicate'] };
}
