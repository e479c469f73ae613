/** Flag values with their environment variables. */
import { UsageError } from './usage.ts';

export const env = (name: string): string | undefined => {
  const value = process.env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
};

export function stringOption(flag: string | undefined, envName: string, fallback: string): string {
  return flag ?? env(envName) ?? fallback;
}

export function portOption(flag: string | undefined): number {
  const text = flag ?? env('MODELGATE_PORT') ?? '8443';
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new UsageError(`--port must be a port number (0-65535), got ${JSON.stringify(text)}`);
  return port;
}
