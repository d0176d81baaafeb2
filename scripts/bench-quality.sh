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
# shellcheck source=scripts/stack.sh
. scripts/stack.sh
rm -rf "$dir"
# Ports of their own, so that a make run's stack can run beside it.
start_stack "$dir" --temporal-port 7533 --ui-port 8533 --s3-port 7370
for ex in $examples; do
  name=$(bin/grlctl validate -o json "$ex" | sed -n 's/.*"name": *"\([^"]*\)".*/\1/p' | head -1)
  start=$(date +%s)
  bin/grlctl submit "$ex" --wait >/dev/null
  end=$(date +%s)
  echo "== $ex ($name): $((end - start)) s of wall time from submit to report"
  bin/grlctl report "$name" | sed -n '1,/^## Controllers/p' | sed '$d'
done
