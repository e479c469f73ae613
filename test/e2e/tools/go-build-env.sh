# Sourced by install.sh and install-peers.sh: the test-bed cache directory
# (absolute, created) in CACHE, and the Go settings every build of the test bed
# uses: static binaries, reproducible paths, and never another Go toolchain
# downloaded behind our back.
CACHE="${MODELGATE_TESTBED_CACHE:-$HOME/.cache/modelgate-testbed}"
mkdir -p "$CACHE"
CACHE="$(cd "$CACHE" && pwd)"

export CGO_ENABLED=0
export GOFLAGS="-trimpath -buildvcs=false"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
