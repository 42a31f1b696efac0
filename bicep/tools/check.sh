#!/usr/bin/env bash
# Builds every Bicep template and main.bicepparam, and lints them all, with the given Bicep CLI (from
# get-bicep.sh). Any warning or error fails. Writes nothing into the clone.
set -euo pipefail
bicep="${1:?usage: check.sh PATH-TO-BICEP}"
case "$bicep" in
  */*) bicep="$(cd "$(dirname "$bicep")" && pwd)/$(basename "$bicep")" ;;
  *) bicep="$(command -v "$bicep")" ;;
esac
cd "$(dirname "$0")/.."

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# main.bicepparam takes the identity provider from the environment; these stand for a real one.
export HERALD_JWT_JWKS_URL="${HERALD_JWT_JWKS_URL:-https://login.example.com/.well-known/jwks.json}"
export HERALD_JWT_ISSUER="${HERALD_JWT_ISSUER:-https://login.example.com/}"
export HERALD_JWT_AUDIENCE="${HERALD_JWT_AUDIENCE:-api://herald-ci}"

log="$out/diagnostics.txt"
# --no-restore keeps the CLI off the network: without it, build and lint fetch the public module index.
"$bicep" build --no-restore --pattern '**/*.bicep' --outdir "$out/templates" 2>&1 | tee -a "$log"
"$bicep" build-params --no-restore main.bicepparam --outdir "$out/params" 2>&1 | tee -a "$log"
"$bicep" lint --no-restore --pattern '**/*.bicep' 2>&1 | tee -a "$log"
"$bicep" lint --no-restore main.bicepparam 2>&1 | tee -a "$log"

if grep -qE ' : (Warning|Error) ' "$log"; then
  echo "bicep: the warnings or errors above fail the check" >&2
  exit 1
fi
echo "bicep: $(find "$out/templates" -name '*.json' | wc -l) templates and main.bicepparam build and lint clean"
