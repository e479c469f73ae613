/** The registry client's public surface. */

export { RegistryClient, DEFAULT_CLIENT_OPTIONS } from './client.ts';
export type { RegistryClientOptions } from './client.ts';
export { DockerConfigCredentialProvider, DockerConfigError, credentialIdentity } from './credentials.ts';
export type { Credential, CredentialProvider, DockerConfigSource } from './credentials.ts';
export { RegistryError, isRegistryError, REGISTRY_ERROR_CODES } from './errors.ts';
export type { RegistryErrorCode, RegistryOperation } from './errors.ts';
export type { RequestEvent, RequestHook } from './http.ts';
export { computeDigest, isDigest, parseDigest, referrersTag, verifyDigest } from './digest.ts';
export * from './media-types.ts';
export type * from './types.ts';
