#!/usr/bin/env bash
# Installs the modelgate e2e test bed: every binary the e2e suite runs, at a
# pinned version, into
#   ${MODELGATE_TESTBED_CACHE:-$HOME/.cache/modelgate-testbed}/<tool>-<version>/bin/<tool>
# and writes ${cache}/env.sh (shell exports) and ${cache}/tools.json (the same
# for test/e2e/lib/tools.ts).
#
# Idempotent: a tool whose binary is already in place is skipped, so a warm
# run takes seconds. A cold run compiles kube-apiserver from source (several
# minutes on 2 cores; see test/e2e/README.md for measured times).
#
# Go tools are built from the Go module proxy with CGO_ENABLED=0 and
# -trimpath into a temporary GOBIN/output, then moved into place, so an
# interrupted build never leaves a half-written binary that would count as
# installed. Debian packages (docker-registry, skopeo, apache2-utils, openssl, haproxy)
# come from apt; `apt-get update` runs only when one of them is missing.
set -euo pipefail

# ---- pinned versions ---------------------------------------------------------
KUBERNETES_VERSION=v1.36.3     # kube-apiserver + kubectl (ImageVolume is GA, locked on)
ETCD_VERSION=v3.6.16           # go.etcd.io/etcd/server/v3 (k8s 1.36 vendors etcd client v3.6.8)
COSIGN2_VERSION=v2.6.5         # legacy signatures: tag sha256-<hex>.sig
COSIGN3_VERSION=v3.1.3         # sigstore bundle v0.3 as OCI 1.1 referrer
ORAS_VERSION=v1.3.6
HELM_VERSION=v4.3.2             # helm.sh/helm/v4: the chart's lint, template, install and upgrade
HELM3_VERSION=v3.22.0           # helm.sh/helm/v3: the same chart tests with Helm 3 (the chart supports both)
# RFC 3161 timestamps for private-PKI signatures (cosign --timestamp-server-url); v2.1.4 and
# later need go >= 1.27.
TIMESTAMP_SERVER_VERSION=v2.1.3
# OpenSSF model signing (sigstore/model-transparency) and the ModelPack client, from PyPI
# into one venv. model-signing imports pyOpenSSL without declaring it.
MODEL_SIGNING_VERSION=1.1.1
MODELPACK_CLIENT_VERSION=0.1.0
PYOPENSSL_VERSION=26.4.0
# The referrers registry (tools/referrers-registry, on go-containerregistry)
# and the decoding oracle (tools/oracle, on containers/image and
# distribution/reference) are our own mains; their dependencies are pinned in
# their go.mod files.
# haproxy: the load balancer of the chaos suite (test/chaos).
DEBIAN_PACKAGES=(docker-registry skopeo apache2-utils openssl haproxy)

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# CACHE, CGO_ENABLED, GOFLAGS, GOTOOLCHAIN (shared with install-peers.sh).
source "$HERE/go-build-env.sh"

# One install at a time per cache directory.
exec 9>"$CACHE/.install.lock"
flock 9

TOTAL_START=$(date +%s.%N)
WORK="$(mktemp -d "${TMPDIR:-/tmp}/modelgate-testbed-build.XXXXXX")"
# Built binaries land in $OUT (never in a scratch-module directory).
OUT="$WORK/out"
mkdir -p "$OUT"
trap 'rm -rf "$WORK"' EXIT

declare -A TOOL_PATH=() TOOL_VERSION=()

elapsed() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1fs", e - s }'; }

# report NAME VERSION PATH START HOW
report() { printf '%-19s %-26s %-8s %7s  %s\n' "$1" "$2" "$5" "$(elapsed "$4")" "$3"; }

die() { echo "install.sh: $*" >&2; exit 1; }

# A tool counts as installed when its binary is a regular executable file.
have() { [[ -f "$1" && -x "$1" ]]; }

# Non-login shells (CI) may lack Go's default install dir on PATH.
command -v go >/dev/null || { [[ -x /usr/local/go/bin/go ]] && PATH="/usr/local/go/bin:$PATH"; }
command -v go >/dev/null || die "go is not on PATH (Go >= 1.26 is needed)"
go_minor=$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
[[ "$go_minor" =~ ^[0-9]+$ && "$go_minor" -ge 26 ]] || die "Go >= 1.26 is needed, found $(go env GOVERSION)"

# Moves a freshly built binary into its final place atomically.
place() { # place SRC DEST
  mkdir -p "$(dirname "$2")"
  mv -f "$1" "$2.tmp.$$"
  mv -f "$2.tmp.$$" "$2"
}

# ---- Debian packages -----------------------------------------------------------
install_debian() {
  local start pkg how=present missing=()
  start=$(date +%s.%N)
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if ((${#missing[@]} > 0)); then
    local sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    echo "apt: installing ${missing[*]}" >&2
    "${sudo[@]}" apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    how=apt
  fi
  # Debian does not let us pin exact versions across security updates; the
  # installed version is recorded and names the cache directory instead.
  local name bin deb version link
  for spec in DOCKER_REGISTRY:docker-registry:docker-registry SKOPEO:skopeo:skopeo HTPASSWD:htpasswd:apache2-utils OPENSSL:openssl:openssl HAPROXY:haproxy:haproxy; do
    IFS=: read -r name bin deb <<<"$spec"
    version=$(dpkg-query -W -f='${Version}' "$deb")
    link="$CACHE/$bin-$version/bin/$bin"
    if ! have "$link"; then
      mkdir -p "$(dirname "$link")"
      ln -sfn "$(command -v "$bin")" "$link"
    fi
    TOOL_PATH[$name]="$link"
    TOOL_VERSION[$name]="$version"
    report "$bin" "$version" "$link" "$start" "$how"
  done
}

# ---- kube-apiserver and kubectl ---------------------------------------------------
# `go install k8s.io/kubernetes/cmd/kube-apiserver@v1.x` is refused because
# k8s.io/kubernetes replaces its k8s.io/* staging modules with ./staging
# directories. A scratch module that requires k8s.io/kubernetes and replaces
# each staging module with its published v0.<minor>.<patch> builds the same
# code.
build_kubernetes() {
  local start api ctl
  start=$(date +%s.%N)
  api="$CACHE/kube-apiserver-$KUBERNETES_VERSION/bin/kube-apiserver"
  ctl="$CACHE/kubectl-$KUBERNETES_VERSION/bin/kubectl"
  TOOL_VERSION[KUBE_APISERVER]=$KUBERNETES_VERSION
  TOOL_VERSION[KUBECTL]=$KUBERNETES_VERSION
  if have "$api" && have "$ctl"; then
    TOOL_PATH[KUBE_APISERVER]=$api
    TOOL_PATH[KUBECTL]=$ctl
    report kube-apiserver "$KUBERNETES_VERSION" "$api" "$start" cached
    report kubectl "$KUBERNETES_VERSION" "$ctl" "$start" cached
    return
  fi

  local mod="$WORK/kubernetes" empty="$WORK/empty" gomod staging_version minor patch m reps=""
  mkdir -p "$mod" "$empty"
  gomod=$(cd "$empty" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  [[ -f "$gomod" ]] || die "could not download k8s.io/kubernetes@$KUBERNETES_VERSION"
  minor=$(cut -d. -f2 <<<"$KUBERNETES_VERSION")
  patch=$(cut -d. -f3 <<<"$KUBERNETES_VERSION")
  staging_version="v0.$minor.$patch"
  # Every `k8s.io/x => ./staging/src/k8s.io/x` line of kubernetes' go.mod.
  # A few staging modules (sample-*) are never published at this version;
  # kube-apiserver and kubectl do not import them, so they are left out.
  for m in $(awk '$2 == "=>" && $3 ~ /^\.\/staging\// { print $1 }' "$gomod"); do
    if (cd "$empty" && go list -m -versions "$m" 2>/dev/null) | tr ' ' '\n' | grep -qx "$staging_version"; then
      reps+=$'\t'"$m => $m $staging_version"$'\n'
    else
      echo "kubernetes: $m has no published $staging_version; not replaced (unused by the binaries)" >&2
    fi
  done
  {
    printf 'module modelgate.local/testbed/kubernetes\n\ngo 1.26.0\n\ngodebug default=go1.26\n\n'
    printf 'require k8s.io/kubernetes %s\n\nreplace (\n%s)\n' "$KUBERNETES_VERSION" "$reps"
  } >"$mod/go.mod"
  cat >"$mod/tools.go" <<'EOF'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
EOF
  (cd "$mod" && go mod tidy >&2)

  # What hack/lib/version.sh stamps into official builds, so that /version
  # and `kubectl version` say v1.36.x instead of v0.0.0-master.
  local build_date ldflags="-s -w" pkg
  build_date=$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "${gomod%.mod}.info")
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=${build_date:-1970-01-01T00:00:00Z}"
    # The module zip carries no commit; say so rather than "$Format:%H$".
    ldflags+=" -X $pkg.gitCommit=unknown-from-go-module-proxy"
  done
  (cd "$mod" && go build -p 2 -ldflags "$ldflags" -o "$OUT/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver)
  place "$OUT/kube-apiserver" "$api"
  TOOL_PATH[KUBE_APISERVER]=$api
  report kube-apiserver "$KUBERNETES_VERSION" "$api" "$start" built

  start=$(date +%s.%N)
  if (cd "$mod" && go build -p 2 -ldflags "$ldflags" -o "$OUT/kubectl" k8s.io/kubernetes/cmd/kubectl); then
    place "$OUT/kubectl" "$ctl"
    TOOL_PATH[KUBECTL]=$ctl
    report kubectl "$KUBERNETES_VERSION" "$ctl" "$start" built
  else
    # Fallback: the machine's kubectl (within the supported skew for simple
    # apply/get against a 1.36 apiserver).
    ctl=$(command -v kubectl) || die "kubectl build failed and no kubectl on PATH"
    TOOL_PATH[KUBECTL]=$ctl
    TOOL_VERSION[KUBECTL]="system ($("$ctl" version --client -o json 2>/dev/null | sed -n 's/.*"gitVersion": "\([^"]*\)".*/\1/p' | head -1))"
    report kubectl "${TOOL_VERSION[KUBECTL]}" "$ctl" "$start" fallback
  fi
}

# ---- etcd ----------------------------------------------------------------------------
# go.etcd.io/etcd/server/v3 is the etcd main package, but its go.mod replaces
# sibling modules with ../ paths, so it needs the same scratch-module trick.
build_etcd() {
  local start bin mod="$WORK/etcd" m
  start=$(date +%s.%N)
  bin="$CACHE/etcd-$ETCD_VERSION/bin/etcd"
  TOOL_VERSION[ETCD]=$ETCD_VERSION
  TOOL_PATH[ETCD]=$bin
  if have "$bin"; then report etcd "$ETCD_VERSION" "$bin" "$start" cached; return; fi
  mkdir -p "$mod"
  {
    printf 'module modelgate.local/testbed/etcd\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n\nreplace (\n' "$ETCD_VERSION"
    for m in go.etcd.io/etcd/api/v3 go.etcd.io/etcd/client/pkg/v3 go.etcd.io/etcd/client/v3 go.etcd.io/etcd/pkg/v3; do
      printf '\t%s => %s %s\n' "$m" "$m" "$ETCD_VERSION"
    done
    printf ')\n'
  } >"$mod/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >"$mod/tools.go"
  (cd "$mod" && go mod tidy >&2 && go build -p 2 -ldflags "-s -w" -o "$OUT/etcd" go.etcd.io/etcd/server/v3)
  place "$OUT/etcd" "$bin"
  report etcd "$ETCD_VERSION" "$bin" "$start" built
}

# ---- plain `go install` tools ------------------------------------------------------------
# go_install KEY NAME PACKAGE VERSION [LDFLAGS]
go_install() {
  local key=$1 name=$2 pkg=$3 version=$4 extra_ldflags=${5:-} start bin gobin
  start=$(date +%s.%N)
  bin="$CACHE/$name-$version/bin/${pkg##*/}"
  TOOL_VERSION[$key]=$version
  TOOL_PATH[$key]=$bin
  if have "$bin"; then report "$name" "$version" "$bin" "$start" cached; return; fi
  gobin="$WORK/gobin-$key"
  mkdir -p "$gobin"
  (cd "$WORK" && GOBIN="$gobin" go install -p 2 -ldflags "-s -w $extra_ldflags" "$pkg@$version")
  place "$gobin/${pkg##*/}" "$bin"
  report "$name" "$version" "$bin" "$start" built
}

# ---- Helm 3 -------------------------------------------------------------------------------------
# What Helm 3's Makefile stamps into a release: without it `helm version` says
# "v3.22" and .Capabilities.KubeVersion (template, lint) falls back to v1.20.0
# instead of the Kubernetes minor of the client-go it is built with (Helm 4
# reads both from the build info by itself).
helm3_ldflags() {
  local empty="$WORK/empty-helm3" gomod client_go minor v=helm.sh/helm/v3
  mkdir -p "$empty"
  gomod=$(cd "$empty" && go mod download -json "$v@$HELM3_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  [[ -f "$gomod" ]] || die "could not download $v@$HELM3_VERSION"
  client_go=$(awk '$1 == "k8s.io/client-go" { print $2 }' "$gomod")
  minor=$(cut -d. -f2 <<<"$client_go")
  [[ "$minor" =~ ^[0-9]+$ ]] || die "$v@$HELM3_VERSION: no k8s.io/client-go v0.<minor> in its go.mod"
  printf '%s ' "-X $v/internal/version.version=$HELM3_VERSION" "-X $v/internal/version.gitTreeState=clean" \
    "-X $v/internal/version.gitCommit=unknown-from-go-module-proxy"
  printf '%s ' "-X $v/pkg/lint/rules.k8sVersionMajor=1" "-X $v/pkg/lint/rules.k8sVersionMinor=$minor" \
    "-X $v/pkg/chartutil.k8sVersionMajor=1" "-X $v/pkg/chartutil.k8sVersionMinor=$minor"
}

# ---- our own Go tools: the referrers registry and the decoding oracle ---------------------------
# build_own KEY NAME DIR [BUILD TAGS]: `go build` of a module of ours; the directory
# name carries a hash of its sources, so editing them rebuilds.
build_own() {
  local key=$1 name=$2 src="$HERE/$3" tags=${4:-} start hash version bin
  start=$(date +%s.%N)
  hash=$(cat "$src/go.mod" "$src/go.sum" "$src"/*.go | sha256sum | cut -c1-12)
  version="src-$hash"
  bin="$CACHE/$name-$version/bin/$name"
  TOOL_VERSION[$key]=$version
  TOOL_PATH[$key]=$bin
  if have "$bin"; then report "$name" "$version" "$bin" "$start" cached; return; fi
  (cd "$src" && go build -mod=readonly ${tags:+-tags "$tags"} -ldflags "-s -w" -o "$OUT/$name" .)
  place "$OUT/$name" "$bin"
  report "$name" "$version" "$bin" "$start" built
}

# ---- Python tools: model_signing and modelpack in one venv --------------------------------------
# A venv built under a temporary name and renamed into place, so an interrupted pip leaves nothing
# that counts as installed. MODEL_SIGNING is the venv's CLI, MODEL_SIGNING_PYTHON its interpreter
# (the modelpack Python API).
install_model_signing() {
  local start dir tmp py
  start=$(date +%s.%N)
  dir="$CACHE/model-signing-$MODEL_SIGNING_VERSION"
  TOOL_VERSION[MODEL_SIGNING]=$MODEL_SIGNING_VERSION
  TOOL_VERSION[MODEL_SIGNING_PYTHON]="modelpack-client $MODELPACK_CLIENT_VERSION"
  TOOL_PATH[MODEL_SIGNING]="$dir/bin/model_signing"
  TOOL_PATH[MODEL_SIGNING_PYTHON]="$dir/bin/python"
  if have "$dir/bin/model_signing" && have "$dir/bin/python"; then report model_signing "$MODEL_SIGNING_VERSION" "$dir" "$start" cached; return; fi
  py=$(command -v python3) || die "python3 (>= 3.10) is needed for model_signing"
  tmp="$dir.tmp.$$"
  rm -rf "$tmp"
  "$py" -m venv "$tmp"
  "$tmp/bin/pip" install -q --disable-pip-version-check "model-signing==$MODEL_SIGNING_VERSION" "pyOpenSSL==$PYOPENSSL_VERSION" "modelpack-client==$MODELPACK_CLIENT_VERSION" >&2
  rm -rf "$dir"
  mv "$tmp" "$dir"
  # A venv records its own path in its scripts: rewrite the temporary one.
  grep -rlF "$tmp" "$dir/bin" | xargs -r sed -i "s|$tmp|$dir|g"
  report model_signing "$MODEL_SIGNING_VERSION" "$dir" "$start" pip
}

# ---- outputs -----------------------------------------------------------------------------------
json_string() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }

write_outputs() {
  local keys=(KUBE_APISERVER ETCD KUBECTL COSIGN2 COSIGN3 ORAS HELM HELM3 REFERRERS_REGISTRY ORACLE TUF_REPO DOCKER_REGISTRY SKOPEO HTPASSWD OPENSSL TIMESTAMP_SERVER MODEL_SIGNING MODEL_SIGNING_PYTHON HAPROXY)
  local k sep env_tmp="$CACHE/env.sh.tmp.$$" json_tmp="$CACHE/tools.json.tmp.$$"
  {
    echo "# Written by test/e2e/tools/install.sh: source it to get the test-bed tools."
    printf 'export MODELGATE_TESTBED_CACHE=%q\n' "$CACHE"
    for k in "${keys[@]}"; do printf 'export %s=%q\n' "$k" "${TOOL_PATH[$k]}"; done
    for k in "${keys[@]}"; do printf 'export %s_VERSION=%q\n' "$k" "${TOOL_VERSION[$k]}"; done
  } >"$env_tmp"
  {
    printf '{\n  "schema": 1,\n  "cache": %s,\n  "paths": {\n' "$(json_string "$CACHE")"
    sep=""
    for k in "${keys[@]}"; do printf '%s    "%s": %s' "$sep" "$k" "$(json_string "${TOOL_PATH[$k]}")"; sep=$',\n'; done
    printf '\n  },\n  "versions": {\n'
    sep=""
    for k in "${keys[@]}"; do printf '%s    "%s": %s' "$sep" "$k" "$(json_string "${TOOL_VERSION[$k]}")"; sep=$',\n'; done
    printf '\n  }\n}\n'
  } >"$json_tmp"
  mv -f "$env_tmp" "$CACHE/env.sh"
  mv -f "$json_tmp" "$CACHE/tools.json"
}

echo "modelgate test bed -> $CACHE"
install_debian
build_kubernetes
build_etcd
go_install COSIGN2 cosign github.com/sigstore/cosign/v2/cmd/cosign "$COSIGN2_VERSION"
go_install COSIGN3 cosign github.com/sigstore/cosign/v3/cmd/cosign "$COSIGN3_VERSION"
go_install ORAS oras oras.land/oras/cmd/oras "$ORAS_VERSION"
go_install HELM helm helm.sh/helm/v4/cmd/helm "$HELM_VERSION"
# Both binaries are named helm; their cache directories differ by version.
helm3_flags=""
have "$CACHE/helm-$HELM3_VERSION/bin/helm" || helm3_flags=$(helm3_ldflags)
go_install HELM3 helm helm.sh/helm/v3/cmd/helm "$HELM3_VERSION" "$helm3_flags"
go_install TIMESTAMP_SERVER timestamp-server github.com/sigstore/timestamp-authority/v2/cmd/timestamp-server "$TIMESTAMP_SERVER_VERSION"
build_own REFERRERS_REGISTRY referrers-registry referrers-registry
# A TUF repository (go-tuf v2) that publishes and rotates a Sigstore trusted_root.json.
build_own TUF_REPO tuf-repo tuf-repo
# containers/image without its C dependencies (gpgme, btrfs): only its manifest package is used.
build_own ORACLE oracle oracle containers_image_openpgp,exclude_graphdriver_btrfs
install_model_signing
write_outputs
echo "wrote $CACHE/env.sh and $CACHE/tools.json in $(elapsed "$TOTAL_START") total"
