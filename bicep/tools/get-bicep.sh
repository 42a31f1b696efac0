#!/usr/bin/env bash
# Restores the Bicep CLI pinned in bicep-cli.csproj from NuGet with the machine's dotnet (once, a few
# seconds) into bicep/tools/.cli/ (git-ignored), and prints the path of a `bicep` launcher that keeps
# the CLI's extracted files inside that folder. Diagnostics go to stderr; stdout is only the path.
set -euo pipefail
tools="$(cd "$(dirname "$0")" && pwd)"
version="$(sed -n 's:.*<BicepVersion>\(.*\)</BicepVersion>.*:\1:p' "$tools/bicep-cli.csproj")"
root="$tools/.cli"
exe="$root/packages/azure.bicep.commandline.linux-x64/$version/tools/bicep"
launcher="$root/bicep"

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "get-bicep: only linux-x64 is restored here; install the Bicep CLI and set HERALD_BICEP to it" >&2
  exit 1
fi
if [ ! -f "$exe" ]; then
  if ! command -v dotnet >/dev/null; then
    echo "get-bicep: dotnet not found; install the .NET SDK (8 or later) to restore the Bicep CLI" >&2
    exit 1
  fi
  dotnet restore "$tools/bicep-cli.csproj" --nologo --packages "$root/packages" \
    -p:BaseIntermediateOutputPath="$root/obj/" >&2
fi
chmod +x "$exe"

# The CLI is a single-file .NET app: it extracts a native library under $HOME/.net unless told where.
mkdir -p "$root/extract"
cat >"$launcher" <<LAUNCHER
#!/bin/sh
# Written by bicep/tools/get-bicep.sh: Bicep CLI $version, extracting into the clone, not \$HOME.
DOTNET_BUNDLE_EXTRACT_BASE_DIR='$root/extract' exec '$exe' "\$@"
LAUNCHER
chmod +x "$launcher"
echo "$launcher"
