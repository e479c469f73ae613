// Free loopback TCP ports for the servers a test starts.
//
// The kernel picks a free port for a listen on port 0; we close the socket and
// hand the number to the child. Another process could grab it in between, but
// on a test machine that race is rare, and the ports handed out by this
// process are remembered so two servers of one test never get the same one.

import { createServer } from 'node:net';

const handedOut = new Set<number>();

function askKernel(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ host, port: 0, exclusive: true }, () => {
      const addr = srv.address();
      srv.close(() => {
        if (addr !== null && typeof addr === 'object') resolve(addr.port);
        else reject(new Error('could not read the port of a listening socket'));
      });
    });
  });
}

/** A TCP port on 127.0.0.1 that is free now and was not handed out before. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await askKernel(host);
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free loopback port found after 50 attempts');
}
