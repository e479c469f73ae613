/** Reading an undici response body within a byte limit, and its headers as one string per name. */

export interface Body extends AsyncIterable<Buffer> {
  on(event: 'error', listener: (error: Error) => void): unknown;
  destroy(): void;
}

/** Stops reading a body and drops its connection; the abort error this causes is expected. */
export function discard(body: Body): void {
  body.on('error', () => {});
  body.destroy();
}

/**
 * A body of announced length, read into one buffer of that length: the chunks
 * and a concatenated copy of them would hold it twice. More or fewer bytes than
 * announced is undici's UND_ERR_RES_CONTENT_LENGTH_MISMATCH, as with readCapped.
 */
export async function readExactly(body: Body, length: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  let offset = 0;
  for await (const chunk of body) {
    if (offset + chunk.length > length) {
      discard(body);
      throw Object.assign(new Error('the answer is longer than its Content-Length'), { code: 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' });
    }
    chunk.copy(buffer, offset);
    offset += chunk.length;
  }
  return offset === length ? buffer : buffer.subarray(0, offset);
}

/** The body up to `limit` bytes; undefined when it is longer (unless `truncate`, which returns the first bytes). */
export async function readCapped(body: Body, limit: number, truncate = false): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    if (total + chunk.length > limit) {
      if (truncate) chunks.push(chunk.subarray(0, limit - total));
      discard(body);
      return truncate ? Buffer.concat(chunks) : undefined;
    }
    chunks.push(chunk);
    total += chunk.length;
  }
  return Buffer.concat(chunks, total);
}

export function normalizeHeaders(headers: Readonly<Record<string, string | string[] | undefined>>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}
