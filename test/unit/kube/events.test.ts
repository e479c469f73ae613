import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiException } from '@kubernetes/client-node';
import type { CoreV1Api, CoreV1Event } from '@kubernetes/client-node';
import { KubeEventRecorder, MAX_EVENT_MESSAGE, configMapEvent, eventName, truncateMessage } from '../../../src/kube/events.ts';

const target = { namespace: 'modelgate', name: 'policies', uid: 'u-1', resourceVersion: '42' };

describe('policy Events', () => {
  it('a Warning Event on the ConfigMap, reason and message as given', () => {
    const now = new Date('2026-01-02T03:04:05Z');
    const event = configMapEvent(target, { reason: 'InvalidPolicy', message: 'bad', key: 'k1' }, now, 'pod-1');
    assert.deepEqual(event.involvedObject, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      namespace: 'modelgate',
      name: 'policies',
      uid: 'u-1',
      resourceVersion: '42',
    });
    assert.equal(event.metadata?.namespace, 'modelgate');
    assert.equal(event.type, 'Warning');
    assert.equal(event.reason, 'InvalidPolicy');
    assert.equal(event.message, 'bad');
    assert.deepEqual(event.source, { component: 'modelgate', host: 'pod-1' });
    assert.equal(event.count, 1);
    assert.equal(event.firstTimestamp, now);
  });

  it('names are stable per ConfigMap and problem, valid, and short enough', () => {
    assert.equal(eventName(target, 'k1'), eventName(target, 'k1'));
    assert.notEqual(eventName(target, 'k1'), eventName(target, 'k2'));
    assert.notEqual(eventName(target, 'k1'), eventName({ ...target, uid: 'u-2' }, 'k1'));
    assert.match(eventName(target, 'k1'), /^policies\.[0-9a-f]{16}$/);
    assert.ok(eventName({ ...target, name: 'x'.repeat(253) }, 'k').length <= 253);
  });

  it('long messages are cut to the limit', () => {
    assert.equal(truncateMessage('x'.repeat(5000)).length, MAX_EVENT_MESSAGE);
    assert.equal(truncateMessage('short'), 'short');
  });

  it('creates the Event, and on AlreadyExists (another replica, a restart) patches it instead', async () => {
    const calls: string[] = [];
    let exists = false;
    const api = {
      createNamespacedEvent: async (request: { namespace: string; body: CoreV1Event }) => {
        calls.push(`create ${request.namespace}/${request.body.metadata?.name ?? ''}`);
        if (exists) throw new ApiException(409, 'AlreadyExists', {}, {});
        exists = true;
        return request.body;
      },
      patchNamespacedEvent: async (request: { namespace: string; name: string; body: Record<string, unknown> }) => {
        calls.push(`patch ${request.namespace}/${request.name} ${Object.keys(request.body).sort().join(',')}`);
        return {};
      },
    } as unknown as CoreV1Api;
    const errors: string[] = [];
    const recorder = new KubeEventRecorder(api, (message) => errors.push(message), 'pod-1');
    await recorder.warning(target, { reason: 'InvalidPolicy', message: 'bad', key: 'k1' });
    await recorder.warning(target, { reason: 'InvalidPolicy', message: 'bad', key: 'k1' });
    const name = eventName(target, 'k1');
    assert.deepEqual(calls, [`create modelgate/${name}`, `create modelgate/${name}`, `patch modelgate/${name} lastTimestamp,message`]);
    assert.deepEqual(errors, []);
  });

  it('never throws: a refused Event is reported', async () => {
    const api = {
      createNamespacedEvent: async () => {
        throw new ApiException(403, 'Forbidden', {}, {});
      },
    } as unknown as CoreV1Api;
    const errors: string[] = [];
    await new KubeEventRecorder(api, (message) => errors.push(message)).warning(target, { reason: 'InvalidPolicy', message: 'bad', key: 'k' });
    assert.equal(errors.length, 1);
    assert.match(errors[0] ?? '', /cannot record Event modelgate\/policies\.[0-9a-f]+: HTTP 403/);
  });
});
