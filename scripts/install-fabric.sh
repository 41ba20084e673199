#!/usr/bin/env bash
# Installs the pinned Hyperledger Fabric binaries (peer, orderer, configtxgen, cryptogen,
# osnadmin) and the ccaas external builder (detect/build/release) into a cache outside the
# repository, keyed by the Fabric commit. Second run is a no-op.
#
# Order: MEDPROV_FABRIC_BIN (a folder holding the binaries) -> already on PATH at that version
# -> cached build -> official release tarball (where reachable) -> `go install` through the
# Go module proxy.
#
# Prints the bin directory on its last line (stdout); progress goes to stderr.
set -euo pipefail

FABRIC_VERSION="${FABRIC_VERSION:-3.1.5}"
FABRIC_COMMIT="${FABRIC_COMMIT:-86c1172bec37e6590c6b1ae6f847833df48d65fc}"
CACHE_ROOT="${MEDPROV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/medprov}"
DEST="$CACHE_ROOT/fabric-$FABRIC_COMMIT"
BIN="$DEST/bin"
BUILDER="$DEST/ccaas_builder/bin"
TOOLS=(peer orderer configtxgen cryptogen osnadmin)
BUILDER_TOOLS=(detect build release)

say() { printf '[install-fabric] %s\n' "$*" >&2; }

complete() {
  local t
  for t in "${TOOLS[@]}"; do [ -x "$BIN/$t" ] || return 1; done
  for t in "${BUILDER_TOOLS[@]}"; do [ -x "$BUILDER/$t" ] || return 1; done
}

# 0. A folder of binaries named by the operator (an offline mirror, a shared install).
from_folder() {
  [ -n "${MEDPROV_FABRIC_BIN:-}" ] || return 1
  local t
  mkdir -p "$BIN"
  for t in "${TOOLS[@]}"; do
    [ -x "$MEDPROV_FABRIC_BIN/$t" ] || { say "MEDPROV_FABRIC_BIN has no $t"; return 1; }
    ln -sf "$MEDPROV_FABRIC_BIN/$t" "$BIN/$t"
  done
  say "using Fabric binaries from $MEDPROV_FABRIC_BIN"
}

# 1. Already on PATH at the pinned version: link those into the cache layout so the rest of
#    the project has one place to look. The builder still has to come from somewhere.
from_path() {
  command -v peer >/dev/null 2>&1 || return 1
  local v
  v=$(peer version 2>/dev/null | awk '/^ Version:/{print $2; exit}')
  [ "$v" = "$FABRIC_VERSION" ] || return 1
  local t
  mkdir -p "$BIN"
  for t in "${TOOLS[@]}"; do
    command -v "$t" >/dev/null 2>&1 || return 1
    ln -sf "$(command -v "$t")" "$BIN/$t"
  done
  say "found Fabric $FABRIC_VERSION on PATH"
}

# 3. Official release tarball. Short timeouts: on a closed network this fails fast.
from_release() {
  [ "${MEDPROV_FABRIC_DOWNLOAD:-1}" = "1" ] || return 1
  command -v curl >/dev/null 2>&1 || return 1
  local url="https://github.com/hyperledger/fabric/releases/download/v${FABRIC_VERSION}/hyperledger-fabric-linux-amd64-${FABRIC_VERSION}.tar.gz"
  local tmp
  tmp=$(mktemp -d)
  say "trying the official release tarball (gives up after 5 s without a connection)"
  if ! curl -fsSL --connect-timeout 5 --max-time 120 -o "$tmp/fabric.tgz" "$url" 2>/dev/null; then
    rm -rf "$tmp"; say "release tarball not reachable"; return 1
  fi
  mkdir -p "$DEST"
  tar -xzf "$tmp/fabric.tgz" -C "$DEST" bin || { rm -rf "$tmp"; return 1; }
  rm -rf "$tmp"
  say "release binaries unpacked"
}

# Runs one go install; explains a refusal by the module proxy instead of leaving go's raw text.
go_install() {
  local gobin=$1 target=$2 log
  log=$(mktemp)
  if GOBIN="$gobin" go install "$target" 2>"$log"; then rm -f "$log"; return 0; fi
  if grep -qE '403 Forbidden|not available' "$log"; then
    say "the Go module proxy refuses ${target%@*} at ${FABRIC_COMMIT:0:12} (it answered: $(grep -m1 -oE 'server response: .*|403 Forbidden' "$log"))."
    say "Fabric cannot be built from source on this machine. Provide the v$FABRIC_VERSION binaries another way:"
    say "  put peer, orderer, configtxgen, cryptogen and osnadmin on PATH, or set MEDPROV_FABRIC_BIN=/folder/with/them."
  else
    sed 's/^/    /' "$log" >&2
  fi
  rm -f "$log"
  return 1
}

# 4. go install through the module proxy, pinned by commit (Fabric's tags are not valid
#    Go module versions; the go command turns the commit into a pseudo-version).
from_source() {
  command -v go >/dev/null 2>&1 || { say "no Go toolchain: cannot build Fabric"; return 1; }
  export GOTOOLCHAIN=local
  export GOFLAGS="${GOFLAGS:--buildvcs=false}"
  # Fabric's go.sum pins its dependencies; the checksum database may be out of reach.
  export GONOSUMDB="${GONOSUMDB:-github.com/hyperledger/*}"
  export CGO_ENABLED="${CGO_ENABLED:-0}"
  mkdir -p "$BIN" "$BUILDER"
  local i=0 n=$(( ${#TOOLS[@]} + ${#BUILDER_TOOLS[@]} )) t start
  for t in "${TOOLS[@]}"; do
    i=$((i + 1))
    if [ -x "$BIN/$t" ]; then say "[$i/$n] $t (cached)"; continue; fi
    start=$(date +%s)
    say "[$i/$n] building $t from github.com/hyperledger/fabric@${FABRIC_COMMIT:0:12} ..."
    go_install "$BIN" "github.com/hyperledger/fabric/cmd/$t@$FABRIC_COMMIT" || return 1
    say "[$i/$n] $t built in $(( $(date +%s) - start )) s"
  done
  for t in "${BUILDER_TOOLS[@]}"; do
    i=$((i + 1))
    if [ -x "$BUILDER/$t" ]; then say "[$i/$n] ccaas $t (cached)"; continue; fi
    start=$(date +%s)
    say "[$i/$n] building ccaas builder $t ..."
    go_install "$BUILDER" "github.com/hyperledger/fabric/ccaas_builder/cmd/$t@$FABRIC_COMMIT" || return 1
    say "[$i/$n] ccaas $t built in $(( $(date +%s) - start )) s"
  done
}

if complete; then
  say "Fabric $FABRIC_VERSION already installed in $DEST"
else
  t0=$(date +%s)
  from_folder || from_path || from_release || true
  complete || from_source || true
  if ! complete; then
    say "installation incomplete: Fabric $FABRIC_VERSION is not available (see above)"
    exit 1
  fi
  say "Fabric $FABRIC_VERSION installed in $DEST in $(( $(date +%s) - t0 )) s"
fi
echo "$BIN"
