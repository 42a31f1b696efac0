#!/usr/bin/env bash
# Prints the bin folder of a Node 22 (what production runs) for a second test run, fetched once from
# the npm registry's node-linux-<arch> package into .ci/.node22/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")"
version="22.23.3"
case "$(uname -m)" in
  x86_64) arch="x64" ;;
  aarch64 | arm64) arch="arm64" ;;
  *) echo "no Node 22 package for $(uname -m)" >&2; exit 1 ;;
esac
dir=".node22/$version-$arch"
if [ ! -x "$dir/bin/node" ]; then
  rm -rf "$dir" && mkdir -p "$dir"
  tarball="$(cd "$dir" && npm pack --silent "node-linux-$arch@$version" 2>/dev/null | tail -1)"
  tar -xzf "$dir/$tarball" -C "$dir" --strip-components=1
  rm -f "$dir/$tarball"
fi
"$dir/bin/node" --version >&2
echo "$(pwd)/$dir/bin"
