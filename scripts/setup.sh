#!/usr/bin/env bash
# Installs what medprov needs on a bare machine: npm packages and the pinned Fabric release
# (from the offline mirror ../shared/fabric where there is one; see scripts/install-fabric.sh).
# Safe to run again: each step skips what is already there. The chaincode is compiled by
# `npm run up` when its sources changed.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '== %s\n' "$*" >&2; }

step "npm packages"
if [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
  echo "node_modules is up to date" >&2
else
  npm ci --no-audit --no-fund >&2
fi

step "Hyperledger Fabric binaries"
bash scripts/install-fabric.sh >/dev/null

step "HL7 FHIR validator (for the tests; needs a JDK 17+ and Maven)"
if command -v java >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1; then
  bash scripts/install-fhir-validator.sh >/dev/null || echo "the FHIR validator could not be built now; the unit tests build it (scripts/install-fhir-validator.sh)" >&2
else
  echo "no java/mvn here: skipped (only the tests need it; scripts/install-fhir-validator.sh installs them as root)" >&2
fi
