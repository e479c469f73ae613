import assert from 'node:assert/strict';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { kubeConfigSource, webhookNamespace } from '../../../src/kube/context.ts';

describe('webhook namespace and API configuration', () => {
  it('namespace: --namespace, then MODELGATE_NAMESPACE, then the service account file, then modelgate', async () => {
    const sa = await mkdtemp(join(tmpdir(), 'modelgate-sa-'));
    const none = join(sa, 'missing');
    assert.equal(webhookNamespace(undefined, {}, none), 'modelgate');
    await writeFile(join(sa, 'namespace'), 'security-system\n');
    assert.equal(webhookNamespace(undefined, {}, sa), 'security-system');
    assert.equal(webhookNamespace(undefined, { MODELGATE_NAMESPACE: 'from-env' }, sa), 'from-env');
    assert.equal(webhookNamespace('from-flag', { MODELGATE_NAMESPACE: 'from-env' }, sa), 'from-flag');
    assert.equal(webhookNamespace(' ', { MODELGATE_NAMESPACE: '' }, sa), 'security-system');
  });

  it('a kubeconfig is found the way KubeConfig.loadFromDefault looks, or not at all', async () => {
    const home = await mkdtemp(join(tmpdir(), 'modelgate-home-'));
    const sa = join(home, 'sa');
    assert.equal(kubeConfigSource({}, home, sa), undefined);
    await mkdir(sa);
    await writeFile(join(sa, 'token'), 'token');
    assert.equal(kubeConfigSource({}, home, sa), 'in-cluster service account');
    await mkdir(join(home, '.kube'));
    await writeFile(join(home, '.kube', 'config'), '{}');
    assert.equal(kubeConfigSource({}, home, sa), join(home, '.kube', 'config'));
    assert.equal(kubeConfigSource({ KUBECONFIG: '/x/kubeconfig' }, home, sa), 'KUBECONFIG /x/kubeconfig');
  });
});
