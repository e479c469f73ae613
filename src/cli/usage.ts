/** Command-line usage errors end with exit code 2 and a hint. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const EXIT_OK = 0;
export const EXIT_DENIED = 1;
export const EXIT_USAGE = 2;

export const HELP = `modelgate: admission control for AI models mounted as OCI image volumes

Usage:
  modelgate serve [--port N] [--host ADDR] [--tls-cert FILE] [--tls-key FILE] [--policy PATH]... [--config FILE]
  modelgate check -f FILE|- [-f FILE]... [--policy PATH]... [--config FILE] [-o table|json]
  modelgate help

Options (each also read from the environment):
  --port N          MODELGATE_PORT       HTTPS port (default 8443)
  --host ADDR       MODELGATE_HOST       listen address (default: all)
  --tls-cert FILE   MODELGATE_TLS_CERT   serving certificate (default certs/tls.crt)
  --tls-key FILE    MODELGATE_TLS_KEY    serving key (default certs/tls.key)
  --policy PATH     MODELGATE_POLICY     ModelPolicy file or directory; repeatable (env: comma-separated);
                                         default: the bundled policy, which requires digest pinning
  --config FILE     MODELGATE_CONFIG     Config document (defaultAction, registries)

check exits 0 when every object is allowed, 1 when any is denied, 2 on usage or policy errors.
`;
