#!/usr/bin/env bash
# Remote call through Shoal's runtime (startServices + a one-node coordinator + connectBroker's
# pipeline) next to the bare Shoal transport and Moleculer (TCP, NATS), one run, order rotated.
#   bash bench/service/run.sh [--duration 10] [--conc 1,16,128] [--rounds 2] [--scenarios shoal-runtime,shoal-tcp,moleculer-tcp,moleculer-nats]
# Shoal runs from a private build (bench/service/build.sh); if it does not compile, from the
# sources through tsx (the results say which). SHOAL_BENCH_TSX=1 forces tsx.
# A/B in one run: build the code before a change with `bash bench/service/build.sh /tmp/base`,
# then SHOAL_DIST_BASE=/tmp/base/dist and add the scenario `shoal-runtime-base`. Runtime rows
# also print CPU µs per call (client and server).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
anchor="$repo/bench/transport/anchor"
if [ ! -d "$anchor/node_modules/moleculer" ]; then
  (cd "$anchor" && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ "${SHOAL_BENCH_TSX:-}" != 1 ] && dist="$(bash "$here/build.sh")"; then
  export SHOAL_DIST="$dist"
else
  echo "bench/service: private build failed or disabled; running Shoal from src through tsx" >&2
  unset SHOAL_DIST
fi
scen="shoal-runtime,shoal-tcp,moleculer-tcp"
command -v nats-server >/dev/null && scen="$scen,moleculer-nats"
cd "$repo"
exec node --import tsx bench/transport/bench.ts --name service --scenarios "$scen" "$@"
