#!/usr/bin/env bash
# Remote-call bench: Shoal's transport vs Moleculer (TCP, NATS) in one run. Installs the anchor
# into bench/transport/anchor/node_modules (not the project's dependencies) on first use.
#   bash bench/transport/run.sh [--duration 10] [--conc 1,16,128] [--rounds 2] [--scenarios ...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
if [ ! -d "$here/anchor/node_modules/moleculer" ]; then
  (cd "$here/anchor" && npm ci --no-audit --no-fund --loglevel=error)
fi
cd "$repo"
exec node --import tsx bench/transport/bench.ts "$@"
