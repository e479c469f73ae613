/**
 * The payload of an OpenSSF Model Signing (OMS) signature, as model_signing 1.1.1 writes it
 * (`_signing/signing.py`, `manifest.py`): an in-toto Statement v1 in a DSSE envelope, of
 * predicate type `https://model_signing/signature/v1.0`, whose subject names the model and
 * carries `sha256` over the resource digests concatenated in order, and whose predicate holds
 * `serialization` (`method` files or shards, `hash_type`, `allow_symlinks`, `ignore_paths`) and
 * `resources` (`name`, `algorithm`, `digest` hex). The older `https://model_signing/Digests/v0.1`
 * predicate lists each file as a subject (sha256, whole files) and has no root digest.
 *
 * Reading is structural only; what a statement may not be (sharded, blake2, a single file…)
 * is judged against the manifest by oms-mapping.ts, so a denial can say which file and why.
 * Nothing here trusts the statement: it is read after the signature over it verified.
 */
import { isPlainObject } from '../core/guards.ts';
import { BOOLEAN, INTEGER, STRING, STRING_MAP, arrayOf, describeRefusal, objectOf, parseStrictJson } from '../core/strict-json.ts';
import type { JsonShape } from '../core/strict-json.ts';
import { IN_TOTO_PAYLOAD_TYPE } from './binding.ts';
import { BindingError } from './errors.ts';

export const OMS_PREDICATE = 'https://model_signing/signature/v1.0';
export const OMS_PREDICATE_V01 = 'https://model_signing/Digests/v0.1';
const STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
/** More resources than a manifest can have layers (oci/documents.ts) can never map: refused while parsing. */
export const MAX_RESOURCES = 10_000;

export interface OmsResource {
  /** Relative POSIX path as model_signing wrote it (`.` for a single-file model; `path:start:end` for shards). */
  readonly name: string;
  readonly algorithm: string;
  /** Lowercase hex. */
  readonly digest: string;
}

export interface OmsStatement {
  readonly predicateType: string;
  /** The v0.1 predicate: resources from the subjects, serialization implied (files, sha256). */
  readonly compat: boolean;
  /** subject[0].name: the model directory's name (v1.0). */
  readonly modelName: string | undefined;
  /** subject[0].digest.sha256 (v1.0): sha256 over the resource digests in order. */
  readonly rootDigest: string | undefined;
  readonly method: string;
  readonly hashType: string;
  readonly ignorePaths: readonly string[];
  readonly resources: readonly OmsResource[];
}

const RESOURCE: JsonShape = objectOf({ name: STRING, algorithm: STRING, digest: STRING });
const SHAPE: JsonShape = objectOf({
  _type: STRING,
  subject: arrayOf(objectOf({ name: STRING, digest: STRING_MAP }), MAX_RESOURCES),
  predicateType: STRING,
  predicate: objectOf({
    serialization: objectOf({ method: STRING, hash_type: STRING, allow_symlinks: BOOLEAN, shard_size: INTEGER, ignore_paths: arrayOf(STRING, 1024) }),
    resources: arrayOf(RESOURCE, MAX_RESOURCES),
  }),
});

const invalid = (message: string): BindingError => new BindingError({ code: 'INVALID_PAYLOAD', message });
const HEX = /^[0-9a-fA-F]+$/;

function resourceOf(value: unknown, where: string): OmsResource {
  if (!isPlainObject(value)) throw invalid(`${where} is not an object`);
  const { name, algorithm, digest } = value;
  if (typeof name !== 'string' || typeof algorithm !== 'string' || typeof digest !== 'string')
    throw invalid(`${where} must have the strings name, algorithm and digest`);
  if (!HEX.test(digest) || digest.length % 2 !== 0) throw invalid(`${where} (${JSON.stringify(name.slice(0, 120))}) has a digest that is not hex`);
  return { name, algorithm, digest: digest.toLowerCase() };
}

/** Reads an OMS statement (v1.0 or v0.1). Throws BindingError (INVALID_PAYLOAD) when it is not one. */
export function parseOmsStatement(payloadType: string, payload: Buffer): OmsStatement {
  const read = readOmsStatement(payloadType, payload);
  if ('other' in read) throw invalid(`the statement is of predicate type ${JSON.stringify(read.other)}, not a model signature (${OMS_PREDICATE})`);
  return read;
}

/**
 * An OMS statement, or the predicate type of another in-toto statement (a cosign signature or
 * attestation sharing the bundle artifact type), read in one pass. Throws BindingError
 * (INVALID_PAYLOAD) when it is neither.
 */
export function readOmsStatement(payloadType: string, payload: Buffer): OmsStatement | { readonly other: string } {
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE) throw invalid(`the DSSE payload type is ${JSON.stringify(payloadType)}, not ${IN_TOTO_PAYLOAD_TYPE}`);
  let json: unknown;
  try {
    json = parseStrictJson(payload, SHAPE);
  } catch (error) {
    throw invalid(describeRefusal('model signing statement', error));
  }
  if (!isPlainObject(json)) throw invalid('the statement is not a JSON object');
  const predicateType = json['predicateType'];
  if (typeof predicateType === 'string' && predicateType !== OMS_PREDICATE && predicateType !== OMS_PREDICATE_V01) return { other: predicateType };
  if (json['_type'] !== STATEMENT_V1) throw invalid(`the statement's _type is ${JSON.stringify(json['_type'] ?? null)}, not ${STATEMENT_V1}`);
  const subjects = Array.isArray(json['subject']) ? json['subject'] : [];
  if (predicateType === OMS_PREDICATE_V01) {
    // v0.1: every subject is a file with its sha256; model_signing reads it as files/sha256.
    const resources = subjects.map((subject: unknown, index) => {
      const digest = isPlainObject(subject) && isPlainObject(subject['digest']) ? subject['digest']['sha256'] : undefined;
      return resourceOf(isPlainObject(subject) ? { name: subject['name'], algorithm: 'sha256', digest } : subject, `subject[${index}]`);
    });
    return { predicateType, compat: true, modelName: undefined, rootDigest: undefined, method: 'files', hashType: 'sha256', ignorePaths: [], resources };
  }
  if (predicateType !== OMS_PREDICATE) throw invalid(`the statement has no predicate type, so it is not a model signature (${OMS_PREDICATE})`);
  if (subjects.length !== 1) throw invalid(`the statement has ${subjects.length} subjects; a model signature has exactly one`);
  const subject: unknown = subjects[0];
  const rootDigest = isPlainObject(subject) && isPlainObject(subject['digest']) ? subject['digest']['sha256'] : undefined;
  if (typeof rootDigest !== 'string' || !HEX.test(rootDigest)) throw invalid('the statement subject has no sha256 digest');
  const predicate = json['predicate'];
  const serialization = isPlainObject(predicate) ? predicate['serialization'] : undefined;
  const list = isPlainObject(predicate) ? predicate['resources'] : undefined;
  if (!isPlainObject(serialization) || typeof serialization['method'] !== 'string' || typeof serialization['hash_type'] !== 'string')
    throw invalid('the predicate has no serialization with method and hash_type');
  if (!Array.isArray(list)) throw invalid('the predicate has no resources list');
  const ignore = serialization['ignore_paths'];
  return {
    predicateType,
    compat: false,
    modelName: isPlainObject(subject) && typeof subject['name'] === 'string' ? subject['name'] : undefined,
    rootDigest: rootDigest.toLowerCase(),
    method: serialization['method'],
    hashType: serialization['hash_type'],
    ignorePaths: Array.isArray(ignore) ? ignore.filter((path): path is string => typeof path === 'string') : [],
    resources: list.map((item: unknown, index) => resourceOf(item, `predicate.resources[${index}]`)),
  };
}
