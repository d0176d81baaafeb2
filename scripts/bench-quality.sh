#!/usr/bin/env bash
# make bench-quality: does a trained agent beat the HPA? Starts the local
# stack, runs examples/beat-hpa.yaml (Online Boutique) and
# examples/beat-hpa-redis.yaml (Redis) through it one after the other with
# grlctl submit --wait, and prints each one's wall time, verdict table
# (the best agent vs the best HPA per scenario, both chosen on validation
# seeds) and summary. The reports stay in the stack's store
# ($GRL_BENCH_DIR, default .grlscaler-bench) for grlctl report.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${GRL_BENCH_DIR:-.grlscaler-bench}
examples=${GRL_BENCH_EXAMPLES:-examples/beat-hpa.yaml examples/beat-hpa-redis.yaml}
rm -rf "$dir"
# Ports of their own, so that a make run's stack can run beside it.
bin/grlctl dev --dir "$dir" --temporal-port 7533 --ui-port 8533 --s3-port 7370 &
dev=$!
trap 'kill -INT $dev 2>/dev/null || true; wait $dev 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  [ -f "$dir/ready" ] && break
  kill -0 "$dev" 2>/dev/null || { echo "bench-quality: grlctl dev stopped; see $dir/*.log" >&2; exit 1; }
  sleep 0.2
done
[ -f "$dir/ready" ] || { echo "bench-quality: the local stack was not ready after 60 s; see $dir/*.log" >&2; exit 1; }
# shellcheck disable=SC1091
. "$dir/env"
for ex in $examples; do
  name=$(bin/grlctl validate -o json "$ex" | sed -n 's/.*"name": *"\([^"]*\)".*/\1/p' | head -1)
  start=$(date +%s)
  bin/grlctl submit "$ex" --wait >/dev/null
  end=$(date +%s)
  echo "== $ex ($name): $((end - start)) s of wall time from submit to report"
  bin/grlctl report "$name" | sed -n '1,/^## Controllers/p' | sed '$d'
done
