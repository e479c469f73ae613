/**
 * The mapping of an OMS statement onto the mounted layers (signature/oms-mapping.ts): one
 * matching model, then one row per way a statement and a manifest can disagree, each with the
 * words its denial must say.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { mapStatement, rootDigestOf } from '../../../src/signature/oms-mapping.ts';
import type { MountedLayer } from '../../../src/signature/oms-mapping.ts';
import type { OmsResource, OmsStatement } from '../../../src/signature/oms-statement.ts';

const sha = (text: string): string => createHash('sha256').update(text).digest('hex');
const FILES: Readonly<Record<string, string>> = { 'model.safetensors': 'weights', 'tokenizer.json': '{}', 'sub/notes.txt': 'notes' };

function statement(files: Readonly<Record<string, string>> = FILES, change: Partial<OmsStatement> = {}): OmsStatement {
  const resources: OmsResource[] = Object.entries(files).map(([name, content]) => ({ name, algorithm: 'sha256', digest: sha(content) }));
  const base: OmsStatement = {
    predicateType: 'https://model_signing/signature/v1.0',
    compat: false,
    modelName: 'model',
    rootDigest: undefined,
    method: 'files',
    hashType: 'sha256',
    ignorePaths: ['.git', '.gitattributes', '.github', '.gitignore'],
    resources,
  };
  const made = { ...base, ...change };
  return { ...made, rootDigest: 'rootDigest' in change ? change.rootDigest : rootDigestOf(made) };
}

function layer(index: number, path: string | undefined, content: string, more: Partial<MountedLayer> = {}): MountedLayer {
  return {
    index,
    digest: `sha256:${sha(content)}`,
    mediaType: 'application/vnd.cncf.model.weight.v1.raw',
    path,
    names: path === undefined ? [] : [path],
    tar: false,
    ...more,
  };
}

const LAYERS: readonly MountedLayer[] = Object.entries(FILES).map(([name, content], index) => layer(index, name, content));

describe('mapStatement', () => {
  it('maps a statement whose files are exactly the mounted layers', () => {
    const mapping = mapStatement(statement(), LAYERS);
    assert.deepEqual(mapping.problems, []);
    assert.equal(mapping.ok, true);
    assert.equal(mapping.matched, 3);
    assert.deepEqual(
      mapping.rows.map((row) => `${row.file}: ${row.verdict}`),
      ['model.safetensors: match', 'tokenizer.json: match', 'sub/notes.txt: match'],
    );
  });

  it('leaves out layers the runtime does not write (no name)', () => {
    const mapping = mapStatement(statement(), [...LAYERS, layer(3, undefined, 'unnamed')]);
    assert.equal(mapping.ok, true);
  });

  it('accepts the v0.1 predicate (no root digest) when its files map the same', () => {
    const mapping = mapStatement(
      statement(FILES, { compat: true, predicateType: 'https://model_signing/Digests/v0.1', rootDigest: undefined, ignorePaths: [] }),
      LAYERS,
    );
    assert.equal(mapping.ok, true);
  });

  const denials: readonly {
    readonly name: string;
    readonly statement: OmsStatement;
    readonly layers: readonly MountedLayer[];
    readonly says: RegExp;
    readonly row?: string;
  }[] = [
    {
      name: 'a changed file',
      statement: statement(),
      layers: [LAYERS[0] as MountedLayer, layer(1, 'tokenizer.json', '{"x":1}'), LAYERS[2] as MountedLayer],
      says: /layer 2 writes "tokenizer\.json" with sha256 [0-9a-f]{12}…, but the signature has [0-9a-f]{12}…: the file was changed/,
      row: 'tokenizer.json: changed',
    },
    {
      name: 'an extra file',
      statement: statement(),
      layers: [...LAYERS, layer(3, 'extra.bin', 'extra')],
      says: /layer 4 writes "extra\.bin", which the signature does not list \(an extra file\)/,
      row: 'extra.bin: not signed',
    },
    {
      name: 'a missing file',
      statement: statement(),
      layers: LAYERS.slice(0, 2),
      says: /the signed file "sub\/notes\.txt" is not a layer of the manifest \(a missing file\)/,
      row: 'sub/notes.txt: missing',
    },
    {
      name: 'a path that differs only by its directory',
      statement: statement(),
      layers: [LAYERS[0] as MountedLayer, LAYERS[1] as MountedLayer, layer(2, 'notes.txt', 'notes')],
      says: /layer 3 writes "notes\.txt", but the signature has that content at "sub\/notes\.txt": the path differs by its directory/,
      row: 'notes.txt: signed as sub/notes.txt',
    },
    {
      name: 'a tar layer',
      statement: statement(),
      layers: [
        LAYERS[0] as MountedLayer,
        LAYERS[1] as MountedLayer,
        layer(2, 'sub', 'tarball', { tar: true, mediaType: 'application/vnd.cncf.model.weight.v1.tar' }),
      ],
      says: /layer 3 \("sub"\) is a tar archive \(application\/vnd\.cncf\.model\.weight\.v1\.tar\): its digest is the archive's/,
      row: 'sub: tar layer',
    },
    {
      name: 'a layer under a signed ignore_paths entry',
      statement: statement(),
      layers: [...LAYERS, layer(3, '.git/hooks.py', 'import os')],
      says: /layer 4 writes "\.git\/hooks\.py", under the signed ignore_paths entry "\.git": the signature says nothing about its content/,
      row: '.git/hooks.py: under ignore_paths',
    },
    {
      name: 'an ignore_paths entry of the whole model',
      statement: statement(FILES, { ignorePaths: ['./'] }),
      layers: LAYERS,
      says: /under the signed ignore_paths entry "\.\/"/,
    },
    {
      name: 'annotations that name two paths',
      statement: statement(),
      layers: [LAYERS[0] as MountedLayer, LAYERS[1] as MountedLayer, layer(2, 'notes.txt', 'notes', { names: ['notes.txt', 'sub/notes.txt'] })],
      says: /layer 3's annotations name it both "notes\.txt" \(written by the runtime\) and "sub\/notes\.txt"/,
      row: 'notes.txt: annotations disagree',
    },
    {
      name: 'a layer mounted over the volume itself',
      statement: statement(),
      layers: [...LAYERS, layer(3, '', 'root')],
      says: /layer 4 is mounted over the volume itself/,
    },
    {
      name: 'two layers that write one path',
      statement: statement(),
      layers: [...LAYERS, layer(3, 'tokenizer.json', '{}')],
      says: /layer 4 and layer 2 both write "tokenizer\.json"/,
    },
    {
      name: 'sharded serialization',
      statement: statement({ 'model.safetensors:0:1000': 'shard' }, { method: 'shards' }),
      layers: [layer(0, 'model.safetensors', 'weights')],
      says: /serialization method "shards" \(file shards\): shard digests are not the file digests/,
    },
    {
      name: 'blake2',
      statement: statement(FILES, { hashType: 'blake2b' }),
      layers: LAYERS,
      says: /hash type "blake2b": only whole-file sha256 equals an OCI layer digest/,
    },
    {
      name: 'a resource hashed with blake3',
      statement: { ...statement(), resources: [{ name: 'model.safetensors', algorithm: 'blake3', digest: 'ab' }] },
      layers: [LAYERS[0] as MountedLayer],
      says: /signed file "model\.safetensors" is hashed with "blake3", not sha256/,
    },
    {
      name: 'a single-file model',
      statement: statement({ '.': 'weights' }),
      layers: [layer(0, 'model.safetensors', 'weights')],
      says: /single-file model \(resource "\."\): it names no file, so it cannot be mapped onto layers/,
    },
    {
      name: 'a root digest that is not over the resource digests',
      statement: statement(FILES, { rootDigest: sha('something else') }),
      layers: LAYERS,
      says: /subject digest [0-9a-f]{12}… is not sha256 over its resource digests in order \([0-9a-f]{12}…\): the statement is inconsistent/,
    },
    {
      name: 'resources in another order than the root digest',
      statement: { ...statement(), resources: [...statement().resources].reverse() },
      layers: LAYERS,
      says: /is not sha256 over its resource digests in order/,
    },
    {
      name: 'a resource name that is not a clean relative path',
      statement: statement({ '../etc/passwd': 'x' }),
      layers: [],
      says: /signed file "\.\.\/etc\/passwd" is not a clean relative path/,
    },
    {
      name: 'a resource listed twice',
      statement: { ...statement(), resources: [...statement().resources, ...statement().resources.slice(0, 1)], rootDigest: undefined },
      layers: LAYERS,
      says: /signed file "model\.safetensors" is listed twice/,
    },
  ];

  for (const row of denials) {
    it(`denies ${row.name}`, () => {
      const mapping = mapStatement(row.statement, row.layers);
      assert.equal(mapping.ok, false);
      assert.match(mapping.problems.join('\n'), row.says);
      if (row.row !== undefined)
        assert.ok(
          mapping.rows.some((line) => `${line.file}: ${line.verdict}` === row.row),
          `rows: ${mapping.rows.map((line) => `${line.file}: ${line.verdict}`).join(', ')}`,
        );
    });
  }
});

describe('rootDigestOf', () => {
  it('is sha256 over the digest bytes in order, as model_signing computes the subject digest', () => {
    const digests = ['aa'.repeat(32), 'bb'.repeat(32)];
    const expected = createHash('sha256')
      .update(Buffer.from(digests.join(''), 'hex'))
      .digest('hex');
    const made = statement();
    assert.equal(rootDigestOf({ ...made, resources: digests.map((digest, index) => ({ name: `f${index}`, algorithm: 'sha256', digest })) }), expected);
  });
});
