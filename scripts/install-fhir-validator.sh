#!/usr/bin/env bash
# Builds the official HL7 FHIR R4 validator tool (tools/fhir-validator: HAPI FHIR's
# FhirInstanceValidator from Maven Central) into a cache outside the repository, keyed by a hash
# of the tool's sources, with Maven's own repository in the same cache. A second run is a no-op;
# a rebuild after the first fetch works offline (mvn -o), falling back to online when the
# sources now need something not yet fetched.
#
# Needs Java 17+ (java, javac) and Maven 3.8+ (mvn) on PATH, and Maven Central the first time.
# Prints the jar's path on its last line (stdout); progress goes to stderr. Run it as
#   java -jar "$(bash scripts/install-fhir-validator.sh | tail -1)" FILE...
set -euo pipefail

HERE="$(cd "$(dirname "$0")/.." && pwd)"
SRC="$HERE/tools/fhir-validator"
CACHE_ROOT="${MEDPROV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/medprov}"
M2="${MEDPROV_MAVEN_REPO:-$CACHE_ROOT/m2}"

say() { printf '[install-fhir-validator] %s\n' "$*" >&2; }

KEY=$(cd "$SRC" && find pom.xml src -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-12)
DEST="$CACHE_ROOT/fhir-validator-$KEY"

if [ -f "$DEST/fhir-validator.jar" ] && [ -d "$DEST/lib" ]; then
  say "already built in $DEST"
  echo "$DEST/fhir-validator.jar"
  exit 0
fi

missing_tools() { local t; for t in java javac mvn; do command -v "$t" >/dev/null 2>&1 || echo "$t"; done; }
if [ -n "$(missing_tools)" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  say "installing Debian's JDK 17 and Maven (missing: $(missing_tools | tr '\n' ' '))"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends openjdk-17-jdk-headless maven >&2 \
    || { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends openjdk-17-jdk-headless maven >&2; } || true
fi
if [ -n "$(missing_tools)" ]; then
  say "missing: $(missing_tools | tr '\n' ' ')- the FHIR validator needs a JDK 17+ and Maven 3.8+ (Debian: apt-get install openjdk-17-jdk-headless maven)"
  exit 1
fi

mkdir -p "$CACHE_ROOT"
STAGE=$(mktemp -d "$CACHE_ROOT/.fhir-validator-build.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
# Built in a copy, so the work tree gets no target/ and two runs at once do not collide.
cp -r "$SRC/pom.xml" "$SRC/src" "$STAGE/"
t0=$(date +%s)
build() { (cd "$STAGE" && mvn -q -B -Dmaven.repo.local="$M2" "$@" package) >&2; }
if ! build -o 2>/dev/null; then
  say "fetching HAPI FHIR and its dependencies from Maven Central into $M2 (about 190 MB, once)"
  build || { say "the Maven build failed (see above)"; exit 1; }
fi
rm -rf "$DEST"
mkdir -p "$DEST"
mv "$STAGE/target/fhir-validator.jar" "$STAGE/target/lib" "$DEST/"
say "built in $DEST in $(( $(date +%s) - t0 )) s"
echo "$DEST/fhir-validator.jar"
