/**
 * A Docker token service for tests (node:http/https), issuing the JWTs that distribution's
 * `auth: token` verifies: RS256, signed by a leaf certificate sent in the `x5c` header and
 * chained to the registry's `rootcertbundle`. Users authenticate with Basic credentials;
 * anonymous callers get pull access to the repositories `anonymousPull` allows (and, like
 * Docker Hub, a token without access for the others).
 */

import { createPrivateKey, randomUUID, sign, X509Certificate } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { KeyPairFiles } from './pki.ts';

export interface TokenServerOptions {
  /** The certificate and key that sign tokens. */
  readonly signer: KeyPairFiles;
  readonly issuer: string;
  readonly service: string;
  readonly users?: Readonly<Record<string, string>>;
  /** Which repositories anonymous callers may pull (default: those under `public/`). */
  readonly anonymousPull?: (repository: string) => boolean;
  /** Which field carries the token (default `token`). */
  readonly tokenField?: 'token' | 'access_token' | 'both';
  /** `expires_in` of the answer in seconds; `null` leaves it out (clients then assume 60 s). Default 300. */
  readonly expiresIn?: number | null;
  /** Serve HTTPS with this certificate. */
  readonly tls?: KeyPairFiles;
}

export interface TokenRequestRecord {
  readonly user: string | undefined;
  readonly service: string | null;
  readonly scopes: readonly string[];
}

export interface RunningTokenServer {
  /** The realm URL to configure in the registry. */
  readonly realm: string;
  readonly host: string;
  /** Token requests served so far. */
  readonly requests: readonly TokenRequestRecord[];
  /** Signs later tokens with another certificate (e.g. after the registry's trust changed). */
  setSigner(signer: KeyPairFiles): void;
  /** Changes the shape of later answers. */
  setAnswer(answer: { readonly tokenField?: 'token' | 'access_token' | 'both'; readonly expiresIn?: number | null }): void;
  /** Mints a token directly (e.g. for pushing test content). */
  mint(user: string | undefined, scopes: readonly string[]): string;
  stop(): Promise<void>;
}

interface Access {
  readonly type: string;
  readonly name: string;
  readonly actions: string[];
}

function base64url(input: Buffer | string): string {
  return Buffer.from(input).toString('base64url');
}

function parseScope(scope: string): Access | undefined {
  // repository:<name>:<actions>; the name may hold a port-less path but no colon in practice.
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first === -1 || last === first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(',')
      .filter((a) => a !== ''),
  };
}

export async function startTokenServer(options: TokenServerOptions): Promise<RunningTokenServer> {
  let signer = options.signer;
  let tokenField = options.tokenField ?? 'token';
  let expiresIn = options.expiresIn === undefined ? 300 : options.expiresIn;
  const anonymousPull = options.anonymousPull ?? ((repository: string) => repository.startsWith('public/'));
  const requests: TokenRequestRecord[] = [];

  const mintToken = (user: string | undefined, access: readonly Access[]): string => {
    const der = new X509Certificate(signer.certPem).raw;
    const header = { typ: 'JWT', alg: 'RS256', x5c: [der.toString('base64')] };
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: options.issuer,
      sub: user ?? '',
      aud: options.service,
      exp: now + 600,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(input), createPrivateKey(signer.keyPem));
    return `${input}.${base64url(signature)}`;
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://token.invalid');
    const scopes = url.searchParams.getAll('scope');
    let user: string | undefined;
    const authorization = req.headers.authorization;
    if (authorization !== undefined) {
      const match = /^Basic\s+(.+)$/i.exec(authorization);
      const decoded = match === null ? '' : Buffer.from(match[1] ?? '', 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const name = decoded.slice(0, colon);
      const password = decoded.slice(colon + 1);
      if (colon === -1 || options.users?.[name] === undefined || options.users[name] !== password) {
        requests.push({ user: name || undefined, service: url.searchParams.get('service'), scopes });
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ details: 'incorrect username or password' }));
        return;
      }
      user = name;
    }
    requests.push({ user, service: url.searchParams.get('service'), scopes });
    if (url.searchParams.get('service') !== options.service) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ details: 'unknown service' }));
      return;
    }
    const access: Access[] = [];
    for (const scope of scopes) {
      const parsed = parseScope(scope);
      if (parsed === undefined || parsed.type !== 'repository') continue;
      const actions = user !== undefined ? parsed.actions : anonymousPull(parsed.name) ? parsed.actions.filter((a) => a === 'pull') : [];
      if (actions.length > 0) access.push({ ...parsed, actions });
    }
    const token = mintToken(user, access);
    const body: Record<string, unknown> = { issued_at: new Date().toISOString() };
    if (tokenField === 'token' || tokenField === 'both') body['token'] = token;
    if (tokenField === 'access_token' || tokenField === 'both') body['access_token'] = token;
    if (expiresIn !== null) body['expires_in'] = expiresIn;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  const server: Server =
    options.tls === undefined ? createHttpServer(handler) : createHttpsServer({ cert: options.tls.certPem, key: options.tls.keyPem }, handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const host = `127.0.0.1:${port}`;
  return {
    realm: `${options.tls === undefined ? 'http' : 'https'}://${host}/token`,
    host,
    requests,
    setSigner: (next) => {
      signer = next;
    },
    setAnswer: (answer) => {
      if (answer.tokenField !== undefined) tokenField = answer.tokenField;
      if (answer.expiresIn !== undefined) expiresIn = answer.expiresIn;
    },
    mint: (user, scopes) =>
      mintToken(
        user,
        scopes.map(parseScope).filter((a): a is Access => a !== undefined),
      ),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
