/**
 * The Go decoding oracle (test/e2e/tools/oracle) as one long-lived child
 * process: a question is one base64 line on its stdin, the answer one JSON
 * line on its stdout, in order. Starting Go once per file rather than once
 * per input keeps thousands of differential checks within seconds.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { loadTools } from '../../e2e/lib/tools.ts';

export type OracleMode = 'manifest' | 'reference';

export interface OracleLayer {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly annotations: Record<string, string> | null;
  /** The file CRI-O mounts the layer at; null when CRI-O skips it. */
  readonly file: string | null;
}

export interface OracleManifest {
  readonly ok: boolean;
  readonly error?: string;
  readonly mediaType?: string;
  readonly artifactType?: string;
  readonly configType?: string;
  readonly annotations?: Record<string, string>;
  readonly layers: readonly OracleLayer[];
}

export interface OracleReference {
  readonly ok: boolean;
  readonly error?: string;
  readonly name?: string;
  readonly domain?: string;
  readonly path?: string;
  readonly tag?: string;
  readonly digest?: string;
}

/** The oracle binary: MODELGATE_ORACLE when set (a development build), else the test bed's. */
export function oraclePath(): string {
  const fromEnv = process.env['MODELGATE_ORACLE'];
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : loadTools().paths.ORACLE;
}

export class Oracle<Answer> {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #waiting: { resolve: (answer: Answer) => void; reject: (error: Error) => void }[] = [];
  #stderr = '';
  #exited: Error | undefined;

  constructor(mode: OracleMode) {
    this.#child = spawn(oraclePath(), [mode], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child.stderr.setEncoding('utf8');
    this.#child.stderr.on('data', (chunk: string) => (this.#stderr = (this.#stderr + chunk).slice(-4000)));
    createInterface({ input: this.#child.stdout, crlfDelay: Infinity }).on('line', (line) => {
      const waiter = this.#waiting.shift();
      if (waiter === undefined) return;
      try {
        waiter.resolve(JSON.parse(line) as Answer);
      } catch (error) {
        waiter.reject(new Error(`oracle answered a line that is not JSON: ${line.slice(0, 200)}`, { cause: error }));
      }
    });
    const fail = (error: Error): void => {
      this.#exited = error;
      for (const waiter of this.#waiting.splice(0)) waiter.reject(error);
    };
    this.#child.on('error', fail);
    this.#child.on('exit', (code, signal) => fail(new Error(`oracle exited (code ${code}, signal ${signal}): ${this.#stderr}`)));
  }

  /** Decodes `input` (bytes, or a string sent as UTF-8) the way the Go program does. */
  ask(input: Uint8Array | string): Promise<Answer> {
    if (this.#exited !== undefined) return Promise.reject(this.#exited);
    const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#child.stdin.write(`${bytes.toString('base64')}\n`);
    });
  }

  async close(): Promise<void> {
    if (this.#exited !== undefined) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    this.#child.stdin.end();
    await exited;
  }
}
