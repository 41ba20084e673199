#!/usr/bin/env bash
# Installs what medprov needs on a bare machine: npm packages, the pinned Fabric binaries,
# and builds the TypeScript. Safe to run again: each step skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "npm packages"
if [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
  echo "node_modules is up to date"
else
  npm ci --no-audit --no-fund
fi

step "Hyperledger Fabric binaries"
bash scripts/install-fabric.sh >/dev/null

step "build"
npm run --silent build
echo "done"
