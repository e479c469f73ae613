/** Flag values with their environment variables. */
import { UsageError } from './usage.ts';

export const env = (name: string, environment: NodeJS.ProcessEnv = process.env): string | undefined => {
  const value = environment[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
};

/** The `--policy` files, else those MODELGATE_POLICY names (comma-separated); empty when neither names any. */
export function policyPathsOption(flag: readonly string[] | undefined, environment: NodeJS.ProcessEnv = process.env): readonly string[] {
  if (flag !== undefined && flag.length > 0) return flag;
  const fromEnv = env('MODELGATE_POLICY', environment)
    ?.split(',')
    .map((path) => path.trim())
    .filter((path) => path !== '');
  return fromEnv ?? [];
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
