#!/usr/bin/env bash
# Load benchmark: Lintel next to nginx and HAProxy in one run of the shared anchor harness
# (../shared/bench/anchors.sh; read its header). Lintel runs one worker, pinned by the
# harness to the same core as the others, with its access log off (theirs are off too).
#
#   bench/run.sh                      # TESTS="lat http https resume full", 5 repeats of 8 s
#   TESTS="http" REPEAT=3 bench/run.sh
#   LINTEL_BIN=build-perf/lintel bench/run.sh   # another build directory (default: build/)
#
# Results: bench-results/<timestamp>/summary.md; copy the table into docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
HARNESS=${HARNESS:-../shared/bench/anchors.sh}
LINTEL_BIN=${LINTEL_BIN:-build/lintel}
[[ -x $LINTEL_BIN ]] || { echo "bench: $LINTEL_BIN missing; run make build" >&2; exit 1; }
export CANDIDATE_NAME=lintel
export CANDIDATE_CMD="$LINTEL_BIN"' serve --manifests bench/manifests --workers 1 --no-access-log --log-level warn --http 127.0.0.1:19080 --https 127.0.0.1:19443 --admin 127.0.0.1:19900 --default-cert "$BENCH_ECDSA_CERT" --default-key "$BENCH_ECDSA_KEY"'
export CANDIDATE_HTTP=127.0.0.1:19080
export CANDIDATE_HTTPS=127.0.0.1:19443
export TESTS=${TESTS:-"lat http https resume full"}
export REPEAT=${REPEAT:-5}
export DURATION=${DURATION:-8}
exec "$HARNESS"
