/** Where a model reference sits in an admitted object; admission/extract.ts finds the sites, the engine judges them. */
export interface ModelReferenceSite {
  /** An image volume, or a storage URI naming an OCI model (KServe modelcar). */
  readonly kind: 'volume' | 'storageUri';
  /** The volume's name (`#<index>` without one), or the URI field's name. */
  readonly volume: string;
  /** Field path, e.g. `spec.template.spec.volumes[2].image.reference`. */
  readonly path: string;
  /** The reference as written (a storage URI without its `oci://`); not necessarily a string in a malformed object. */
  readonly reference: unknown;
  /** Why the site cannot be judged (an unreadable podSpecPatch); its reference is then undefined. */
  readonly problem?: string;
  /** The object holding the pod's serviceAccountName and imagePullSecrets, for its pull secrets. */
  readonly podSpec: Record<string, unknown> | undefined;
}
