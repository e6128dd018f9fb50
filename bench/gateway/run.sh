#!/usr/bin/env bash
# HTTP gateway bench: Shoal's gateway → remote goods (one coordinator, users, goods, gateway) next
# to moleculer-web → TCP → echo and bare node:http, wrk -t2 -c64 -d10s --latency, one run, order
# rotated. Installs the anchor (moleculer, moleculer-web) into bench/gateway/anchor/node_modules
# on first use; Shoal runs from a private build (bench/service/build.sh), else from src via tsx.
#   bash bench/gateway/run.sh [--duration 10] [--rounds 2] [--scenarios ...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
if [ ! -d "$here/anchor/node_modules/moleculer-web" ]; then
  (cd "$here/anchor" && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ "${SHOAL_BENCH_TSX:-}" != 1 ] && dist="$(bash "$repo/bench/service/build.sh")"; then
  export SHOAL_DIST="$dist"
else
  echo "bench/gateway: private build failed or disabled; running Shoal from src through tsx" >&2
  unset SHOAL_DIST
fi
cd "$repo"
exec node --import tsx bench/gateway/bench.ts "$@"
