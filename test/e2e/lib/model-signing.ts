// OpenSSF model signing in the test bed: model directories signed with the real
// `model_signing` 1.1.1 CLI (key and certificate mode), pushed with the real modelpack
// Python API (modelpack-client) or `oras push`, signatures attached with `oras attach`,
// and pulled back with `oras pull` for `model_signing verify`.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { orasRemoteFlags, registryClientEnv } from './clients.ts';
import { runCommand } from './processes.ts';
import type { Registry } from './registries.ts';
import { loadTools } from './tools.ts';
import { scratchDir } from './workdir.ts';

export const BUNDLE_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
export const RAW_WEIGHT = 'application/vnd.cncf.model.weight.v1.raw';
export const MODEL_ARTIFACT_TYPE = 'application/vnd.cncf.model.manifest.v1+json';
const MODEL_CONFIG_TYPE = 'application/vnd.cncf.model.config.v1+json';

const tools = () => loadTools().paths;

/** A model directory with these files (relative POSIX paths). */
export function makeModel(name: string, files: Readonly<Record<string, string | Buffer>>): string {
  const dir = join(scratchDir('oms-model'), name);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

export interface EcKey {
  readonly privateKeyFile: string;
  readonly publicKeyPem: string;
  readonly publicKeyFile: string;
}

/** An EC P-256 key pair made with openssl. */
export async function ecKey(name: string): Promise<EcKey> {
  const dir = scratchDir(`oms-key-${name}`);
  const privateKeyFile = join(dir, 'key.pem');
  const publicKeyFile = join(dir, 'pub.pem');
  await runCommand(tools().OPENSSL, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', privateKeyFile]);
  await runCommand(tools().OPENSSL, ['ec', '-in', privateKeyFile, '-pubout', '-out', publicKeyFile]);
  return { privateKeyFile, publicKeyFile, publicKeyPem: readFileSync(publicKeyFile, 'utf8') };
}

/** `model_signing sign key`; returns the signature file. */
export async function signWithKey(model: string, key: EcKey, signature: string, extra: readonly string[] = []): Promise<string> {
  await runCommand(tools().MODEL_SIGNING, ['sign', 'key', model, '--private_key', key.privateKeyFile, '--signature', signature, ...extra]);
  return signature;
}

/** `model_signing sign certificate` with a leaf and its chain. */
export async function signWithCertificate(model: string, leafKey: string, leafCert: string, chain: readonly string[], signature: string): Promise<string> {
  const chainArgs = chain.flatMap((file) => ['--certificate_chain', file]);
  await runCommand(tools().MODEL_SIGNING, [
    'sign',
    'certificate',
    model,
    '--private_key',
    leafKey,
    '--signing_certificate',
    leafCert,
    ...chainArgs,
    '--signature',
    signature,
  ]);
  return signature;
}

/** `model_signing verify key`: whether the files at `model` verify. */
export async function verifyWithKey(model: string, key: EcKey, signature: string): Promise<{ readonly ok: boolean; readonly output: string }> {
  const run = await runCommand(tools().MODEL_SIGNING, ['verify', 'key', model, '--signature', signature, '--public_key', key.publicKeyFile], {
    allowFailure: true,
  });
  return { ok: run.code === 0, output: `${run.stdout}${run.stderr}` };
}

/** A layer for modelpack: a file or directory of the model, with the path it is pulled to (undefined: its base name). */
export interface ModelpackLayer {
  readonly path: string;
  readonly artifactPath?: string;
}

/** Pushes with the modelpack Python API (ModelPackClient.push); returns the manifest digest. */
export async function pushModelpack(registry: Registry, repository: string, tag: string, model: string, layers: readonly ModelpackLayer[]): Promise<string> {
  const script = `
import json, sys
from modelpack_client import ModelPackClient, ModelLayer, ModelPackConfig
spec = json.loads(sys.argv[1])
client = ModelPackClient(insecure=True)
layers = [ModelLayer(l["path"], artifact_path=l.get("artifactPath")) for l in spec["layers"]]
result = client.push(spec["reference"], layers, ModelPackConfig())
print(result.digest)
`;
  const spec = { reference: `${registry.host}/${repository}:${tag}`, layers };
  const run = await runCommand(tools().MODEL_SIGNING_PYTHON, ['-c', script, JSON.stringify(spec)], { cwd: model, env: registryClientEnv(registry) });
  const digest = run.stdout.trim().split('\n').at(-1) ?? '';
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new Error(`modelpack push printed no digest: ${run.stdout} ${run.stderr}`);
  return digest;
}

/** A file pushed with `oras push`: its path in the model directory, media type, and the org.cncf.model.filepath annotation. */
export interface OrasFile {
  readonly file: string;
  readonly mediaType?: string;
  /** Default: the file's path; null: none. */
  readonly filepath?: string | null;
}

/** `oras push` of files of a model directory as raw layers (title = the path given); returns the manifest digest. */
export async function pushOras(registry: Registry, repository: string, tag: string, model: string, files: readonly OrasFile[]): Promise<string> {
  const dir = scratchDir('oms-oras');
  const annotations: Record<string, Record<string, string>> = {};
  for (const { file, filepath } of files) if (filepath !== null) annotations[file] = { 'org.cncf.model.filepath': filepath ?? file };
  const annotationFile = join(dir, 'annotations.json');
  writeFileSync(annotationFile, JSON.stringify(annotations));
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ descriptor: { name: repository }, config: {}, modelfs: { type: 'layers', diffIds: [] } }));
  const run = await runCommand(
    tools().ORAS,
    [
      'push',
      ...orasRemoteFlags(registry),
      '--format',
      'json',
      '--artifact-type',
      MODEL_ARTIFACT_TYPE,
      '--config',
      `${config}:${MODEL_CONFIG_TYPE}`,
      '--annotation-file',
      annotationFile,
      `${registry.host}/${repository}:${tag}`,
      ...files.map(({ file, mediaType }) => `${file}:${mediaType ?? RAW_WEIGHT}`),
    ],
    { cwd: model, env: registryClientEnv(registry) },
  );
  return (JSON.parse(run.stdout) as { digest: string }).digest;
}

/** `oras attach --artifact-type application/vnd.dev.sigstore.bundle.v0.3+json`: the signature as a referrer. */
export async function attachSignature(registry: Registry, repository: string, digest: string, signature: string): Promise<void> {
  await runCommand(
    tools().ORAS,
    [
      'attach',
      ...orasRemoteFlags(registry),
      '--artifact-type',
      BUNDLE_TYPE,
      `${registry.host}/${repository}@${digest}`,
      `${basename(signature)}:${BUNDLE_TYPE}`,
    ],
    { cwd: dirname(signature), env: registryClientEnv(registry) },
  );
}

/** `oras pull` of the artifact into a new directory (files at their titles, as the runtime names them). */
export async function pullOras(registry: Registry, repository: string, digest: string): Promise<string> {
  const dir = scratchDir('oms-pull');
  await runCommand(tools().ORAS, ['pull', ...orasRemoteFlags(registry), '-o', dir, `${registry.host}/${repository}@${digest}`], {
    env: registryClientEnv(registry),
  });
  return dir;
}
