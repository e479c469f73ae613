// Builds OCI artifacts in memory, for test/support/oci-layout.ts to write as an
// OCI image layout (https://github.com/opencontainers/image-spec/blob/main/image-layout.md).
//
// Why our own builder: modctl and kit (the ModelPack / ModelKit packers)
// cannot be installed here, and byte-exact control over manifests (media
// types, annotations, artifactType) is what the webhook's media-type checks
// need to be tested against. The layout is then pushed by a real tool
// (`oras cp --from-oci-layout`), so the registry side is exercised by the same
// code users run. Everything is deterministic: same inputs, same digests.

import { gzipSync } from 'node:zlib';
import type { LayoutManifest } from '../../support/oci-layout.ts';
import { sha256Digest } from './oci.ts';
import type { OciDescriptor, OciManifest } from './oci.ts';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export interface BlobInput {
  mediaType: string;
  data: Buffer;
  annotations?: Record<string, string>;
}

export interface ArtifactInput {
  artifactType?: string;
  config: BlobInput;
  layers: readonly BlobInput[];
  annotations?: Record<string, string>;
  subject?: OciDescriptor;
}

export interface BuiltArtifact {
  /** Exact manifest bytes; their sha256 is `digest`. */
  manifest: Buffer;
  manifestJson: OciManifest;
  digest: string;
  mediaType: typeof OCI_MANIFEST;
  /** Every blob (config and layers) by digest. */
  blobs: Map<string, Buffer>;
}

function describe(b: BlobInput): OciDescriptor {
  return {
    mediaType: b.mediaType,
    digest: sha256Digest(b.data),
    size: b.data.length,
    ...(b.annotations !== undefined && Object.keys(b.annotations).length > 0 ? { annotations: b.annotations } : {}),
  };
}

/** Assembles an OCI image manifest (key order as in the spec examples). */
export function buildArtifact(input: ArtifactInput): BuiltArtifact {
  const manifestJson: OciManifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    ...(input.artifactType !== undefined ? { artifactType: input.artifactType } : {}),
    config: describe(input.config),
    layers: input.layers.map(describe),
    ...(input.subject !== undefined ? { subject: input.subject } : {}),
    ...(input.annotations !== undefined ? { annotations: input.annotations } : {}),
  };
  const manifest = Buffer.from(JSON.stringify(manifestJson));
  const blobs = new Map<string, Buffer>();
  for (const b of [input.config, ...input.layers]) blobs.set(sha256Digest(b.data), b.data);
  return { manifest, manifestJson, digest: sha256Digest(manifest), mediaType: OCI_MANIFEST, blobs };
}

/** The artifact as the shared layout writer (test/support/oci-layout.ts) takes it. */
export function layoutManifest(artifact: BuiltArtifact): LayoutManifest {
  return {
    descriptor: {
      mediaType: artifact.mediaType,
      digest: artifact.digest,
      size: artifact.manifest.length,
      ...(artifact.manifestJson.artifactType !== undefined ? { artifactType: artifact.manifestJson.artifactType } : {}),
    },
    digest: artifact.digest,
    bytes: artifact.manifest,
    blobs: [...artifact.blobs].map(([digest, bytes]) => ({ digest, bytes })),
    children: [],
  };
}

// ---- tar (ustar) -------------------------------------------------------------

function octal(value: number, width: number): string {
  // width includes the trailing NUL
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

/**
 * A deterministic ustar archive of regular files (mode 0644, uid/gid 0,
 * mtime 0): enough for model layers, and byte-stable so digests are fixed.
 */
export function tarFiles(files: ReadonlyArray<{ path: string; data: Buffer }>): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    if (Buffer.byteLength(f.path) > 100) throw new Error(`tarFiles: path longer than 100 bytes: ${f.path}`);
    const h = Buffer.alloc(512);
    h.write(f.path, 0, 100, 'utf8');
    h.write(octal(0o644, 8), 100, 'ascii');
    h.write(octal(0, 8), 108, 'ascii');
    h.write(octal(0, 8), 116, 'ascii');
    h.write(octal(f.data.length, 12), 124, 'ascii');
    h.write(octal(0, 12), 136, 'ascii');
    h.write('        ', 148, 'ascii'); // checksum field counts as spaces
    h.write('0', 156, 'ascii'); // regular file
    h.write('ustar\0', 257, 'ascii');
    h.write('00', 263, 'ascii');
    let sum = 0;
    for (const byte of h) sum += byte;
    h.write(`${octal(sum, 7)} `, 148, 'ascii');
    parts.push(h, f.data, Buffer.alloc((512 - (f.data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024)); // two zero blocks end the archive
  return Buffer.concat(parts);
}

/** gzip with a fixed header (Node writes mtime 0), so digests are stable. */
export function gzip(data: Buffer): Buffer {
  return gzipSync(data, { level: 9 });
}
