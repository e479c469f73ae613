import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DownloadHTTPError } from 'tuf-js/dist/error.js';
import { GuardedTufFetcher } from '../../../src/signature/tuf-fetch.ts';

describe('the TUF fetcher follows the egress rules', () => {
  let server: Server;
  let host = '';
  const tmp = mkdtempSync(join(tmpdir(), 'modelgate-tuf-fetch-'));
  const requests: string[] = [];

  before(async () => {
    server = createServer((req, res) => {
      requests.push(req.url ?? '');
      if (req.url === '/timestamp.json') res.end('{"signed": {}}');
      else if (req.url === '/big.json') res.end('x'.repeat(2048));
      else if (req.url === '/to-localhost') res.writeHead(302, { location: 'http://localhost:1/x' }).end();
      else if (req.url === '/to-ftp') res.writeHead(302, { location: 'ftp://example.com/x' }).end();
      else if (req.url === '/to-self') res.writeHead(301, { location: '/timestamp.json' }).end();
      else if (req.url === '/loop') res.writeHead(302, { location: '/loop' }).end();
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  const fetcher = (listed: boolean) => new GuardedTufFetcher({ listedHost: listed ? host : undefined, tmpDir: tmp, timeoutMs: 2_000 });

  it('never connects to an internal address the Config did not name as mirror', async () => {
    const count = requests.length;
    const unlisted = fetcher(false);
    await assert.rejects(unlisted.downloadBytes(`http://${host}/timestamp.json`, 1024), /127\.0\.0\.1 is an internal address \(name the mirror/);
    await assert.rejects(unlisted.downloadBytes('http://localhost:1/x', 1024), /localhost is an internal address/);
    assert.equal(requests.length, count, 'no request reached the server');
    await unlisted.close();
  });

  it('fetches from the named mirror, bounded, and follows redirects only under the same rules', async () => {
    const listed = fetcher(true);
    assert.equal((await listed.downloadBytes(`http://${host}/timestamp.json`, 1024)).toString(), '{"signed": {}}');
    assert.equal((await listed.downloadBytes(`http://${host}/to-self`, 1024)).toString(), '{"signed": {}}');
    await assert.rejects(listed.downloadBytes(`http://${host}/big.json`, 1024), /more than 1024 bytes/);
    await assert.rejects(listed.downloadBytes(`http://${host}/to-localhost`, 1024), /localhost is an internal address/);
    await assert.rejects(listed.downloadBytes(`http://${host}/to-ftp`, 1024), /redirect to ftp: refused/);
    await assert.rejects(listed.downloadBytes(`http://${host}/loop`, 1024), /more than 3 redirects/);
    // tuf-js ends its search for a newer root at a 404: the status must reach it as its own error type.
    await assert.rejects(
      listed.downloadBytes(`http://${host}/2.root.json`, 1024),
      (error: unknown) => error instanceof DownloadHTTPError && error.statusCode === 404,
    );
    const text = await listed.downloadFile(`http://${host}/timestamp.json`, 1024, async (file) => readFileSync(file, 'utf8'));
    assert.equal(text, '{"signed": {}}');
    assert.deepEqual(readdirSync(tmp), [], 'temporary files are removed');
    await listed.close();
  });
});
