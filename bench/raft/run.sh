#!/usr/bin/env bash
# 3-node Shoal Raft on loopback with fsync, next to the disk's fsync rate. Args go to bench.ts
# (e.g. --quick, --duration 10, --conc 1,64,256, --dir /mnt/disk).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec npx tsx bench/raft/bench.ts "$@"
