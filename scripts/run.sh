#!/usr/bin/env bash
# make run: start the local stack (grlctl dev), run the quickstart experiment
# through it with a live progress line, print its report, and stop the
# stack.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${GRL_DEV_DIR:-.grlscaler}
bin/grlctl dev --dir "$dir" &
dev=$!
trap 'kill -INT $dev 2>/dev/null || true; wait $dev 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  [ -f "$dir/ready" ] && break
  kill -0 "$dev" 2>/dev/null || { echo "run: grlctl dev stopped; see $dir/*.log" >&2; exit 1; }
  sleep 0.2
done
[ -f "$dir/ready" ] || { echo "run: the local stack was not ready after 60 s; see $dir/*.log" >&2; exit 1; }
# shellcheck disable=SC1091
. "$dir/env"
bin/grlctl submit examples/quickstart.yaml
bin/grlctl watch quickstart
bin/grlctl report quickstart
echo "The run's history stays in $dir: start bin/grlctl dev again and open http://127.0.0.1:8233 to browse it."
