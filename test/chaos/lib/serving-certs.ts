// The webhook's serving pair laid out as the kubelet mounts a Secret that
// cert-manager renews: `tls.crt` and `tls.key` are symlinks into `..data`,
// itself a symlink to a timestamped directory; a renewal writes a new
// directory and swaps `..data` atomically. The pairs are reissued by one CA,
// so the webhook's caBundle never changes (as with a cert-manager Issuer).

import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelgateCerts } from '../../e2e/lib/modelgate.ts';
import { createCA, issueLoopbackServerCert } from '../../support/pki.ts';
import type { CertificateAuthority, KeyPairFiles } from '../../support/pki.ts';
import { scratchDir } from '../../e2e/lib/workdir.ts';

export interface ServingCerts {
  readonly certs: ModelgateCerts;
  /** A new pair from the same CA, not yet in use. */
  issue(): Promise<KeyPairFiles>;
  /** cert-manager and the kubelet: a new directory, then `..data` swapped with one rename. */
  swapAtomically(pair: KeyPairFiles): void;
  /** An operator's in-place rewrite of the files `..data` points at: certificate first, key `gapMs` later. */
  rewriteInPlace(pair: KeyPairFiles, gapMs: number): Promise<void>;
}

export async function makeServingCerts(): Promise<ServingCerts> {
  const root = scratchDir('chaos-certs');
  const mount = join(root, 'mount');
  const issued = join(root, 'issued');
  mkdirSync(mount);
  const ca: CertificateAuthority = await createCA(join(root, 'ca'), 'modelgate-chaos-ca');
  let pairs = 0;
  const issue = (): Promise<KeyPairFiles> => issueLoopbackServerCert(ca, issued, `serving-${++pairs}`);
  let generation = 0;
  const writeGeneration = (pair: KeyPairFiles): string => {
    const name = `..gen_${++generation}`;
    mkdirSync(join(mount, name));
    copyFileSync(pair.certFile, join(mount, name, 'tls.crt'));
    copyFileSync(pair.keyFile, join(mount, name, 'tls.key'));
    return name;
  };
  let current = writeGeneration(await issue());
  symlinkSync(current, join(mount, '..data'));
  symlinkSync(join('..data', 'tls.crt'), join(mount, 'tls.crt'));
  symlinkSync(join('..data', 'tls.key'), join(mount, 'tls.key'));
  return {
    certs: { dir: mount, caFile: ca.certFile, caPem: readFileSync(ca.certFile, 'utf8'), certFile: join(mount, 'tls.crt'), keyFile: join(mount, 'tls.key') },
    issue,
    swapAtomically(pair) {
      const previous = current;
      current = writeGeneration(pair);
      symlinkSync(current, join(mount, '..data_tmp'));
      renameSync(join(mount, '..data_tmp'), join(mount, '..data'));
      rmSync(join(mount, previous), { recursive: true, force: true });
    },
    async rewriteInPlace(pair, gapMs) {
      writeFileSync(join(mount, current, 'tls.crt'), readFileSync(pair.certFile));
      await new Promise((resolve) => setTimeout(resolve, gapMs));
      writeFileSync(join(mount, current, 'tls.key'), readFileSync(pair.keyFile));
    },
  };
}
