#!/usr/bin/env bash
# make demo: starts four echo "Pods" on loopback addresses and Lintel on :8080 with the
# manifests in examples/, prints curl lines to try, and stops everything it started on
# Ctrl-C (by PID; nothing else is touched).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
HTTP=${DEMO_HTTP:-0.0.0.0:8080}
ADMIN=${DEMO_ADMIN:-127.0.0.1:9000}
RUN_DIR=demo-run
mkdir -p "$RUN_DIR"

pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo
  echo "demo stopped (logs in $RUN_DIR/)"
}
trap cleanup INT TERM EXIT

for pod in web-1:127.0.0.11:9001 web-2:127.0.0.12:9001 api-1:127.0.0.21:9002 api-2:127.0.0.22:9002; do
  name=${pod%%:*}; addr=${pod#*:}
  "$BUILD_DIR/lintel-echo" --listen "$addr" --name "$name" >"$RUN_DIR/$name.log" 2>&1 &
  pids+=($!)
done
"$BUILD_DIR/lintel" serve --manifests examples --http "$HTTP" --admin "$ADMIN" \
  >"$RUN_DIR/access.log" 2>"$RUN_DIR/lintel.log" &
pids+=($!)

deadline=$((SECONDS + 20))
until curl -fsS "http://$ADMIN/readyz" >/dev/null 2>&1; do
  if ((SECONDS > deadline)) || ! kill -0 "${pids[-1]}" 2>/dev/null; then
    echo "Lintel did not become ready; its log:" >&2
    cat "$RUN_DIR/lintel.log" >&2
    exit 1
  fi
  sleep 0.1
done

port=${HTTP##*:}
cat <<MSG
Lintel is serving examples/ on :$port (admin on $ADMIN). Try:

  # storefront: Prefix / on shop.example.com → Service web (pods web-1, web-2, round-robin)
  curl -H 'Host: shop.example.com' http://127.0.0.1:$port/
  curl -H 'Host: shop.example.com' http://127.0.0.1:$port/cart

  # Prefix /api on the same host → Service api (api-1, api-2)
  curl -H 'Host: shop.example.com' http://127.0.0.1:$port/api/orders

  # api.example.com: Prefix /v1 → api; Exact /status → web; /status/x is no path of this
  # host, so the Ingress defaultBackend (web) answers
  curl -H 'Host: api.example.com' http://127.0.0.1:$port/v1/users
  curl -H 'Host: api.example.com' http://127.0.0.1:$port/status
  curl -H 'Host: api.example.com' http://127.0.0.1:$port/status/x

  # any other host → the Ingress defaultBackend (web)
  curl -H 'Host: other.example' http://127.0.0.1:$port/

  # the live routing table and diagnostics; edit examples/*.yaml and watch it change
  curl http://$ADMIN/routes
  build/lintel check --manifests examples

Logs: $RUN_DIR/lintel.log (events), $RUN_DIR/access.log (one JSON line per request).
Press Ctrl-C to stop.
MSG
wait "${pids[-1]}"
