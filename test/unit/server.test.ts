import assert from 'node:assert/strict';
import { copyFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { policySetFromTexts } from '../../src/policy/load.ts';
import { PINNED, UNPINNED, admissionReview, kubeObject } from '../support/objects.ts';
import type { Json } from '../support/objects.ts';
import { makeCerts, startTestServer } from '../support/webhook-server.ts';
import type { TestServer } from '../support/webhook-server.ts';

const policies = policySetFromTexts([
  {
    source: 'p.yaml',
    text: `apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata: {name: pinned-models}
spec: {match: {namespaces: ["team-*"]}}
---
apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata: {name: lab}
spec: {mode: warn, match: {namespaces: ["lab"]}}
---
apiVersion: modelgate.dev/v1alpha1
kind: Config
spec: {defaultAction: allow}
`,
  },
]);

const json = (value: unknown): string => JSON.stringify(value);
const responseOf = (body: Record<string, unknown>): Json => body['response'] as Json;

describe('HTTPS admission server', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer(policies);
  });
  after(async () => server.close());

  it('allows a pinned model and echoes the uid in an AdmissionReview', async () => {
    const review = admissionReview(kubeObject('Pod', [{ name: 'model', reference: PINNED }]));
    const { status, json: body } = await server.post(json(review));
    assert.equal(status, 200);
    assert.deepEqual(body, {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: (review['request'] as Json)['uid'], allowed: true },
    });
  });

  it('denies an unpinned model in a Deployment with 403 and a message naming object, volume, reference, rule and fix', async () => {
    const review = admissionReview(kubeObject('Deployment', [{ name: 'model', reference: UNPINNED }]));
    const { status, json: body } = await server.post(json(review));
    assert.equal(status, 200);
    const response = responseOf(body);
    assert.equal(response['uid'], (review['request'] as Json)['uid']);
    assert.equal(response['allowed'], false);
    const reviewStatus = response['status'] as Json;
    assert.equal(reviewStatus['code'], 403);
    const message = String(reviewStatus['message']);
    for (const part of [
      'Deployment team-a/llm',
      'volume "model"',
      'spec.template.spec.volumes[1].image.reference',
      UNPINNED,
      'rule requireDigest',
      'Fix: pin it by digest',
    ]) {
      assert.ok(message.includes(part), `${part} missing from ${message}`);
    }
  });

  it('puts warn-mode findings in response.warnings', async () => {
    const review = admissionReview(kubeObject('Pod', [{ name: 'model', reference: UNPINNED }], { namespace: 'lab' }));
    const response = responseOf((await server.post(json(review))).json);
    assert.equal(response['allowed'], true);
    const warnings = response['warnings'] as string[];
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /^modelgate: lab\/requireDigest: volume "model": pinned only by tag/);
  });

  it('logs one JSON line per review with uid, kind, namespace/name, operation, dryRun, decision, reasons, duration', async () => {
    const review = admissionReview(kubeObject('Pod', [{ name: 'model', reference: UNPINNED }]), { dryRun: true });
    const uid = (review['request'] as Json)['uid'];
    await server.post(json(review));
    const lines = server.logs.filter((line) => line['uid'] === uid);
    assert.equal(lines.length, 1);
    const [line] = lines;
    assert.equal(line?.['msg'], 'review');
    assert.equal(line?.['kind'], 'Pod');
    assert.equal(line?.['namespace'], 'team-a');
    assert.equal(line?.['name'], 'llm');
    assert.equal(line?.['operation'], 'CREATE');
    assert.equal(line?.['dryRun'], true);
    assert.equal(line?.['decision'], 'deny');
    assert.deepEqual(line?.['reasons'], ['spec.volumes[1].image.reference: pinned-models/requireDigest']);
    assert.equal(typeof line?.['durationMs'], 'number');
    assert.equal(line?.['revision'], policies.revision);
  });

  it('serves /healthz and /readyz outside the admission path', async () => {
    const health = await request(`${server.url}/healthz`, { dispatcher: server.agent });
    assert.equal(health.statusCode, 200);
    assert.equal(await health.body.text(), 'ok');
    const ready = await request(`${server.url}/readyz`, { dispatcher: server.agent });
    assert.equal(ready.statusCode, 200);
    assert.match(await ready.body.text(), new RegExp(policies.revision));
  });

  describe('bad input never crashes the server and never yields a 500', () => {
    const valid = (): string => json(admissionReview(kubeObject('Pod', [{ name: 'model', reference: PINNED }])));
    const deepArray = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    const cases: [string, string | Buffer, Record<string, string>, number, RegExp][] = [
      ['a body that is not JSON', '{"apiVersion": "admission.k8s.io/v1", ', { 'content-type': 'application/json' }, 400, /not valid JSON/],
      ['an empty body', '', { 'content-type': 'application/json' }, 400, /body is empty/],
      ['a JSON scalar', '"hello"', { 'content-type': 'application/json' }, 400, /must be a JSON object holding an AdmissionReview/],
      ['a wrong content type', valid(), { 'content-type': 'text/plain' }, 415, /Content-Type: application\/json/],
      ['no content type', valid(), {}, 415, /Content-Type/],
      ['a body over the size limit', Buffer.alloc(9 * 1024 * 1024, 0x20), { 'content-type': 'application/json' }, 413, /larger than the limit/],
      [
        'a missing request',
        json({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }),
        { 'content-type': 'application/json' },
        400,
        /no request object/,
      ],
      [
        'a missing uid',
        json({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE' } }),
        { 'content-type': 'application/json' },
        400,
        /request\.uid/,
      ],
      [
        'a v1beta1 review',
        json({ ...admissionReview(null), apiVersion: 'admission.k8s.io/v1beta1' }),
        { 'content-type': 'application/json' },
        400,
        /apiVersion must be admission\.k8s\.io\/v1/,
      ],
      [
        'a wrong kind',
        json({ ...admissionReview(null), kind: 'SubjectAccessReview' }),
        { 'content-type': 'application/json' },
        400,
        /kind must be AdmissionReview/,
      ],
      ['a deeply nested array', deepArray, { 'content-type': 'application/json' }, 400, /./],
      ['a wrong charset', valid(), { 'content-type': 'application/json; charset=latin9' }, 415, /UTF-8/],
      ['a compressed body', valid(), { 'content-type': 'application/json', 'content-encoding': 'gzip' }, 415, /must not be compressed/],
      ['JSON of another type', valid(), { 'content-type': 'application/merge-patch+json' }, 415, /Content-Type: application\/json/],
      ['a JSON array', '[]', { 'content-type': 'application/json' }, 400, /must be a JSON object holding an AdmissionReview/],
    ];
    for (const [name, body, headers, status, message] of cases) {
      it(`${name} → ${status}, then still serving`, async () => {
        const result = await server.post(body, headers);
        assert.equal(result.status, status);
        assert.match(String(result.json['error']), message);
        const next = await server.post(valid());
        assert.equal(next.status, 200);
        assert.equal(responseOf(next.json)['allowed'], true);
      });
    }

    it('a declared length over the limit → 413 at once, without waiting for the body, and the connection is closed', async () => {
      const { status, text, connection } = await new Promise<{ status: number; text: string; connection: string | undefined }>((resolve, reject) => {
        const req = httpsRequest(
          `${server.url}/validate`,
          {
            method: 'POST',
            ca: server.certs.ca,
            servername: 'localhost',
            headers: { 'content-type': 'application/json', 'content-length': String(9 * 1024 * 1024) },
          },
          (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => (body += chunk));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text: body, connection: res.headers['connection'] }));
          },
        );
        req.on('error', reject);
        req.write('{"apiVersion":'); // and never the rest
      });
      assert.equal(status, 413);
      assert.match(text, /larger than the limit of 8388608 bytes/);
      assert.equal(connection, 'close');
      const next = await server.post(valid());
      assert.equal(next.status, 200);
    });

    it('a client that goes away mid-body gets no answer and costs nothing', async () => {
      const socketClosed = new Promise<void>((resolve) => {
        const req = httpsRequest(`${server.url}/validate`, {
          method: 'POST',
          ca: server.certs.ca,
          servername: 'localhost',
          headers: { 'content-type': 'application/json', 'content-length': '1000' },
        });
        req.on('error', () => resolve());
        req.write('{"apiVersion":', () => setTimeout(() => req.destroy(), 20));
        req.on('close', () => resolve());
      });
      await socketClosed;
      const next = await server.post(valid());
      assert.equal(next.status, 200);
      assert.equal(responseOf(next.json)['allowed'], true);
    });

    it('object: null is allowed', async () => {
      const review = admissionReview(null, { operation: 'CREATE' });
      const response = responseOf((await server.post(json(review))).json);
      assert.equal(response['allowed'], true);
    });

    it('a deeply nested object inside a valid review is allowed quickly', async () => {
      // Built as text: JSON.stringify itself cannot go this deep.
      const deep = `${'{"a":'.repeat(10_000)}"x"${'}'.repeat(10_000)}`;
      const review = json(
        admissionReview({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'team-a' }, spec: { containers: [], deep: 'DEEP' } }),
      );
      const response = responseOf((await server.post(review.replace('"DEEP"', deep))).json);
      assert.equal(response['allowed'], true);
    });

    it('a review gets the same answer on the short path (/validate, /validate?timeout=10s) as through express (/validate/, /Validate); GET /validate → 404', async () => {
      const review = admissionReview(kubeObject('Deployment', [{ name: 'model', reference: UNPINNED }]));
      const answers = [];
      for (const path of ['/validate', '/validate?timeout=10s', '/validate/', '/Validate']) {
        const response = await request(`${server.url}${path}`, {
          method: 'POST',
          body: json(review),
          headers: { 'content-type': 'application/json' },
          dispatcher: server.agent,
        });
        assert.equal(response.statusCode, 200, path);
        assert.equal(response.headers['content-type'], 'application/json; charset=utf-8', path);
        answers.push(await response.body.json());
      }
      assert.equal(responseOf(answers[0] as Record<string, unknown>)['allowed'], false);
      for (const answer of answers.slice(1)) assert.deepEqual(answer, answers[0]);
      const get = await request(`${server.url}/validate`, { dispatcher: server.agent });
      assert.equal(get.statusCode, 404);
      assert.match(await get.body.text(), /POST AdmissionReviews to \/validate/);
    });

    it('an unknown path → 404 with a hint', async () => {
      const response = await request(`${server.url}/mutate`, {
        method: 'POST',
        body: '{}',
        headers: { 'content-type': 'application/json' },
        dispatcher: server.agent,
      });
      assert.equal(response.statusCode, 404);
      assert.match(await response.body.text(), /POST AdmissionReviews to \/validate/);
    });
  });
});

describe('before a policy is loaded', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer(undefined);
  });
  after(async () => server.close());

  it('/readyz fails and reviews are refused with a reason (fail closed)', async () => {
    const ready = await request(`${server.url}/readyz`, { dispatcher: server.agent });
    assert.equal(ready.statusCode, 503);
    await ready.body.text();
    const response = responseOf((await server.post(json(admissionReview(kubeObject('Pod', [{ name: 'm', reference: PINNED }]))))).json);
    assert.equal(response['allowed'], false);
    assert.match(String((response['status'] as Json)['message']), /no policy loaded/);
  });
});

describe('TLS key pair rotation', () => {
  it('serves the new certificate after the files change, with no failed request during the change', async () => {
    const server = await startTestServer(policies, { tlsPollMs: 200 });
    const trusted = [server.certs.ca];
    const body = json(admissionReview(kubeObject('Pod', [{ name: 'm', reference: PINNED }])));
    let failures = 0;
    let answered = 0;
    let rotated = false;
    // A fresh connection per request, trusting both CAs, keeps handshaking through the rotation.
    const loop = (async () => {
      while (!rotated || answered < 50) {
        const agent = new Agent({ connect: { ca: [...trusted], servername: 'localhost' } });
        try {
          const response = await request(`${server.url}/validate`, {
            method: 'POST',
            body,
            headers: { 'content-type': 'application/json' },
            dispatcher: agent,
          });
          const parsed = JSON.parse(await response.body.text()) as Record<string, unknown>;
          if (response.statusCode !== 200 || responseOf(parsed)['allowed'] !== true) failures++;
        } catch {
          failures++;
        } finally {
          answered++;
          await agent.close();
        }
      }
    })();
    // As cert-manager would: a new pair appears; the certificate file is replaced before the key.
    const newCerts = await makeCerts();
    assert.notEqual(newCerts.ca, trusted[0]);
    trusted.push(newCerts.ca);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await copyFile(`${newCerts.dir}/tls.crt`, `${server.certs.dir}/tls.crt`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await copyFile(`${newCerts.dir}/tls.key`, `${server.certs.dir}/tls.key`);
    const newOnly = new Agent({ connect: { ca: newCerts.ca, servername: 'localhost' } });
    const deadline = Date.now() + 20_000;
    let served = false;
    while (!served && Date.now() < deadline) {
      try {
        const response = await request(`${server.url}/healthz`, { dispatcher: newOnly });
        served = response.statusCode === 200;
        await response.body.text();
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    rotated = true;
    await loop;
    await newOnly.close();
    await server.close();
    assert.ok(served, 'the new certificate was not served within 20 s');
    assert.equal(failures, 0, `${failures} of ${answered} requests failed during the rotation`);
    assert.ok(server.logs.some((line) => line['msg'] === 'TLS key pair reloaded'));
  });

  it('keeps serving the old pair when the new files do not match', async () => {
    const server = await startTestServer(policies, { tlsPollMs: 200 });
    const { writeFile, readFile } = await import('node:fs/promises');
    const other = await makeCerts();
    // A key from another pair: the certificate and key disagree.
    await writeFile(`${server.certs.dir}/tls.key`, await readFile(`${other.dir}/tls.key`));
    const deadline = Date.now() + 10_000;
    while (!server.logs.some((line) => line['msg'] === 'TLS key pair not reloaded; still serving the previous one') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const response = await request(`${server.url}/healthz`, { dispatcher: new Agent({ connect: { ca: server.certs.ca, servername: 'localhost' } }) });
    assert.equal(response.statusCode, 200);
    await response.body.text();
    await server.close();
    assert.ok(server.logs.some((line) => line['msg'] === 'TLS key pair not reloaded; still serving the previous one'));
  });
});
