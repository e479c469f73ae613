#!/usr/bin/env bash
# The README's test command (npm test), run with Node 24 first on PATH
# (scripts/with-node24.cjs): the Debian programs the tests run for real
# (docker-registry, htpasswd, skopeo, openssl) are installed when missing, then
# the build, the type check, the formatter and linter (Biome), the unit tests
# and the integration tests (test/integration: real registries, npm run test:integration).
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A PACKAGE_OF=([docker-registry]=docker-registry [htpasswd]=apache2-utils [skopeo]=skopeo [openssl]=openssl)
missing=()
for program in "${!PACKAGE_OF[@]}"; do
  command -v "$program" >/dev/null || missing+=("${PACKAGE_OF[$program]}")
done
if ((${#missing[@]} > 0)); then
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    if sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      echo "modelgate: the tests run ${missing[*]} (Debian packages); install them: sudo apt-get install -y ${missing[*]}" >&2
      exit 1
    fi
  fi
  command -v apt-get >/dev/null || { echo "modelgate: the tests run ${missing[*]}; install them with your package manager (Debian: apt-get install ${missing[*]})" >&2; exit 1; }
  echo "modelgate: installing ${missing[*]} for the tests (Debian packages)" >&2
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

npm run build
npm run typecheck
npm run lint
node --test --test-reporter=spec 'test/unit/**/*.test.ts'
node --test --test-reporter=spec 'test/integration/**/*.test.ts'
