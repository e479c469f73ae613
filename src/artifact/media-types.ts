/**
 * Artifact presets: the media types that identify a ModelPack model, a KitOps
 * ModelKit or a container image, and the layer types each may carry.
 */
import { baseMediaType } from '../oci/media-types.ts';

export interface ArtifactPreset {
  readonly name: string;
  /** Manifest artifactType values that identify it. */
  readonly artifactTypes: readonly string[];
  /** Config media types that identify it (older ModelKits set only this). */
  readonly configTypes: readonly string[];
  /** The layer media types it may carry. */
  readonly layerTypes: RegExp;
  readonly description: string;
}

export const MODELPACK_ARTIFACT_TYPE = 'application/vnd.cncf.model.manifest.v1+json';
export const MODELPACK_CONFIG_TYPE = 'application/vnd.cncf.model.config.v1+json';
/** Names used before ModelPack v0.0.7 moved from `cnai` to `cncf`. */
export const LEGACY_MODELPACK_ARTIFACT_TYPE = 'application/vnd.cnai.model.manifest.v1+json';
export const LEGACY_MODELPACK_CONFIG_TYPE = 'application/vnd.cnai.model.config.v1+json';

export const PRESETS: ReadonlyMap<string, ArtifactPreset> = new Map([
  [
    'modelpack',
    {
      name: 'modelpack',
      artifactTypes: [MODELPACK_ARTIFACT_TYPE, LEGACY_MODELPACK_ARTIFACT_TYPE],
      configTypes: [MODELPACK_CONFIG_TYPE, LEGACY_MODELPACK_CONFIG_TYPE],
      layerTypes: /^application\/vnd\.(?:cncf|cnai)\.model\.(?:weight|weight\.config|doc|code|dataset)\.v1\.(?:raw|tar|tar\+gzip|tar\+zstd)$/,
      description: 'a CNCF ModelPack model',
    },
  ],
  [
    'kitops',
    {
      name: 'kitops',
      artifactTypes: ['application/vnd.kitops.modelkit.manifest.v1+json'],
      configTypes: ['application/vnd.kitops.modelkit.config.v1+json'],
      layerTypes: /^application\/vnd\.kitops\.modelkit\.[a-z0-9.+-]+$/,
      description: 'a KitOps ModelKit',
    },
  ],
  [
    'oci-image',
    {
      name: 'oci-image',
      artifactTypes: [],
      configTypes: ['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json'],
      layerTypes:
        /^application\/vnd\.(?:oci\.image\.layer\.(?:nondistributable\.)?v1\.tar(?:\+gzip|\+zstd)?|docker\.image\.rootfs\.(?:foreign\.)?diff\.tar\.gzip)$/,
      description: 'a container image',
    },
  ],
]);

export const PRESET_NAMES: readonly string[] = [...PRESETS.keys()];

/** A type in a policy is a preset name or a literal media type. */
export function isKnownTypeName(value: string): boolean {
  return PRESETS.has(value) || /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/i.test(value);
}

export const LICENSES_ANNOTATION = 'org.opencontainers.image.licenses';

export function isTarLayer(mediaType: string): boolean {
  return /(?:^|[./])tar(?:\+gzip|\+zstd|\.gzip)?$/.test(baseMediaType(mediaType));
}
