#!/usr/bin/env bash
# Orders bench: POST /api/v1/orders through the gateway of a whole `shoal up` (saga and 2PC,
# closed loop at each concurrency), and the same three updates as one local SQLite transaction.
#   bash bench/orders/run.sh [--duration 10] [--conc 32,64] [--modes saga,2pc] [--users 120] [--cpu-prof DIR]
# Writes bench/results/orders-<date>.json and prints a Markdown table.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."
exec node --import tsx bench/orders/bench.ts "$@"
