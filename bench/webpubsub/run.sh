#!/usr/bin/env bash
# Runs the Web PubSub fan-out benchmark (see README.md). 10,000 connections need about 10,100
# file descriptors in the server and in the client process each.
set -euo pipefail
cd "$(dirname "$0")/../.."
need=12000
soft=$(ulimit -n)
if [ "$soft" != "unlimited" ] && [ "$soft" -lt "$need" ]; then
  hard=$(ulimit -Hn)
  if [ "$hard" = "unlimited" ] || [ "$hard" -ge "$need" ]; then ulimit -n "$need"; else ulimit -n "$hard"; fi
fi
echo "open files limit: $(ulimit -n)" >&2
if [ "$(ulimit -n)" != "unlimited" ] && [ "$(ulimit -n)" -lt "$need" ]; then
  echo "warning: ulimit -n is $(ulimit -n); 10,000 connections need $need (pass --conns 1000)" >&2
fi
npx tsc -p bench/webpubsub/tsconfig.json
exec node dist/bench/webpubsub/driver.js "$@"
