#!/usr/bin/env bash
# Installs the pinned Hyperledger Fabric release (peer, orderer, configtxgen, cryptogen,
# osnadmin, …), the chaincode-as-a-service external builder and Fabric's sample config into a
# cache outside the repository, keyed by version and commit. Also Fabric CA when its tarball is
# in the mirror. A second run is a no-op.
#
# Routes, first that works wins:
#   1. already in the cache
#   2. MEDPROV_FABRIC_BIN      a release's bin/ folder (its ../builders and ../config beside it)
#   3. peer on PATH at the pinned version (same layout around it)
#   4. a release tarball: MEDPROV_FABRIC_TARBALL, or the one in the mirror folder
#      MEDPROV_FABRIC_MIRROR (default ../shared/fabric), checked against its SHA256SUMS
#   5. the official release download (machines on the internet)
#   6. a build from a Fabric source checkout at the tag: MEDPROV_FABRIC_SRC (go build -mod=vendor)
#
# Prints the cache folder (holding bin/, builders/ccaas/bin/, config/) on its last line (stdout);
# progress goes to stderr.
set -euo pipefail

FABRIC_VERSION="${FABRIC_VERSION:-3.1.5}"
FABRIC_COMMIT="${FABRIC_COMMIT:-86c1172bec37e6590c6b1ae6f847833df48d65fc}"
FABRIC_CA_VERSION="${FABRIC_CA_VERSION:-1.5.21}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
CACHE_ROOT="${MEDPROV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/medprov}"
DEST="$CACHE_ROOT/fabric-$FABRIC_VERSION-${FABRIC_COMMIT:0:7}"
MIRROR="${MEDPROV_FABRIC_MIRROR:-$HERE/../shared/fabric}"
TOOLS=(peer orderer configtxgen configtxlator cryptogen osnadmin discover ledgerutil)
BUILDER_TOOLS=(detect build release)
CONFIGS=(core.yaml orderer.yaml configtx.yaml)

say() { printf '[install-fabric] %s\n' "$*" >&2; }

complete() {
  local dir=$1 t
  for t in "${TOOLS[@]}"; do [ -x "$dir/bin/$t" ] || return 1; done
  for t in "${BUILDER_TOOLS[@]}"; do [ -x "$dir/builders/ccaas/bin/$t" ] || return 1; done
  for t in "${CONFIGS[@]}"; do [ -f "$dir/config/$t" ] || return 1; done
}

# The cache is filled in a scratch folder and renamed into place, so an interrupted install
# never leaves a half-filled cache that a later run would take as complete.
STAGE=""
cleanup() { [ -z "$STAGE" ] || rm -rf "$STAGE"; }
trap cleanup EXIT
new_stage() { mkdir -p "$CACHE_ROOT"; cleanup; STAGE=$(mktemp -d "$CACHE_ROOT/.fabric-install.XXXXXX"); }

publish() {
  complete "$STAGE" || { say "$1 lacks part of the release (bin/, builders/ccaas/bin/ or config/)"; return 1; }
  local v
  v=$("$STAGE/bin/peer" version 2>/dev/null | awk '/^ Version:/{print $2; exit}')
  [ "$v" = "$FABRIC_VERSION" ] || { say "$1 holds Fabric ${v:-of unknown version}, not $FABRIC_VERSION"; return 1; }
  rm -rf "$DEST"
  mv "$STAGE" "$DEST"
  STAGE=""
  say "Fabric $FABRIC_VERSION from $1"
}

# A release laid out on disk: <root>/bin, <root>/builders/ccaas/bin, <root>/config.
copy_release() {
  local root=$1 what=$2
  [ -x "$root/bin/peer" ] || return 1
  new_stage
  mkdir -p "$STAGE/bin" "$STAGE/builders/ccaas/bin" "$STAGE/config"
  cp -p "$root"/bin/* "$STAGE/bin/" 2>/dev/null || true
  cp -p "$root"/builders/ccaas/bin/* "$STAGE/builders/ccaas/bin/" 2>/dev/null || true
  cp -p "$root"/config/* "$STAGE/config/" 2>/dev/null || true
  publish "$what"
}

from_folder() {
  [ -n "${MEDPROV_FABRIC_BIN:-}" ] || return 1
  copy_release "$(cd "$MEDPROV_FABRIC_BIN/.." && pwd)" "MEDPROV_FABRIC_BIN=$MEDPROV_FABRIC_BIN"
}

from_path() {
  local peer
  peer=$(command -v peer 2>/dev/null) || return 1
  [ "$(peer version 2>/dev/null | awk '/^ Version:/{print $2; exit}')" = "$FABRIC_VERSION" ] || return 1
  copy_release "$(cd "$(dirname "$(readlink -f "$peer")")/.." && pwd)" "PATH ($peer)"
}

need_xz() {
  command -v xz >/dev/null 2>&1 && return 0
  say "xz is missing; installing Debian's xz-utils"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xz-utils >&2 || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xz-utils >&2; }
  fi
  command -v xz >/dev/null 2>&1 || { say "cannot unpack .tar.xz without xz (install xz-utils)"; return 1; }
}

# Checks a tarball against the SHA256SUMS beside it. A tarball the list names must match; a
# tarball with no list is accepted with a warning (an operator's own copy).
check_sum() {
  local file=$1 sums
  sums="$(dirname "$file")/SHA256SUMS"
  if [ ! -f "$sums" ]; then say "no SHA256SUMS beside $file: not checked"; return 0; fi
  local want
  want=$(awk -v n="$(basename "$file")" '$2 == n || $2 == "*"n {print $1; exit}' "$sums")
  if [ -z "$want" ]; then say "$sums does not list $(basename "$file"): not checked"; return 0; fi
  local got
  got=$(sha256sum "$file" | awk '{print $1}')
  if [ "$got" != "$want" ]; then
    say "CHECKSUM MISMATCH for $file: expected $want, got $got. Refusing it."
    return 1
  fi
  say "checksum ok: $(basename "$file")"
}

unpack_into() {
  local file=$1 dir=$2
  case "$file" in
    *.tar.xz) need_xz && tar -xJf "$file" -C "$dir" ;;
    *.tar.gz | *.tgz) tar -xzf "$file" -C "$dir" ;;
    *) say "unknown archive type: $file"; return 1 ;;
  esac
}

from_tarball_file() {
  local file=$1
  [ -f "$file" ] || return 1
  check_sum "$file" || return 1
  say "unpacking $(basename "$file") ($(du -h "$file" | cut -f1))"
  new_stage
  unpack_into "$file" "$STAGE" || { say "could not unpack $file"; return 1; }
  publish "$file"
}

from_tarball() {
  if [ -n "${MEDPROV_FABRIC_TARBALL:-}" ]; then
    from_tarball_file "$MEDPROV_FABRIC_TARBALL" && return 0
    say "MEDPROV_FABRIC_TARBALL=$MEDPROV_FABRIC_TARBALL could not be used"
  fi
  local ext
  for ext in tar.xz tar.gz; do
    from_tarball_file "$MIRROR/hyperledger-fabric-linux-amd64-$FABRIC_VERSION.$ext" && return 0
  done
  return 1
}

from_release() {
  [ "${MEDPROV_FABRIC_DOWNLOAD:-1}" = "1" ] || return 1
  command -v curl >/dev/null 2>&1 || return 1
  local url="https://github.com/hyperledger/fabric/releases/download/v${FABRIC_VERSION}/hyperledger-fabric-linux-amd64-${FABRIC_VERSION}.tar.gz"
  local tmp
  tmp=$(mktemp -d)
  say "trying the official release download (gives up after 5 s without a connection)"
  if ! curl -fsSL --connect-timeout 5 --max-time 300 -o "$tmp/fabric.tar.gz" "$url" 2>/dev/null; then
    rm -rf "$tmp"; say "the official release download is not reachable"; return 1
  fi
  new_stage
  tar -xzf "$tmp/fabric.tar.gz" -C "$STAGE" || { rm -rf "$tmp"; return 1; }
  rm -rf "$tmp"
  publish "$url"
}

from_source() {
  local src="${MEDPROV_FABRIC_SRC:-}"
  [ -n "$src" ] || return 1
  [ -d "$src/vendor" ] || { say "MEDPROV_FABRIC_SRC=$src has no vendor/ folder (a checkout of the v$FABRIC_VERSION tag has one)"; return 1; }
  command -v go >/dev/null 2>&1 || { say "no Go toolchain: cannot build Fabric from $src"; return 1; }
  new_stage
  local t0 ldflags
  t0=$(date +%s)
  ldflags="-s -w -X github.com/hyperledger/fabric/common/metadata.Version=$FABRIC_VERSION -X github.com/hyperledger/fabric/common/metadata.CommitSHA=${FABRIC_COMMIT:0:7}"
  say "building Fabric from $src (about 70 s on 2 cores) ..."
  (cd "$src" && GOTOOLCHAIN=local GOFLAGS=-mod=vendor CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$STAGE/bin/" \
    ./cmd/peer ./cmd/orderer ./cmd/configtxgen ./cmd/configtxlator ./cmd/cryptogen ./cmd/osnadmin ./cmd/discover ./cmd/ledgerutil) >&2 || return 1
  say "building the ccaas builder ..."
  (cd "$src/ccaas_builder" && GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$STAGE/builders/ccaas/bin/" ./cmd/detect ./cmd/build ./cmd/release) >&2 || return 1
  mkdir -p "$STAGE/config"
  cp "$src"/sampleconfig/{core,orderer,configtx}.yaml "$STAGE/config/"
  say "built in $(( $(date +%s) - t0 )) s"
  publish "a source build of $src"
}

# Fabric CA rides along when the mirror has it (issue 17 needs it; the network does not yet).
install_ca() {
  local ca="$CACHE_ROOT/fabric-ca-$FABRIC_CA_VERSION" file
  [ -x "$ca/bin/fabric-ca-server" ] && return 0
  for file in "$MIRROR/hyperledger-fabric-ca-linux-amd64-$FABRIC_CA_VERSION".tar.{xz,gz}; do
    [ -f "$file" ] || continue
    check_sum "$file" || return 0
    new_stage
    unpack_into "$file" "$STAGE" && [ -x "$STAGE/bin/fabric-ca-server" ] || { say "could not unpack $file"; return 0; }
    rm -rf "$ca"; mv "$STAGE" "$ca"; STAGE=""
    say "Fabric CA $FABRIC_CA_VERSION in $ca"
    return 0
  done
}

if complete "$DEST"; then
  say "Fabric $FABRIC_VERSION already installed in $DEST"
else
  t0=$(date +%s)
  if ! { from_folder || from_path || from_tarball || from_release || from_source; }; then
    say "Fabric $FABRIC_VERSION could not be installed. Tried, in order: MEDPROV_FABRIC_BIN (${MEDPROV_FABRIC_BIN:-unset}),"
    say "peer on PATH, a release tarball (MEDPROV_FABRIC_TARBALL=${MEDPROV_FABRIC_TARBALL:-unset}; mirror folder $MIRROR),"
    say "the official download, and a source build (MEDPROV_FABRIC_SRC=${MEDPROV_FABRIC_SRC:-unset})."
    say "Provide one of them: e.g. MEDPROV_FABRIC_MIRROR=/folder/holding/hyperledger-fabric-linux-amd64-$FABRIC_VERSION.tar.xz"
    exit 1
  fi
  say "installed in $DEST in $(( $(date +%s) - t0 )) s"
fi
install_ca
echo "$DEST"
