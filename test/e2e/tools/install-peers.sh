#!/usr/bin/env bash
# Opt-in part of the test bed: the peers `npm run bench:peers` compares
# modelgate with. Not run by install.sh or .ci/run: it compiles Kyverno from
# the Go module proxy, about 9 minutes on 2 shared cores (532 s measured).
#
# Installs into ${MODELGATE_TESTBED_CACHE:-$HOME/.cache/modelgate-testbed}:
#   kyverno-<version>/bin/kyverno   the admission controller (cmd/kyverno)
#   kyverno-<version>/crds/*.yaml   its CRDs, copied from the module
# and writes ${cache}/peers.json for bench/peers.ts. A separate file from
# tools.json (and a separate lock), so install.sh runs by others neither drop
# it nor wait minutes for this build.
set -euo pipefail

KYVERNO_VERSION=v1.19.1

# CACHE and the same Go build settings as install.sh.
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/go-build-env.sh"

die() { echo "install-peers.sh: $*" >&2; exit 1; }
command -v go >/dev/null || { [[ -x /usr/local/go/bin/go ]] && PATH="/usr/local/go/bin:$PATH"; }
command -v go >/dev/null || die "go is not on PATH (kyverno $KYVERNO_VERSION needs Go >= 1.26.6)"

exec 9>"$CACHE/.install-peers.lock"
flock 9

START=$(date +%s)
WORK="$(mktemp -d "${TMPDIR:-/tmp}/modelgate-peers-build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

DIR="$CACHE/kyverno-$KYVERNO_VERSION"
BIN="$DIR/bin/kyverno"
CRDS="$DIR/crds"

# `go install github.com/kyverno/kyverno/cmd/kyverno@v1.19.1` is refused
# because kyverno's go.mod has a replace directive; a scratch module that
# requires kyverno and repeats its replace directives builds the same code.
build_kyverno() {
  local mod="$WORK/kyverno" empty="$WORK/empty" gomod reps
  mkdir -p "$mod" "$empty"
  gomod=$(cd "$empty" && go mod download -json "github.com/kyverno/kyverno@$KYVERNO_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  [[ -f "$gomod" ]] || die "could not download github.com/kyverno/kyverno@$KYVERNO_VERSION"
  # Every `replace X => Y V` line (single-line form; kyverno has one, for
  # k8s.io/pod-security-admission). A local-path replace could not be
  # repeated here: refuse rather than build something else.
  reps=$(awk '$1 == "replace" && $3 == "=>" { print "\t" $2, "=>", $4, $5 }' "$gomod")
  grep -qE '^replace \($' "$gomod" && die "kyverno's go.mod has a replace block; teach install-peers.sh to copy it"
  awk '$1 == "replace" && $3 == "=>" && $4 ~ /^\./ { found = 1 } END { exit !found }' "$gomod" &&
    die "kyverno's go.mod replaces a module with a local path"
  {
    printf 'module modelgate.local/testbed/kyverno\n\ngo 1.26.6\n\n'
    printf 'require github.com/kyverno/kyverno %s\n\nreplace (\n%s\n)\n' "$KYVERNO_VERSION" "$reps"
  } >"$mod/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/kyverno/kyverno/cmd/kyverno"\n' >"$mod/tools.go"
  (cd "$mod" && go mod tidy >&2)
  local ldflags="-s -w -X github.com/kyverno/kyverno/pkg/version.BuildVersion=$KYVERNO_VERSION"
  (cd "$mod" && go build -p 2 -ldflags "$ldflags" -o "$WORK/kyverno-bin" github.com/kyverno/kyverno/cmd/kyverno)
  mkdir -p "$DIR/bin"
  mv -f "$WORK/kyverno-bin" "$BIN.tmp.$$"
  mv -f "$BIN.tmp.$$" "$BIN"
}

# The CRDs the admission controller watches, from the same module zip.
copy_crds() {
  local src
  src=$(cd "$WORK" && go mod download -json "github.com/kyverno/kyverno@$KYVERNO_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -d "$src/config/crds" ]] || die "no config/crds in $src"
  rm -rf "$CRDS.tmp.$$"
  mkdir -p "$CRDS.tmp.$$"
  find "$src/config/crds" -name '*.yaml' -exec cp {} "$CRDS.tmp.$$/" \;
  chmod -R u+w "$CRDS.tmp.$$"
  rm -rf "$CRDS"
  mv "$CRDS.tmp.$$" "$CRDS"
}

json_string() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }

how=cached
if [[ ! -x "$BIN" ]]; then build_kyverno; how=built; fi
if [[ ! -d "$CRDS" ]]; then copy_crds; fi
{
  printf '{\n  "schema": 1,\n  "kyverno": {\n    "version": %s,\n' "$(json_string "$KYVERNO_VERSION")"
  printf '    "path": %s,\n    "crds": %s\n  }\n}\n' "$(json_string "$BIN")" "$(json_string "$CRDS")"
} >"$CACHE/peers.json.tmp.$$"
mv -f "$CACHE/peers.json.tmp.$$" "$CACHE/peers.json"
printf 'kyverno %s %s in %ss: %s\n' "$KYVERNO_VERSION" "$how" "$(($(date +%s) - START))" "$BIN"
