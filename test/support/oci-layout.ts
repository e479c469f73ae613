/**
 * Writes an OCI image layout (image-spec image-layout.md) holding test manifests and their
 * blobs, for tools that read layouts (`skopeo copy oci:<dir>:<tag> docker://…`, `oras cp
 * --from-oci-layout`): the one layout writer of the unit, integration and e2e tests.
 */

import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestDescriptor } from './artifacts.ts';

/** What a layout holds of a manifest: a TestManifest (artifacts.ts) is one. */
export interface LayoutManifest {
  readonly descriptor: TestDescriptor;
  readonly digest: string;
  readonly bytes: Buffer;
  /** Config and layers. */
  readonly blobs: readonly { readonly digest: string; readonly bytes: Buffer }[];
  /** Manifests an index references. */
  readonly children: readonly LayoutManifest[];
}

function writeBlob(dir: string, digest: string, bytes: Buffer): void {
  const [algorithm, hex] = digest.split(':') as [string, string];
  mkdirSync(join(dir, 'blobs', algorithm), { recursive: true });
  writeFileSync(join(dir, 'blobs', algorithm, hex), bytes);
}

function writeManifestTree(dir: string, manifest: LayoutManifest): void {
  for (const child of manifest.children) writeManifestTree(dir, child);
  for (const item of manifest.blobs) writeBlob(dir, item.digest, item.bytes);
  writeBlob(dir, manifest.digest, manifest.bytes);
}

/** A layout in `dir` whose index.json lists each manifest under its tag (`org.opencontainers.image.ref.name`). */
export function writeOciLayout(dir: string, tagged: Readonly<Record<string, LayoutManifest>>): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const manifests = Object.entries(tagged).map(([tag, manifest]) => {
    writeManifestTree(dir, manifest);
    return { ...manifest.descriptor, annotations: { 'org.opencontainers.image.ref.name': tag } };
  });
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
}

/** `skopeo copy oci:<layout>:<tag> docker://<host>/<repository>:<tag>` (plain HTTP or unverified TLS allowed). */
export function skopeoCopy(layoutDir: string, tag: string, host: string, repository: string, credentials?: string): Promise<void> {
  const args = ['copy', '--quiet', '--dest-tls-verify=false', '--preserve-digests'];
  if (credentials !== undefined) args.push('--dest-creds', credentials);
  args.push(`oci:${layoutDir}:${tag}`, `docker://${host}/${repository}:${tag}`);
  return new Promise((resolve, reject) => {
    execFile('skopeo', args, { timeout: 120_000 }, (error, _stdout, stderr) => {
      if (error === null) resolve();
      else reject(new Error(`skopeo ${args.join(' ')} failed: ${stderr}`));
    });
  });
}
