// Locates the test-bed binaries that test/e2e/tools/install.sh built.
//
// install.sh writes ${cache}/tools.json; this module only reads it, so a test
// never builds anything by itself (building kube-apiserver takes many minutes
// and must not hide inside a test timeout).

import { accessSync, constants, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Every tool install.sh provides, by the name it exports in env.sh. */
export const TOOL_NAMES = [
  'KUBE_APISERVER',
  'ETCD',
  'KUBECTL',
  'COSIGN2',
  'COSIGN3',
  'ORAS',
  'HELM',
  'HELM3',
  'REFERRERS_REGISTRY',
  'ORACLE',
  'TUF_REPO',
  'DOCKER_REGISTRY',
  'SKOPEO',
  'HTPASSWD',
  'OPENSSL',
  'TIMESTAMP_SERVER',
  'MODEL_SIGNING',
  'MODEL_SIGNING_PYTHON',
] as const;

export type ToolName = (typeof TOOL_NAMES)[number];

export interface Tools {
  /** The cache directory the tools live in. */
  readonly cache: string;
  /** Absolute path of each binary. */
  readonly paths: Readonly<Record<ToolName, string>>;
  /** Version of each binary as pinned by install.sh. */
  readonly versions: Readonly<Record<ToolName, string>>;
}

/** The cache directory, as install.sh computes it. */
export function testbedCacheDir(): string {
  const fromEnv = process.env['MODELGATE_TESTBED_CACHE'];
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : join(homedir(), '.cache', 'modelgate-testbed');
}

const INSTALL_HINT = 'run `bash test/e2e/tools/install.sh` first (set MODELGATE_TESTBED_CACHE the same way for both)';

function isRecordOfStrings(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string');
}

let cached: Tools | undefined;

/**
 * Reads ${cache}/tools.json and checks that every binary it names exists and
 * is executable. Throws an error that says how to fix it otherwise.
 */
export function loadTools(): Tools {
  if (cached !== undefined) return cached;
  const cache = testbedCacheDir();
  const file = join(cache, 'tools.json');
  let raw: string;
  try {
    raw = readFileSync(file, 'utf8');
  } catch {
    throw new Error(`test bed not installed: ${file} is missing; ${INSTALL_HINT}`);
  }
  const parsed: unknown = JSON.parse(raw);
  if (typeof parsed !== 'object' || parsed === null) {
    throw new Error(`${file} is not a JSON object; ${INSTALL_HINT}`);
  }
  const { paths, versions } = parsed as { paths?: unknown; versions?: unknown };
  if (!isRecordOfStrings(paths) || !isRecordOfStrings(versions)) {
    throw new Error(`${file} lacks "paths"/"versions" string maps; ${INSTALL_HINT}`);
  }
  const outPaths = {} as Record<ToolName, string>;
  const outVersions = {} as Record<ToolName, string>;
  for (const name of TOOL_NAMES) {
    const path = paths[name];
    if (path === undefined) throw new Error(`${file} does not list ${name}; ${INSTALL_HINT}`);
    try {
      accessSync(path, constants.X_OK);
    } catch {
      throw new Error(`${name} (${path}) from ${file} is not an executable file; ${INSTALL_HINT}`);
    }
    outPaths[name] = path;
    outVersions[name] = versions[name] ?? 'unknown';
  }
  cached = { cache, paths: outPaths, versions: outVersions };
  return cached;
}
