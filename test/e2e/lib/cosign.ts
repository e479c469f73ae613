// Signing test artifacts with the real cosign v2 and v3 binaries, fully
// offline: a key pair made for the run, no Fulcio, no Rekor, no TUF.
//
// What each writes (checked by test/e2e/testbed.test.ts):
//  - cosign v2 (`--tlog-upload=false`): a "simple signing" image tagged
//    sha256-<hex>.sig in the artifact's repository; the signature is in the
//    layer annotation dev.cosignproject.cosign/signature.
//  - cosign v3 (`--use-signing-config=false --tlog-upload=false`): a sigstore
//    bundle v0.3 (DSSE envelope over an in-toto statement, predicateType
//    https://sigstore.dev/cosign/sign/v1) in a manifest with artifactType
//    application/vnd.dev.sigstore.bundle.v0.3+json and `subject` = the
//    artifact. A registry with the referrers API indexes it; on one without
//    (distribution 2.8), go-containerregistry inside cosign also writes the
//    OCI tag-schema fallback: an index tagged sha256-<hex>.
//
// Every run gets its own TUF_ROOT: cosign otherwise caches a TUF root in
// ~/.sigstore and then tries to refresh it from tuf-repo-cdn.sigstore.dev.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cosignRegistryFlags, registryClientEnv } from './clients.ts';
import { runCommand } from './processes.ts';
import type { RunResult } from './processes.ts';
import type { Registry } from './registries.ts';
import { loadTools } from './tools.ts';
import { scratchDir } from './workdir.ts';

export const SIGSTORE_BUNDLE_ARTIFACT_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
export const COSIGN_SIMPLESIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';

export interface SigningKeys {
  /** cosign's encrypted private key (ENCRYPTED SIGSTORE PRIVATE KEY). */
  privateKeyFile: string;
  /** PEM public key (ECDSA P-256), what the webhook will be configured with. */
  publicKeyFile: string;
  publicKeyPem: string;
  /** COSIGN_PASSWORD for the private key. */
  password: string;
}

export type CosignMajor = 2 | 3;

function cosignPath(major: CosignMajor): string {
  const tools = loadTools();
  return major === 2 ? tools.paths.COSIGN2 : tools.paths.COSIGN3;
}

let trustedRoot: string | undefined;

/**
 * An empty sigstore trusted root: lets `cosign verify` of bundles run with
 * no TUF lookup. Key-based bundles without tlog entries need nothing from it.
 */
export function emptyTrustedRoot(): string {
  if (trustedRoot !== undefined) return trustedRoot;
  const file = join(scratchDir('trusted-root'), 'trusted_root.json');
  writeFileSync(
    file,
    JSON.stringify({
      mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
      tlogs: [],
      certificateAuthorities: [],
      ctlogs: [],
      timestampAuthorities: [],
    }),
  );
  trustedRoot = file;
  return file;
}

function cosignEnv(registry: Registry | undefined, password: string): NodeJS.ProcessEnv {
  const extra = {
    COSIGN_PASSWORD: password,
    TUF_ROOT: scratchDir('tuf'),
  };
  return registryClientEnv(registry, extra);
}

/** `cosign generate-key-pair` (cosign v2) into a fresh directory. */
export async function generateSigningKeys(dir?: string): Promise<SigningKeys> {
  const out = dir ?? scratchDir('keys');
  const password = Buffer.from(crypto.getRandomValues(new Uint8Array(9))).toString('base64url');
  const prefix = join(out, 'cosign');
  await runCommand(cosignPath(2), ['generate-key-pair', '--output-key-prefix', prefix], { env: cosignEnv(undefined, password) });
  const publicKeyFile = `${prefix}.pub`;
  return { privateKeyFile: `${prefix}.key`, publicKeyFile, publicKeyPem: readFileSync(publicKeyFile, 'utf8'), password };
}

/**
 * Signs `ref` (host/repo@sha256:...; always sign by digest) with cosign
 * v2 (legacy .sig tag) or v3 (sigstore bundle referrer).
 */
export function cosignSign(major: CosignMajor, registry: Registry, ref: string, keys: SigningKeys): Promise<RunResult> {
  const offline = major === 2 ? ['--tlog-upload=false'] : ['--use-signing-config=false', '--tlog-upload=false'];
  return runCommand(cosignPath(major), ['sign', '--key', keys.privateKeyFile, ...offline, ...cosignRegistryFlags(registry), '--yes', ref], {
    env: cosignEnv(registry, keys.password),
  });
}

/**
 * `cosign verify --key` offline. Note: cosign v2.6 switches to bundle
 * verification by itself as soon as the artifact has any v3 bundle, so
 * verifying a legacy .sig with cosign v2 only works while no bundle exists.
 * Pass allowFailure to get the exit code instead of an exception.
 */
export function cosignVerify(
  major: CosignMajor,
  registry: Registry,
  ref: string,
  publicKeyFile: string,
  opts: { allowFailure?: boolean } = {},
): Promise<RunResult> {
  const args = ['verify', '--key', publicKeyFile, '--insecure-ignore-tlog=true', ...cosignRegistryFlags(registry)];
  if (major === 3) args.push('--trusted-root', emptyTrustedRoot());
  return runCommand(cosignPath(major), [...args, ref], {
    env: cosignEnv(registry, ''),
    ...(opts.allowFailure === true ? { allowFailure: true } : {}),
  });
}

/**
 * `cosign attest --key … --type … --predicate …` offline: cosign v2 writes the DSSE envelope as a
 * layer of the `sha256-<hex>.att` tag, cosign v3 a sigstore bundle referrer (or the fallback tag).
 */
export function cosignAttest(
  major: CosignMajor,
  registry: Registry,
  ref: string,
  keys: SigningKeys,
  type: string,
  predicateFile: string,
  opts: { allowFailure?: boolean } = {},
): Promise<RunResult> {
  const offline = major === 2 ? ['--tlog-upload=false'] : ['--use-signing-config=false', '--tlog-upload=false'];
  return runCommand(
    cosignPath(major),
    ['attest', '--key', keys.privateKeyFile, '--type', type, '--predicate', predicateFile, ...offline, ...cosignRegistryFlags(registry), '--yes', ref],
    { env: cosignEnv(registry, keys.password), ...(opts.allowFailure === true ? { allowFailure: true } : {}) },
  );
}
