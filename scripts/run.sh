#!/usr/bin/env bash
# make run: start the local stack (grlctl dev), run the quickstart experiment
# through it with a live progress line, print its report, and stop the
# stack.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/stack.sh
. scripts/stack.sh
dir=${GRL_DEV_DIR:-.grlscaler}
start_stack "$dir"
bin/grlctl submit examples/quickstart.yaml
bin/grlctl watch quickstart
bin/grlctl report quickstart
echo "The run's history stays in $dir: start bin/grlctl dev again and open http://127.0.0.1:8233 to browse it."
