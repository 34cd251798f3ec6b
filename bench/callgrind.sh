#!/usr/bin/env bash
# Instructions per proxied keep-alive request, the CPU figure of docs/benchmarks.md that
# does not depend on machine load (these machines have no hardware counters and share
# their two cores with compiles): `lintel serve --workers 1 --no-access-log` under
# callgrind in front of lintel-echo, 2,000 warm-up requests, counters zeroed, then exactly
# N keep-alive `GET /` over C connections (bench/keepalive_client.py: one request in flight
# per connection, like wrk), counters dumped. About 40 s.
#
#   bench/callgrind.sh                      # build/, 20000 requests, 32 connections
#   BUILD=build-perf N=20000 C=1 bench/callgrind.sh
#
# Prints "instructions/request"; the callgrind file is kept for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
N=${N:-20000}
C=${C:-32}
PORT=${PORT:-29080}
BACKEND_PORT=${BACKEND_PORT:-28080}
OUT=${OUT:-$(mktemp -d /tmp/lintel-callgrind.XXXXXX)}
command -v valgrind > /dev/null || { echo "callgrind: valgrind missing" >&2; exit 1; }

mkdir -p "$OUT/manifests"
sed "s/18080/$BACKEND_PORT/g" bench/manifests/anchor.yaml > "$OUT/manifests/anchor.yaml"
"$BUILD/lintel-echo" --listen "127.0.0.1:$BACKEND_PORT" > "$OUT/echo.log" 2>&1 &
ECHO=$!
valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.%p" --dump-instr=no \
  "$BUILD/lintel" serve --manifests "$OUT/manifests" --workers 1 --no-access-log \
  --log-level warn --http "127.0.0.1:$PORT" --https off --admin "127.0.0.1:$((PORT + 820))" \
  > "$OUT/lintel.log" 2>&1 &
VG=$!
trap 'kill $ECHO $VG 2> /dev/null || true' EXIT
for _ in $(seq 1 200); do
  curl -s -o /dev/null -m 2 "127.0.0.1:$PORT/" && break
  sleep 0.3
done
python3 bench/keepalive_client.py "127.0.0.1:$PORT" 2000 "$C" > /dev/null
callgrind_control -z "$VG" > /dev/null
python3 bench/keepalive_client.py "127.0.0.1:$PORT" "$N" "$C"
callgrind_control -d "$VG" > /dev/null
sleep 1
kill -TERM "$VG"
wait "$VG" || true
FILE="$OUT/callgrind.$VG.1"  # the dump; callgrind.$VG is the whole run, written at exit
IR=$(callgrind_annotate "$FILE" 2> /dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
echo "$FILE: $IR instructions, $((IR / N)) instructions/request"
