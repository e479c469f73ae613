/**
 * The one error idiom (core/errors.ts): every error class of src/ derives from
 * ModelgateError, no code belongs to two classes, each code's exit code and
 * HTTP status are the ones the CLI and the server use, and describeError turns
 * anything thrown into text.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ManifestError } from '../../../src/admission/objects.ts';
import { InvalidReviewError } from '../../../src/admission/review.ts';
import { MalformedManifestError } from '../../../src/artifact/manifest.ts';
import { IndexTooLargeError } from '../../../src/artifact/source.ts';
import { LicenseExpressionError } from '../../../src/artifact/spdx.ts';
import { UsageError } from '../../../src/cli/usage.ts';
import { CelCompileError } from '../../../src/cel/compile.ts';
import { KeptRefusal } from '../../../src/core/detach.ts';
import { EXIT_USAGE, ModelgateError, describeError, describeFileError, exitCodeOf, httpStatusOf, isContentProblem } from '../../../src/core/errors.ts';
import type { CodeTable } from '../../../src/core/errors.ts';
import { LimitWaitError } from '../../../src/core/limiter.ts';
import { PACKAGE_ROOT } from '../../../src/core/package-root.ts';
import { PathPatternError } from '../../../src/core/paths.ts';
import { StrictJsonError } from '../../../src/core/strict-json.ts';
import { ClusterError } from '../../../src/kube/api-errors.ts';
import { KubeConfigError } from '../../../src/kube/client.ts';
import { DockerConfigError } from '../../../src/oci/credentials.ts';
import { ManifestDocumentError } from '../../../src/oci/documents.ts';
import { EgressDeniedError } from '../../../src/oci/egress.ts';
import { RegistryError } from '../../../src/oci/errors.ts';
import { PolicyLoadError } from '../../../src/policy/load.ts';
import { InvalidReferenceError } from '../../../src/reference/parse.ts';
import { BodyError } from '../../../src/server/body.ts';
import { TlsFilesError } from '../../../src/server/tls.ts';
import { BindingError, IdentityError, KeyError, SignatureFormatError, TrustRootError } from '../../../src/signature/errors.ts';

/** Every error class of src/, with its code table. */
const CLASSES: readonly { readonly name: string; readonly codes: CodeTable<string> }[] = [
  UsageError,
  PolicyLoadError,
  ManifestError,
  TlsFilesError,
  ClusterError,
  KubeConfigError,
  BodyError,
  InvalidReviewError,
  InvalidReferenceError,
  RegistryError,
  EgressDeniedError,
  DockerConfigError,
  ManifestDocumentError,
  MalformedManifestError,
  IndexTooLargeError,
  LicenseExpressionError,
  SignatureFormatError,
  BindingError,
  IdentityError,
  TrustRootError,
  KeyError,
  StrictJsonError,
  PathPatternError,
  LimitWaitError,
  KeptRefusal,
  CelCompileError,
];

/** Classes that may extend Error itself: the base, and private signals that never leave their module. */
const DIRECT_ERROR_SUBCLASSES: ReadonlySet<string> = new Set([
  'ModelgateError',
  // oci/http.ts: the abort reason of one attempt's timer; classify() turns it into a RegistryError TIMEOUT.
  'AttemptTimeout',
  // cel/evaluate.ts: the meter's stop signal inside a CEL evaluation; evaluateCondition turns it into the condition's error.
  'BudgetExceeded',
]);

function declaredClasses(): { name: string; base: string }[] {
  const src = join(PACKAGE_ROOT, 'src');
  const files = readdirSync(src, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts'));
  return files.flatMap((file) =>
    [...readFileSync(join(src, file), 'utf8').matchAll(/\bclass (\w+)(?:<[^>]*>)? extends (\w+)/g)].map((match) => ({
      name: match[1] as string,
      base: match[2] as string,
    })),
  );
}

describe('ModelgateError', () => {
  it('is the base of every error class of src/', () => {
    const declared = declaredClasses();
    const direct = declared.filter((entry) => /^(Error|TypeError|RangeError)$/.test(entry.base)).map((entry) => entry.name);
    assert.deepEqual(
      direct.filter((name) => !DIRECT_ERROR_SUBCLASSES.has(name)),
      [],
    );
    // Every class below ModelgateError is in CLASSES, so that its codes are checked here (CodedError is the signature errors' abstract step).
    const coded = declared.filter((entry) => entry.base === 'ModelgateError' || entry.base === 'CodedError').map((entry) => entry.name);
    const listed = new Set(CLASSES.map((type) => type.name));
    assert.deepEqual(
      coded.filter((name) => name !== 'CodedError' && !listed.has(name)),
      [],
    );
  });

  it('gives no code to two classes; codes are UPPER_SNAKE', () => {
    const owners = new Map<string, string>();
    for (const type of CLASSES) {
      for (const code of Object.keys(type.codes)) {
        assert.match(code, /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$/, `${type.name}: ${code}`);
        assert.equal(owners.get(code), undefined, `${code} belongs to ${owners.get(code)} and ${type.name}`);
        owners.set(code, type.name);
      }
    }
  });

  it('maps codes to the exit codes and HTTP statuses the CLI and the server use', () => {
    const exits = CLASSES.flatMap((type) =>
      Object.entries(type.codes).flatMap(([code, traits]) => (traits.exitCode === undefined ? [] : [`${type.name} ${code} ${traits.exitCode}`])),
    );
    assert.deepEqual(exits, [
      'UsageError USAGE 2',
      'PolicyLoadError INVALID_POLICY 2',
      'ManifestError INVALID_MANIFESTS 2',
      'TlsFilesError TLS_FILES_UNUSABLE 2',
      'ClusterError CLUSTER_UNAUTHORIZED 2',
      'ClusterError CLUSTER_FORBIDDEN 2',
      'ClusterError CLUSTER_NOT_SERVED 2',
      'ClusterError CLUSTER_API_ERROR 2',
      'ClusterError CLUSTER_UNREACHABLE 2',
    ]);
    const statuses = CLASSES.flatMap((type) =>
      Object.entries(type.codes).flatMap(([code, traits]) => (traits.httpStatus === undefined ? [] : [`${code} ${traits.httpStatus}`])),
    );
    assert.deepEqual(statuses, [
      'INVALID_BODY 400',
      'LENGTH_REQUIRED 411',
      'BODY_TOO_LARGE 413',
      'UNSUPPORTED_BODY 415',
      'NO_ROOM_FOR_BODY 503',
      'INVALID_REVIEW 400',
    ]);

    for (const status of [400, 411, 413, 415, 503] as const) {
      const error = new BodyError(status, 'm');
      assert.equal(error.httpStatus, status);
      assert.equal(httpStatusOf(error), status);
      assert.equal(error.status, status);
    }
    assert.equal(httpStatusOf(new InvalidReviewError('m')), 400);
    assert.equal(exitCodeOf(new UsageError('m')), EXIT_USAGE);
    assert.equal(exitCodeOf(new ClusterError('CLUSTER_FORBIDDEN', 'm')), EXIT_USAGE);
    // Errors of no code, and codes without an exit code or status: a bug if they end a command (stack, exit 1) or a request (500).
    for (const error of [new Error('m'), 'm', undefined, new InvalidReferenceError('x', 'm'), new LimitWaitError('a slot', false)]) {
      assert.equal(exitCodeOf(error), undefined);
      assert.equal(httpStatusOf(error), undefined);
    }
  });

  it('keeps code, message, name and cause', () => {
    const cause = new Error('underneath');
    const error = new ClusterError('CLUSTER_UNREACHABLE', 'cannot reach', cause);
    assert.ok(error instanceof ModelgateError && error instanceof Error);
    assert.equal(error.code, 'CLUSTER_UNREACHABLE');
    assert.equal(error.name, 'ClusterError');
    assert.equal(error.message, 'cannot reach');
    assert.equal(error.cause, cause);
    assert.equal('cause' in new UsageError('m'), false);
    assert.equal(new StrictJsonError('a', 'b', 'ambiguous').code, 'JSON_AMBIGUOUS');
    assert.equal(new LimitWaitError('a slot', true).code, 'WAIT_CANCELLED');
  });

  it('marks content problems by code, as before: verdicts, not failures to check', () => {
    const target = { operation: 'manifest', registry: 'r.example', repository: 'a/b', reference: 'sha256:0' } as const;
    const content = ['TAMPERED', 'TOO_LARGE', 'MALFORMED', 'INVALID_ARGUMENT', 'EGRESS_DENIED'];
    for (const code of Object.keys(RegistryError.codes) as (keyof typeof RegistryError.codes)[]) {
      assert.equal(isContentProblem(new RegistryError(code, target, 'd')), content.includes(code), code);
    }
    assert.equal(isContentProblem(new MalformedManifestError('sha256:0', 'p')), true);
    assert.equal(isContentProblem(new IndexTooLargeError('sha256:0', 9999)), true);
    for (const error of [
      new ManifestDocumentError('r'),
      new SignatureFormatError({ code: 'MALFORMED_BUNDLE', message: 'm' }),
      new UsageError('m'),
      new Error('m'),
      'm',
    ]) {
      assert.equal(isContentProblem(error), false);
    }
    assert.equal(isContentProblem({ contentProblem: true }), true);

    const kept = new KeptRefusal(new RegistryError('TAMPERED', target, 'd'));
    assert.deepEqual([kept.name, kept.code, isContentProblem(kept)], ['RegistryError', 'TAMPERED', true]);
    const keptPlain = new KeptRefusal(Object.assign(new Error('odd'), { contentProblem: true }));
    assert.deepEqual([keptPlain.name, keptPlain.code, isContentProblem(keptPlain), keptPlain.message], ['Error', 'KEPT_REFUSAL', true, 'odd']);
  });
});

describe('describeError', () => {
  it("is an Error's message, and any other thrown value as text", () => {
    assert.equal(describeError(new TypeError('bad type')), 'bad type');
    assert.equal(describeError(new UsageError('try --help')), 'try --help');
    assert.equal(describeError('a string'), 'a string');
    assert.equal(describeError(42), '42');
    assert.equal(describeError(undefined), 'undefined');
    assert.equal(describeError(null), 'null');
    assert.equal(describeError(Symbol('s')), 'Symbol(s)');
    assert.equal(describeError({ toString: () => 'custom' }), 'custom');
    assert.equal(describeError(Object.create(null)), '[object Object]');
  });

  it('says why a file could not be read by its system error code', () => {
    assert.equal(describeFileError(Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' })), 'ENOENT');
    assert.equal(describeFileError(new Error('no code')), 'no code');
    assert.equal(describeFileError('odd'), 'odd');
  });
});
