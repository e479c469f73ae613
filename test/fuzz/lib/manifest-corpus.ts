/**
 * Hand-made manifests: the bypasses of issue 9 and the JSON corners where
 * decoders part ways. `expect` is modelgate's verdict where it is settled
 * (an attack must be refused); every entry also goes through the differential
 * property.
 */
import { DOCKER_MANIFEST, FILEPATH, LICENSES, OCI_INDEX, OCI_MANIFEST, TITLE, digestOf } from './manifests.ts';

export interface CorpusManifest {
  readonly name: string;
  readonly bytes: Buffer;
  /** The Content-Type the registry serves it with. */
  readonly contentType: string | undefined;
  /** modelgate's verdict, where it is settled. */
  readonly expect?: 'accept' | 'refuse';
  /** An attack of issue 9: Go reads other files from it than JSON.parse does. */
  readonly twoReadings?: boolean;
}

const TWO_READINGS = new Set([
  '"layers" then "Layers"',
  '"LAYERS" alone',
  '"layerſ" (U+017F)',
  '"layer\\u017f" escaped',
  '"\\u004cayers" (escaped L)',
  'duplicate "layers" that Go merges',
  '"Annotations" on a layer',
  '"annotationſ" on a layer',
]);

const A = digestOf('a');
const B = digestOf('b');
const CONFIG = `{"mediaType":"application/vnd.cncf.model.config.v1+json","digest":"${A}","size":2}`;
const layer = (name: string, extra = ''): string =>
  `{"mediaType":"application/vnd.cncf.model.weight.v1.raw","digest":"${B}","size":10,"annotations":{"${TITLE}":"${name}"}${extra}}`;
const SAFE = layer('model.safetensors');
const PICKLE = layer('model.pkl');
/** A manifest around the given top-level members. */
const manifest = (members: string, mediaType: string | undefined = OCI_MANIFEST): string =>
  `{"schemaVersion":2,${mediaType === undefined ? '' : `"mediaType":"${mediaType}",`}"config":${CONFIG},${members}}`;

const entries: [string, string | Buffer, 'accept' | 'refuse' | undefined, string?][] = [
  ['a plain model manifest', manifest(`"layers":[${SAFE}]`), 'accept'],
  ['no mediaType, served as OCI', manifest(`"layers":[${SAFE}]`, undefined), 'accept'],
  ['Docker schema 2', manifest(`"layers":[${SAFE}]`, DOCKER_MANIFEST), 'accept', DOCKER_MANIFEST],
  ['escaped key that is exactly "layers"', manifest(`"\\u006cayers":[${SAFE}]`), 'accept'],
  ['escaped title value', manifest(`"layers":[{"mediaType":"x","digest":"${B}","size":1,"annotations":{"${TITLE}":"model\\u002epkl"}}]`), 'accept'],
  [
    'lone surrogate in a title (U+FFFD for both)',
    manifest(`"layers":[{"mediaType":"x","digest":"${B}","size":1,"annotations":{"${TITLE}":"a\\ud800.pkl"}}]`),
    'accept',
  ],
  [
    'high surrogate then an escaped letter',
    manifest(`"layers":[{"mediaType":"x","digest":"${B}","size":1,"annotations":{"${TITLE}":"\\ud800\\u0041"}}]`),
    'accept',
  ],
  ['a surrogate pair escaped', manifest(`"layers":[{"mediaType":"x","digest":"${B}","size":1,"annotations":{"${TITLE}":"\\ud83d\\ude00.bin"}}]`), 'accept'],
  [
    'title wins over filepath',
    manifest(`"layers":[{"mediaType":"x","digest":"${B}","size":1,"annotations":{"${FILEPATH}":"w.safetensors","${TITLE}":"w.pkl"}}]`),
    'accept',
  ],
  [
    'empty title: CRI-O skips the layer',
    manifest(`"layers":[{"mediaType":"x","digest":"${B}","size":1,"annotations":{"${TITLE}":"","${FILEPATH}":"w.pkl"}}]`),
    'accept',
  ],
  ['title cleaned: weights.pkl/.', manifest(`"layers":[${layer('weights.pkl/.')}]`), 'accept'],
  ['title cleaned: ../../x', manifest(`"layers":[${layer('../../etc/x.pkl')}]`), 'accept'],
  ['title that is the volume itself', manifest(`"layers":[${layer('/')}]`), 'accept'],
  ['unknown fields are ignored by both', manifest(`"layers":[${SAFE}],"x-vendor":{"a":[1,2,{"b":null}]}`), 'accept'],
  ['annotation key __proto__', manifest(`"layers":[{"mediaType":"x","digest":"${B}","size":1,"annotations":{"__proto__":"p","${TITLE}":"m.bin"}}]`), undefined],
  [
    'null title next to a filepath (Go keeps the key as "")',
    manifest(`"layers":[{"mediaType":"x","digest":"${B}","size":1,"annotations":{"${TITLE}":null,"${FILEPATH}":"w.safetensors"}}]`),
    undefined,
  ],
  ['null licence annotation on the manifest', manifest(`"layers":[${SAFE}],"annotations":{"${LICENSES}":null}`), undefined],
  ['null annotations', manifest(`"layers":[{"mediaType":"x","digest":"${B}","size":1,"annotations":null}]`), 'accept'],
  ['null layers', manifest(`"layers":null`), 'refuse'],
  ['inline data in base64', manifest(`"layers":[{"mediaType":"x","digest":"${B}","size":2,"data":"aGk="}]`), 'accept'],
  [
    'inline data that is not base64 (Go refuses the manifest)',
    manifest(`"layers":[{"mediaType":"x","digest":"${B}","size":2,"data":"weights.pkl"}]`),
    undefined,
  ],
  ['negative zero size', manifest(`"layers":[{"mediaType":"x","digest":"${B}","size":-0}]`), undefined],
  // The attacks: one digest, two readings.
  ['"layers" then "Layers"', manifest(`"layers":[${SAFE}],"Layers":[${PICKLE}]`), 'refuse'],
  ['"Layers" then "layers"', manifest(`"Layers":[${PICKLE}],"layers":[${SAFE}]`), 'refuse'],
  ['"LAYERS" alone', manifest(`"LAYERS":[${PICKLE}]`), 'refuse'],
  ['"layerſ" (U+017F)', manifest(`"layers":[${SAFE}],"layer\u017f":[${PICKLE}]`), 'refuse'],
  ['"layer\\u017f" escaped', manifest(`"layers":[${SAFE}],"layer\\u017f":[${PICKLE}]`), 'refuse'],
  ['"\\u004cayers" (escaped L)', manifest(`"layers":[${SAFE}],"\\u004cayers":[${PICKLE}]`), 'refuse'],
  ['duplicate "layers"', manifest(`"layers":[${SAFE}],"layers":[${PICKLE}]`), 'refuse'],
  [
    'duplicate "layers" that Go merges',
    manifest(`"layers":[{"mediaType":"x","digest":"${B}","size":1,"annotations":{"${TITLE}":"m.pkl"}}],"layers":[{"mediaType":"x","digest":"${B}","size":1}]`),
    'refuse',
  ],
  ['duplicate "config"', manifest(`"layers":[${SAFE}],"config":${CONFIG}`), 'refuse'],
  ['duplicate "mediaType"', `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","mediaType":"${OCI_INDEX}","config":${CONFIG},"layers":[${SAFE}]}`, 'refuse'],
  ['duplicate "schemaVersion"', `{"schemaVersion":1,"schemaVersion":2,"config":${CONFIG},"layers":[${SAFE}]}`, 'refuse'],
  [
    '"Annotations" on a layer',
    manifest(`"layers":[{"mediaType":"x","digest":"${B}","size":1,"annotations":{"${TITLE}":"m.safetensors"},"Annotations":{"${TITLE}":"m.pkl"}}]`),
    'refuse',
  ],
  [
    '"annotationſ" on a layer',
    manifest(`"layers":[{"mediaType":"x","digest":"${B}","size":1,"annotations":{"${TITLE}":"m.safetensors"},"annotation\u017f":{"${TITLE}":"m.pkl"}}]`),
    'refuse',
  ],
  ['"Digest" on a layer', manifest(`"layers":[{"mediaType":"x","digest":"${B}","Digest":"${A}","size":1}]`), 'refuse'],
  ['"Size" next to "size" on a layer', manifest(`"layers":[{"mediaType":"x","digest":"${B}","size":1,"Size":99}]`), 'refuse'],
  [
    'a Kelvin-sign key (no field of a manifest has a k)',
    manifest(`"layers":[{"mediaType":"x","digest":"${B}","size":1,"platform":{"os":"linux","architecture":"amd64","\u212Aind":"x"}}]`),
    'accept',
  ],
  ['"ſchemaVersion" (U+017F) next to schemaVersion', `{"schemaVersion":2,"\u017fchemaVersion":1,"config":${CONFIG},"layers":[${SAFE}]}`, 'refuse'],
  ['"MediaType" saying index next to mediaType', manifest(`"layers":[${SAFE}],"MediaType":"${OCI_INDEX}"`), 'refuse'],
  [
    'duplicate annotation key',
    manifest(`"layers":[{"mediaType":"x","digest":"${B}","size":1,"annotations":{"${TITLE}":"m.safetensors","${TITLE}":"m.pkl"}}]`),
    'refuse',
  ],
  [
    'duplicate annotation key via an escape',
    manifest(`"layers":[{"mediaType":"x","digest":"${B}","size":1,"annotations":{"${TITLE}":"m.safetensors","org.opencontainers.image.titl\\u0065":"m.pkl"}}]`),
    'refuse',
  ],
  ['duplicate key inside unknown data', manifest(`"layers":[${SAFE}],"x":{"a":1,"a":2}`), 'refuse'],
  [
    'duplicate key deep in a platform',
    manifest(`"layers":[{"mediaType":"x","digest":"${B}","size":1,"platform":{"os":"linux","os":"windows","architecture":"amd64"}}]`),
    'refuse',
  ],
  ['layers and manifests', manifest(`"layers":[${SAFE}],"manifests":[]`), 'refuse'],
  ['"Manifests" next to layers', manifest(`"layers":[${SAFE}],"Manifests":[]`), 'refuse'],
  ['an index mediaType with layers', manifest(`"layers":[${SAFE}]`, OCI_INDEX), 'refuse'],
  ['served as an index, says manifest', manifest(`"layers":[${SAFE}]`), 'refuse', OCI_INDEX],
  ['served as Docker, says OCI', manifest(`"layers":[${SAFE}]`), 'refuse', DOCKER_MANIFEST],
  ['schema 1 fsLayers', manifest(`"layers":[${SAFE}],"fsLayers":[]`), 'refuse'],
  ['schema 1 history', manifest(`"layers":[${SAFE}],"history":[]`), 'refuse'],
  ['schema 1 "FsLayers"', manifest(`"layers":[${SAFE}],"FsLayers":[]`), 'refuse'],
  ['schemaVersion 1', `{"schemaVersion":1,"config":${CONFIG},"layers":[${SAFE}]}`, 'refuse'],
  ['size 1e3', manifest(`"layers":[{"mediaType":"x","digest":"${B}","size":1e3}]`), 'refuse'],
  ['size 1.0', manifest(`"layers":[{"mediaType":"x","digest":"${B}","size":1.0}]`), 'refuse'],
  ['size as a string', manifest(`"layers":[{"mediaType":"x","digest":"${B}","size":"1"}]`), 'refuse'],
  ['size 2^63', manifest(`"layers":[{"mediaType":"x","digest":"${B}","size":9223372036854775808}]`), 'refuse'],
  ['size 2^53', manifest(`"layers":[{"mediaType":"x","digest":"${B}","size":9007199254740992}]`), 'refuse'],
  ['schemaVersion 2.0', `{"schemaVersion":2.0,"config":${CONFIG},"layers":[${SAFE}]}`, 'refuse'],
  ['annotation value a number', manifest(`"layers":[{"mediaType":"x","digest":"${B}","size":1,"annotations":{"${TITLE}":5}}]`), 'refuse'],
  [
    'invalid UTF-8 in a title',
    Buffer.concat([
      Buffer.from(manifest(`"layers":[{"mediaType":"x","digest":"${B}","size":1,"annotations":{"${TITLE}":"m`)),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('.pkl"}}]}'),
    ]),
    'refuse',
  ],
  [
    'overlong UTF-8 slash in a title',
    Buffer.concat([
      Buffer.from(manifest(`"layers":[{"mediaType":"x","digest":"${B}","size":1,"annotations":{"${TITLE}":"..`)),
      Buffer.from([0xc0, 0xaf]),
      Buffer.from('x.pkl"}}]}'),
    ]),
    'refuse',
  ],
  ['a byte-order mark', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(manifest(`"layers":[${SAFE}]`))]), 'refuse'],
  ['trailing garbage', `${manifest(`"layers":[${SAFE}]`)} x`, 'refuse'],
  ['two documents', `${manifest(`"layers":[${SAFE}]`)}${manifest(`"layers":[${PICKLE}]`)}`, 'refuse'],
  ['a raw control character in a string', manifest(`"layers":[{"mediaType":"x","digest":"${B}","size":1,"annotations":{"${TITLE}":"a\u0001.pkl"}}]`), 'refuse'],
  ['nested 70 deep in unknown data', manifest(`"layers":[${SAFE}],"x":${'['.repeat(70)}${']'.repeat(70)}`), 'refuse'],
  ['nested 40 deep in unknown data', manifest(`"layers":[${SAFE}],"x":${'{"a":'.repeat(40)}1${'}'.repeat(40)}`), 'accept'],
  ['JSON null', 'null', 'refuse'],
  ['a list', '[]', 'refuse'],
  ['an empty object', '{}', 'refuse'],
  ['empty bytes', '', 'refuse'],
  ['a layer digest that is not one', manifest(`"layers":[{"mediaType":"x","digest":"sha256:../../x","size":1}]`), 'refuse'],
  ['a negative size', manifest(`"layers":[{"mediaType":"x","digest":"${B}","size":-1}]`), 'refuse'],
];

export const MANIFEST_CORPUS: readonly CorpusManifest[] = entries.map(([name, body, expect, contentType]) => ({
  name,
  bytes: typeof body === 'string' ? Buffer.from(body, 'utf8') : body,
  contentType: contentType ?? OCI_MANIFEST,
  ...(expect === undefined ? {} : { expect }),
  ...(TWO_READINGS.has(name) ? { twoReadings: true } : {}),
}));

for (const name of TWO_READINGS) if (!entries.some(([entry]) => entry === name)) throw new Error(`no corpus manifest named ${name}`);
