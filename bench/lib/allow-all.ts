/** The baseline: an express HTTPS handler that parses the AdmissionReview and allows everything. */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { join } from 'node:path';
import express from 'express';

const [port, certDir] = process.argv.slice(2) as [string, string];
const app = express();
app.get('/healthz', (_req, res) => {
  res.send('ok');
});
app.post('/validate', express.json({ limit: 8 * 1024 * 1024 }), (req, res) => {
  const body = req.body as { request?: { uid?: string } };
  res.json({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: body.request?.uid ?? '', allowed: true } });
});
const server = createServer({ cert: readFileSync(join(certDir, 'tls.crt')), key: readFileSync(join(certDir, 'tls.key')) }, app);
server.keepAliveTimeout = 65_000;
server.listen(Number(port), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
