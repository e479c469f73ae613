/** Flags shared by the commands, with their environment variables. */
import { BUNDLED_POLICY } from '../package-root.ts';
import { UsageError } from './usage.ts';

export interface PolicyOptions {
  readonly policyPaths: readonly string[];
  readonly configPath: string | undefined;
}

export const env = (name: string): string | undefined => {
  const value = process.env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
};

export function policyOptions(values: { policy?: string[] | undefined; config?: string | undefined }): PolicyOptions {
  const fromEnv = env('MODELGATE_POLICY')?.split(',').map((path) => path.trim()).filter((path) => path !== '');
  const paths = values.policy !== undefined && values.policy.length > 0 ? values.policy : (fromEnv ?? [BUNDLED_POLICY]);
  return { policyPaths: paths, configPath: values.config ?? env('MODELGATE_CONFIG') };
}

export function stringOption(flag: string | undefined, envName: string, fallback: string): string {
  return flag ?? env(envName) ?? fallback;
}

export function portOption(flag: string | undefined): number {
  const text = flag ?? env('MODELGATE_PORT') ?? '8443';
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new UsageError(`--port must be a port number (0-65535), got ${JSON.stringify(text)}`);
  return port;
}
