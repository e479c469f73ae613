/**
 * Image references for the differential suite against distribution/reference
 * (ParseNormalizedNamed, what kubelet, containerd and CRI-O parse with): a
 * grammar that mostly writes valid references and often breaks them in one
 * place, random strings over the grammar's characters, and hand-made cases.
 */
import fc from 'fast-check';
import type { OracleReference } from './oracle.ts';

const HEX = '0123456789abcdef';
const hexOf = (length: number, seed = 'a'): string => seed.repeat(length).slice(0, length);

const label = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('ghcr', 'io', 'example', 'registry', 'corp', 'quay', 'docker', 'index', 'registry-1', 'a-b', 'x1', '0') },
  { weight: 1, arbitrary: fc.constantFrom('GHCR', 'Docker', 'IO', '-a', 'a-', '', 'a_b', 'ü') },
);

const port = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('5000', '443', '8443', '80') },
  { weight: 1, arbitrary: fc.constantFrom('0443', '05000', '0', '65535', '65536', '99999', '', 'x') },
);

const host = fc.oneof(
  { weight: 6, arbitrary: fc.array(label, { minLength: 2, maxLength: 3 }).map((labels) => labels.join('.')) },
  {
    weight: 2,
    arbitrary: fc.constantFrom('docker.io', 'index.docker.io', 'registry-1.docker.io', 'DOCKER.IO', 'Index.Docker.Io', 'localhost', 'LOCALHOST', '127.0.0.1'),
  },
  { weight: 1, arbitrary: fc.constantFrom('[::1]', '[fe80::1]', '[::FFFF]', '[]', '[::g]', '[::1') },
);

const registry = fc.tuple(host, fc.option(port, { nil: undefined, freq: 3 })).map(([name, number]) => (number === undefined ? name : `${name}:${number}`));

const alphanumeric = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'), minLength: 1, maxLength: 6 });
const separator = fc.constantFrom('.', '_', '__', '-', '--');

const component = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .tuple(alphanumeric, fc.array(fc.tuple(separator, alphanumeric), { maxLength: 2 }))
      .map(([head, rest]) => head + rest.map(([sep, part]) => sep + part).join('')),
  },
  { weight: 1, arbitrary: fc.constantFrom('Llama', 'A', '..', '.', '', '-a', 'a-', '_a', 'a___b', 'a..b', 'a:b', 'ü') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(hexOf(64, '0123456789abcdef'.repeat(4)), 'a'.repeat(120), 'b'.repeat(247), 'c'.repeat(248), 'd'.repeat(255), 'e'.repeat(256)),
  },
);

const path = fc.array(component, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/'));

const tag = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: fc.constantFrom(...'abcAB09_.-'), minLength: 1, maxLength: 8 }).filter((text) => /^\w/.test(text)) },
  { weight: 1, arbitrary: fc.constantFrom('latest', 'v1.0', '.x', '-x', '', 'a'.repeat(128), 'a'.repeat(129), 'a@b', 'ä') },
);

const digest = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(`sha256:${hexOf(64, HEX.repeat(4))}`, `sha256:${hexOf(64)}`, `sha512:${hexOf(128, HEX.repeat(8))}`) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      `sha384:${hexOf(96)}`,
      `sha256:${hexOf(63)}`,
      `sha256:${hexOf(65)}`,
      `sha256:${'A'.repeat(64)}`,
      `SHA256:${hexOf(64)}`,
      `sha512:${hexOf(64)}`,
      `md5:${hexOf(32)}`,
      `sha256+b64:${hexOf(64)}`,
      `sha256:${hexOf(64)}x`,
      'sha256:',
      ':',
      hexOf(64),
    ),
  },
);

/** A reference from the grammar: registry, path, tag, digest, each optional where it may be. */
export const grammarReference = fc
  .record({
    registry: fc.option(registry, { nil: undefined, freq: 2 }),
    path,
    tag: fc.option(tag, { nil: undefined, freq: 2 }),
    digest: fc.option(digest, { nil: undefined, freq: 2 }),
  })
  .map(
    ({ registry: host, path: name, tag: version, digest: pin }) =>
      (host === undefined ? '' : `${host}/`) + name + (version === undefined ? '' : `:${version}`) + (pin === undefined ? '' : `@${pin}`),
  );

/** Random strings over the characters references are made of, and any characters at all. */
export const randomReference = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: fc.constantFrom(...'abAB09.-_:/@[]'), maxLength: 30 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
);

export const DIGEST_A = `sha256:${hexOf(64)}`;

/** Hand-made references: the canonical-name cases of issue 9 and the grammar's edges. */
export const REFERENCE_CORPUS: readonly string[] = [
  'llama',
  'llama:v1',
  `llama@${DIGEST_A}`,
  'acme/llama',
  'library/llama',
  'docker.io/llama',
  'docker.io/library/llama',
  'index.docker.io/llama',
  'index.docker.io/acme/llama',
  'registry-1.docker.io/llama',
  'registry-1.docker.io/acme/llama',
  'DOCKER.IO/acme/llama',
  'Index.Docker.io/llama',
  'docker.io:443/llama',
  'ghcr.io/acme/llama',
  'GHCR.IO/acme/llama',
  'Ghcr.io/acme/llama',
  'ghcr.io:443/acme/llama',
  'GHCR.IO:443/acme/llama',
  'ghcr.io:0443/acme/llama',
  'ghcr.io:5000/acme/llama',
  'ghcr.io:05000/acme/llama',
  'ghcr.io:65536/acme/llama',
  'ghcr.io:/acme/llama',
  'localhost/llama',
  'localhost:5000/llama',
  'LOCALHOST/llama',
  'localhost:443/llama',
  'localhost',
  'localhost:5000',
  '127.0.0.1:5000/llama',
  '[::1]/llama',
  '[::1]:5000/llama',
  '[::1]:443/llama',
  '[FE80::1]:5000/llama',
  '[::1',
  '::1/llama',
  'Acme/llama',
  'acme/Llama',
  'acme//llama',
  'acme/llama/',
  '/acme/llama',
  'acme/../llama',
  'acme/./llama',
  'acme/-llama',
  'acme/llama-',
  'acme/ll__ama',
  'acme/ll___ama',
  'acme/ll--ama',
  'acme/ll..ama',
  'ghcr.io/acme/llama:v1',
  `ghcr.io/acme/llama:v1@${DIGEST_A}`,
  `ghcr.io/acme/llama@${DIGEST_A}`,
  `ghcr.io/acme/llama@sha512:${'b'.repeat(128)}`,
  `ghcr.io/acme/llama@sha384:${'c'.repeat(96)}`,
  `ghcr.io/acme/llama@sha256:${'A'.repeat(64)}`,
  `ghcr.io/acme/llama@sha256:${'a'.repeat(63)}`,
  `ghcr.io/acme/llama@SHA256:${'a'.repeat(64)}`,
  `ghcr.io/acme/llama@md5:${'a'.repeat(32)}`,
  'ghcr.io/acme/llama@sha256:',
  'ghcr.io/acme/llama:',
  'ghcr.io/acme/llama:.v1',
  `ghcr.io/acme/llama:${'t'.repeat(128)}`,
  `ghcr.io/acme/llama:${'t'.repeat(129)}`,
  'a'.repeat(64),
  `${'a'.repeat(64)}:v1`,
  `${'0123456789abcdef'.repeat(4)}`,
  `acme/${'a'.repeat(64)}`,
  'a'.repeat(247),
  'a'.repeat(248),
  'a'.repeat(255),
  'a'.repeat(256),
  `acme/${'a'.repeat(250)}`,
  `acme/${'a'.repeat(251)}`,
  `ghcr.io/${'a'.repeat(250)}`,
  `ghcr.io/${'a'.repeat(255)}`,
  `ghcr.io/${'a'.repeat(256)}`,
  ' ghcr.io/acme/llama',
  'ghcr.io/acme/llama ',
  'ghcr.io /acme/llama',
  '',
  ':v1',
  `@${DIGEST_A}`,
  'ghcr.io/acme/llama@@sha256:x',
  'ghcr.io/ac me/llama',
  'ghcr.io/acme/lläma',
  'gh_cr.io/acme/llama',
  '-ghcr.io/acme/llama',
  'ghcr-.io/acme/llama',
  'ghcr..io/acme/llama',
  'ghcr.io./acme/llama',
  'xn--bcher-kva.example/llama',
];

const DOCKER_HUB_HOSTS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/**
 * The name modelgate documents as canonical, computed from Go's answer: the
 * host in lower case, the port as a number with 443 (HTTPS's default, what an
 * HTTPS client connects to) dropped, Docker Hub's host names as docker.io
 * with `library/` for single-component names.
 */
export function canonicalFromGo(answer: OracleReference): { registry: string; repository: string } {
  let registry = (answer.domain ?? '').toLowerCase();
  let repository = answer.path ?? '';
  const withPort = /^(.*):([0-9]+)$/.exec(registry);
  if (withPort !== null) {
    const [, name = '', number = ''] = withPort;
    // A client connects to the port's number, however it is written.
    registry = Number(number) === 443 ? name : `${name}:${Number(number)}`;
  }
  if (DOCKER_HUB_HOSTS.has(registry)) {
    registry = 'docker.io';
    if (!repository.includes('/')) repository = `library/${repository}`;
  }
  return { registry, repository };
}

/**
 * Why modelgate may refuse a reference that Go accepts, when it is one of the
 * known, deliberate differences; undefined otherwise.
 */
export function knownStricterReason(input: string, answer: OracleReference): string | undefined {
  if (answer.domain === undefined || answer.domain === '')
    return 'no registry for Go (the first component is not a valid host, so Go reads it as part of the path)';
  const algorithm = answer.digest?.split(':', 1)[0];
  if (algorithm !== undefined && algorithm !== 'sha256' && algorithm !== 'sha512')
    return `digest algorithm ${algorithm} (only sha256 and sha512, as documented)`;
  const port = /:([0-9]+)$/.exec(answer.domain ?? '')?.[1];
  if (port !== undefined && Number(port) > 65535) return 'port number over 65535';
  if (canonicalFromGo(answer).repository.length > 255)
    return 'canonical repository longer than 255 characters (a Docker Hub host Go does not know as one, then library/)';
  const name = input.split('@', 1)[0]?.replace(/:[\w][\w.-]*$/, '') ?? '';
  if (name.length > 255) return 'name longer than 255 characters counting its registry (Go counts the path only)';
  return undefined;
}
