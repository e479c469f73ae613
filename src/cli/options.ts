/** Flag values with their environment variables. */
import { UsageError } from './usage.ts';

export const env = (name: string, environment: NodeJS.ProcessEnv = process.env): string | undefined => {
  const value = environment[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
};

/** The entries of a comma-separated list, trimmed, empty ones dropped. */
export const commaList = (text: string): string[] =>
  text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');

/** A repeatable flag's values, else those its environment variable lists (comma-separated); empty when neither names any. */
export function listOption(flag: readonly string[] | undefined, envName: string, environment: NodeJS.ProcessEnv = process.env): readonly string[] {
  if (flag !== undefined && flag.length > 0) return flag;
  const text = env(envName, environment);
  return text === undefined ? [] : commaList(text);
}

/** The `--policy` files, else those MODELGATE_POLICY names. */
export const policyPathsOption = (flag: readonly string[] | undefined, environment: NodeJS.ProcessEnv = process.env): readonly string[] =>
  listOption(flag, 'MODELGATE_POLICY', environment);

export function stringOption(flag: string | undefined, envName: string, fallback: string): string {
  return flag ?? env(envName) ?? fallback;
}

export function portOption(flag: string | undefined): number {
  const text = flag ?? env('MODELGATE_PORT') ?? '8443';
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new UsageError(`--port must be a port number (0-65535), got ${JSON.stringify(text)}`);
  return port;
}
