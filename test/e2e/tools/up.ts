// Starts the whole test bed for manual poking and keeps it up until Ctrl-C:
//
//   node test/e2e/tools/up.ts
//
// Prints the kubeconfig, the registries and the fixture references, e.g. to
// run a locally built webhook against a real apiserver by hand.

import { startCluster } from '../lib/cluster.ts';
import { buildFixtures } from '../lib/fixtures.ts';
import { generateSigningKeys } from '../lib/cosign.ts';
import { startDockerRegistry, startReferrersRegistry } from '../lib/registries.ts';
import { logDir } from '../lib/workdir.ts';

const [cluster, plain, referrers, keys] = await Promise.all([startCluster(), startDockerRegistry(), startReferrersRegistry(), generateSigningKeys()]);
const fixtures = [await buildFixtures({ registry: plain, keys }), await buildFixtures({ registry: referrers, keys })];

const lines = [
  `export KUBECONFIG=${cluster.kubeconfig}`,
  `# apiserver          ${cluster.server}`,
  `# docker-registry    http://${plain.host}  (no referrers API)`,
  `# referrers-registry http://${referrers.host}  (OCI 1.1 referrers API, in memory)`,
  `# cosign public key  ${keys.publicKeyFile}`,
  `# server logs        ${logDir()}`,
];
for (const f of fixtures) {
  for (const a of [f.modelpack, f.modelkit, f.image]) lines.push(`#   ${a.ref}`);
}
process.stdout.write(`${lines.join('\n')}\n# Ctrl-C stops everything.\n`);

// The lib's signal hooks kill the servers on Ctrl-C; this only keeps the
// process alive until then (children are unref'd).
setInterval(() => undefined, 1 << 30);
