#!/usr/bin/env bash
# A private build of Shoal for the benches: `tsc -p tsconfig.build.json` into a directory of our
# own (not the project's dist/, which other work uses), with proto/ and node_modules linked so the
# compiled code finds them as it does in the package. Prints the dist directory on success.
#   bash bench/service/build.sh [dir]      (default: $TMPDIR/shoal-bench-build-$UID)
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
dir="${1:-${TMPDIR:-/tmp}/shoal-bench-build-$(id -u)}"
mkdir -p "$dir"
ln -sfn "$repo/node_modules" "$dir/node_modules"
ln -sfn "$repo/proto" "$dir/proto"
printf '{ "type": "module", "private": true }\n' > "$dir/package.json"
rm -rf "$dir/dist"
(cd "$repo" && ./node_modules/.bin/tsc -p tsconfig.build.json --outDir "$dir/dist") >&2
echo "$dir/dist"
