/**
 * Model artifact rules: pure functions of a policy's `artifact` block and the
 * facts fetched from the registry. Each failure says which manifest, layer or
 * config field failed, so a denial reads as a fact about the artifact.
 */
import type { Finding } from '../core/finding.ts';
import { matchesAny } from '../core/glob.ts';
import type { PolicyMode } from '../core/modes.ts';
import type { ArtifactRules } from './policy-schema.ts';
import type { ImageIndex, ImageManifest } from './manifest.ts';
import { baseName, layerNames, mountedPath } from './file-names.ts';
import { LICENSES_ANNOTATION, MODELPACK_CONFIG_TYPE, LEGACY_MODELPACK_CONFIG_TYPE, PRESETS, isTarLayer } from './media-types.ts';
import type { ModelPackConfig } from './modelpack-config.ts';
import { formatBytes } from './quantity.ts';
import { type LicenseExpressionError, licenseAllowed, parseLicenseExpression } from './spdx.ts';
import type { Descriptor } from '../oci/types.ts';

/** The ModelPack config of a manifest, when a rule needed it. */
export type ConfigFact = { readonly ok: true; readonly config: ModelPackConfig } | { readonly ok: false; readonly reason: string };

export interface ArtifactFacts {
  /** What the pinned digest names: a manifest or an index. */
  readonly root: ImageManifest | ImageIndex;
  /** The manifests to judge: the root itself, or every manifest of the index. */
  readonly manifests: readonly ImageManifest[];
  /** Parsed configs by config digest; present only when formats or licenses are checked. */
  readonly configs: ReadonlyMap<string, ConfigFact>;
}

export function rulesNeedConfig(rules: ArtifactRules): boolean {
  return rules.formats.length > 0 || rules.licenses.length > 0;
}

export function isModelPackConfig(mediaType: string): boolean {
  return mediaType === MODELPACK_CONFIG_TYPE || mediaType === LEGACY_MODELPACK_CONFIG_TYPE;
}

const short = (digest: string): string => {
  const colon = digest.indexOf(':');
  return `${digest.slice(0, colon + 13)}…`;
};

/** The file name to show for a layer: where CRI-O mounts it, else the first name it carries. */
export function fileNameOf(layer: Descriptor): string | undefined {
  return mountedPath(layer) ?? layerNames(layer)[0];
}

const describeLayer = (layer: Descriptor, index: number): string => {
  const name = fileNameOf(layer);
  return `layer ${index + 1} (${short(layer.digest)}, ${layer.mediaType}${name === undefined ? '' : `, ${name === '' ? '/' : name}`})`;
};

/** The policy a finding belongs to: its name and mode (a ModelPolicy). */
export interface JudgingPolicy {
  readonly name: string;
  readonly mode: PolicyMode;
}

/** Advisory findings never deny: an enforce policy turns them into warnings. */
const advisoryMode = (mode: PolicyMode): PolicyMode => (mode === 'enforce' ? 'warn' : mode);

interface Context {
  readonly policy: JudgingPolicy;
  readonly rules: ArtifactRules;
  readonly manifest: ImageManifest;
  /** `manifest 2 of the index (sha256:…): ` when judging an index member, else ''. */
  readonly prefix: string;
  readonly config: ConfigFact | undefined;
  readonly findings: Finding[];
  /** Failures per rule, listed or not. */
  readonly counts: Map<string, number>;
}

/** Findings listed per rule and manifest: a manifest of thousands of layers that all fail must not make thousands of findings. */
const FINDINGS_PER_RULE = 10;

function fail(context: Context, rule: string, reason: string, fix: string, mode: PolicyMode = context.policy.mode): void {
  const name = `artifact.${rule}`;
  const count = (context.counts.get(name) ?? 0) + 1;
  context.counts.set(name, count);
  if (count <= FINDINGS_PER_RULE) context.findings.push({ policy: context.policy.name, rule: name, mode, reason: `${context.prefix}${reason}`, fix });
}

function checkTypes(context: Context): void {
  const { rules, manifest } = context;
  if (rules.types.length === 0) return;
  const identifying = [manifest.artifactType, manifest.config.mediaType].filter((value): value is string => value !== undefined);
  for (const type of rules.types) {
    const preset = PRESETS.get(type);
    if (preset === undefined) {
      if (identifying.includes(type)) return;
      continue;
    }
    const identified =
      (manifest.artifactType !== undefined && preset.artifactTypes.includes(manifest.artifactType)) || preset.configTypes.includes(manifest.config.mediaType);
    if (!identified) continue;
    const foreign = manifest.layers.findIndex((layer) => !preset.layerTypes.test(layer.mediaType));
    if (foreign === -1) return;
    const layer = manifest.layers[foreign] as Descriptor;
    fail(
      context,
      'types',
      `${describeLayer(layer, foreign)} is not a layer type of ${preset.description}`,
      `rebuild the artifact with ${preset.name} layer media types`,
    );
    return;
  }
  fail(
    context,
    'types',
    `the artifact is not of an allowed type (${rules.types.join(', ')}): artifactType ${manifest.artifactType ?? '(none)'}, config ${manifest.config.mediaType}`,
    'mount a model packaged as one of the allowed types, or add its type to spec.artifact.types',
  );
}

function checkLayerMediaTypes(context: Context): void {
  const { rules, manifest } = context;
  if (rules.layerMediaTypes.length === 0) return;
  manifest.layers.forEach((layer, index) => {
    if (!matchesAny(rules.layerMediaTypes, layer.mediaType)) {
      fail(
        context,
        'layerMediaTypes',
        `${describeLayer(layer, index)} has a media type outside spec.artifact.layerMediaTypes`,
        'repackage the layer with an allowed media type, or allow it in the policy',
      );
    }
  });
}

function checkMountable(context: Context): void {
  const { rules, manifest, policy } = context;
  if (!rules.mountable) return;
  if (manifest.layers.length === 0) {
    fail(context, 'mountable', 'the artifact has no layers: the volume would be empty', 'push the model files as layers');
    return;
  }
  const mountedBy = new Map<string, number>();
  manifest.layers.forEach((layer, index) => {
    const path = mountedPath(layer);
    if (path === undefined) {
      fail(
        context,
        'mountable',
        `${describeLayer(layer, index)} has no file path annotation that CRI-O reads (a non-empty org.opencontainers.image.title, else org.cncf.model.filepath): CRI-O would not mount it and the model would start incomplete`,
        'annotate every layer with org.cncf.model.filepath or org.opencontainers.image.title (modctl and oras push do so)',
      );
      return;
    }
    if (path === '') {
      fail(
        context,
        'mountable',
        `${describeLayer(layer, index)} is named so that it would be mounted over the volume itself`,
        'name every layer with a file path inside the model directory',
      );
      return;
    }
    const earlier = mountedBy.get(path);
    if (earlier !== undefined) {
      fail(
        context,
        'mountable',
        `${describeLayer(layer, index)} is mounted at ${path}, like layer ${earlier + 1}: the later one hides the earlier`,
        'give every layer its own file path',
      );
    } else {
      mountedBy.set(path, index);
    }
    if (isTarLayer(layer.mediaType)) {
      fail(
        context,
        'mountable',
        `${describeLayer(layer, index)} is a tar archive: CRI-O mounts it as one file and does not unpack it`,
        'push model files as raw layers',
        advisoryMode(policy.mode),
      );
    }
  });
  // A file cannot also be a directory of other files: the container would fail to start.
  for (const [path, index] of mountedBy) {
    for (let parent = path.lastIndexOf('/'); parent > 0; parent = path.lastIndexOf('/', parent - 1)) {
      const owner = mountedBy.get(path.slice(0, parent));
      if (owner !== undefined) {
        fail(
          context,
          'mountable',
          `layer ${index + 1} is mounted at ${path}, inside ${path.slice(0, parent)}, which layer ${owner + 1} mounts as a file`,
          'give every layer its own file path',
        );
        break;
      }
    }
  }
}

function checkDenyFiles(context: Context): void {
  const { rules, manifest } = context;
  if (rules.denyFiles.length === 0) return;
  const globs = denyGlobs(rules.denyFiles);
  manifest.layers.forEach((layer, index) => {
    if (isTarLayer(layer.mediaType)) {
      fail(
        context,
        'denyFiles',
        `${describeLayer(layer, index)} is a tar archive: the files in it cannot be judged by name without downloading it`,
        'push model files as raw layers, one per file, so that their names can be checked',
      );
      return;
    }
    // Every name the layer carries, whichever a runtime or tool uses; by name, not by content.
    const denied = layerNames(layer).find((name) => {
      const lower = name.toLowerCase();
      return matchesAny(globs.paths, lower) || matchesAny(globs.baseNames, baseName(lower));
    });
    if (denied !== undefined) {
      fail(
        context,
        'denyFiles',
        `${describeLayer(layer, index)} is a denied file${denied === fileNameOf(layer) ? '' : ` (it is also named ${denied})`}: pickle-based weights can run code when they are loaded`,
        'convert the weights to safetensors (or another format that holds no code) and push again',
      );
    }
  });
}

interface DenyGlobs {
  /** Globs with a `/`, matched against the whole path. */
  readonly paths: readonly string[];
  /** Globs without one, matched against the base name (a path with a `/` never matches them whole). */
  readonly baseNames: readonly string[];
}

const denyGlobsCache = new WeakMap<readonly string[], DenyGlobs>();

/** denyFiles compare without case; the lowered lists are kept per policy list. */
function denyGlobs(globs: readonly string[]): DenyGlobs {
  let split = denyGlobsCache.get(globs);
  if (split === undefined) {
    const lower = globs.map((glob) => glob.toLowerCase());
    split = { paths: lower.filter((glob) => glob.includes('/')), baseNames: lower.filter((glob) => !glob.includes('/')) };
    denyGlobsCache.set(globs, split);
  }
  return split;
}

function checkMaxSize(context: Context): void {
  const { rules, manifest } = context;
  if (rules.maxSize === undefined) return;
  const total = manifest.layers.reduce((sum, layer) => sum + layer.size, 0);
  if (total > rules.maxSize) {
    fail(
      context,
      'maxSize',
      `the layers add up to ${formatBytes(total)}, over the limit of ${formatBytes(rules.maxSize)}`,
      'use a smaller model or quantisation, or raise spec.artifact.maxSize',
    );
  }
}

function needModelPackConfig(context: Context, rule: string): ModelPackConfig | undefined {
  const { manifest, config } = context;
  if (!isModelPackConfig(manifest.config.mediaType)) {
    fail(
      context,
      rule,
      `the config is ${manifest.config.mediaType}, not a ModelPack config, so ${rule === 'formats' ? 'the model format' : 'the licence'} cannot be read`,
      'package the model with a ModelPack config (modctl build)',
    );
    return undefined;
  }
  if (config === undefined || !config.ok) {
    fail(
      context,
      rule,
      `the ModelPack config ${short(manifest.config.digest)} is not valid: ${config?.ok === false ? config.reason : 'it was not read'}`,
      'rebuild the artifact with a config that follows the ModelPack config schema',
    );
    return undefined;
  }
  return config.config;
}

function checkFormats(context: Context): void {
  const { rules } = context;
  if (rules.formats.length === 0) return;
  const config = needModelPackConfig(context, 'formats');
  if (config === undefined) return;
  if (config.format === undefined) {
    fail(context, 'formats', 'the ModelPack config declares no config.format', `set config.format to one of ${rules.formats.join(', ')}`);
  } else if (!rules.formats.some((format) => format.toLowerCase() === config.format?.toLowerCase())) {
    fail(
      context,
      'formats',
      `the model format is ${config.format}, not one of ${rules.formats.join(', ')}`,
      'convert the model to an allowed format, or allow it in spec.artifact.formats',
    );
  }
}

function checkLicenses(context: Context): void {
  const { rules, manifest } = context;
  if (rules.licenses.length === 0) return;
  const fromAnnotation = manifest.annotations[LICENSES_ANNOTATION];
  let expressions: readonly string[];
  if (isModelPackConfig(manifest.config.mediaType)) {
    const config = needModelPackConfig(context, 'licenses');
    if (config === undefined) return;
    expressions = config.licenses.length > 0 ? config.licenses : fromAnnotation === undefined ? [] : [fromAnnotation];
  } else {
    expressions = fromAnnotation === undefined ? [] : [fromAnnotation];
  }
  if (expressions.length === 0) {
    fail(
      context,
      'licenses',
      'the artifact declares no licence (ModelPack descriptor.licenses or the org.opencontainers.image.licenses annotation)',
      'declare the model licence when packaging it',
    );
    return;
  }
  const allowed = new Set(rules.licenses.map((license) => license.toLowerCase()));
  for (const text of expressions) {
    let ok: boolean;
    try {
      ok = licenseAllowed(parseLicenseExpression(text), allowed);
    } catch (error) {
      fail(context, 'licenses', (error as LicenseExpressionError).message, 'declare the licence as an SPDX expression');
      continue;
    }
    if (!ok)
      fail(
        context,
        'licenses',
        `the licence ${text} is not allowed (allowed: ${rules.licenses.join(', ')})`,
        'use a model under an allowed licence, or allow it in spec.artifact.licenses',
      );
  }
}

const CHECKS: readonly ((context: Context) => void)[] = [
  checkTypes,
  checkLayerMediaTypes,
  checkMountable,
  checkDenyFiles,
  checkMaxSize,
  checkFormats,
  checkLicenses,
];

/** Every artifact finding of one policy for one artifact (the first 10 per rule and manifest, then how many more). */
export function checkArtifact(policy: JudgingPolicy, rules: ArtifactRules, facts: ArtifactFacts): Finding[] {
  const findings: Finding[] = [];
  const several = facts.root.kind === 'index';
  facts.manifests.forEach((manifest, index) => {
    const prefix = several ? `manifest ${index + 1} of the index (${short(manifest.digest)}): ` : '';
    const context: Context = { policy, rules, manifest, prefix, config: facts.configs.get(manifest.config.digest), findings, counts: new Map() };
    for (const check of CHECKS) check(context);
    for (const [rule, count] of context.counts) {
      if (count <= FINDINGS_PER_RULE) continue;
      const last = findings.findLast((finding) => finding.rule === rule);
      findings.push({
        policy: policy.name,
        rule,
        mode: last?.mode ?? policy.mode,
        reason: `${prefix}… and ${count - FINDINGS_PER_RULE} more layers fail this rule`,
        fix: last?.fix ?? 'see the findings above',
      });
    }
  });
  return findings;
}
