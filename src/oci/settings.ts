/** What the registry client is told about each registry; a Config's `registries` list (policy/documents.ts) holds these. */
/** Connection settings for one registry. */
export interface RegistrySettings {
  readonly host: string;
  /** Plain HTTP; only ever for hosts listed with it. */
  readonly insecure: boolean;
  /** PEM bundle of CAs to trust for this host. */
  readonly ca: string | undefined;
}
