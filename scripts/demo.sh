#!/usr/bin/env bash
# make demo: starts four echo "Pods" on loopback addresses and Lintel on :8080 (HTTP) and
# :8443 (HTTPS) with the manifests of examples/ plus TLS for shop.example.com, prints curl
# lines to try, and stops everything it started on Ctrl-C (by PID; nothing else is touched).
#
# TLS: `lintel cert` issues a certificate for shop.example.com from a local CA into
# demo-run/certs/ (the CA is kept and reused by later runs, so it is trusted once), and the
# served folder demo-run/manifests/ is examples/ plus that Secret and an Ingress with the
# tls entry. examples/ itself stays free of generated keys.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
HTTP=${DEMO_HTTP:-0.0.0.0:8080}
HTTPS=${DEMO_HTTPS:-0.0.0.0:8443}
ADMIN=${DEMO_ADMIN:-127.0.0.1:9000}
RUN_DIR=demo-run
MANIFESTS=$RUN_DIR/manifests
CERTS=$RUN_DIR/certs
mkdir -p "$RUN_DIR"

# The served folder: a fresh copy of examples/, the Secret, and the tls entry.
rm -rf "$MANIFESTS"
mkdir -p "$MANIFESTS"
cp -R examples/. "$MANIFESTS/"
"$BUILD_DIR/lintel" cert --host shop.example.com --out "$CERTS" --secret shop-tls \
  --namespace shop >"$RUN_DIR/cert.log"
cp "$CERTS/shop-tls.yaml" "$MANIFESTS/"
cat >"$MANIFESTS/shop-tls-ingress.yaml" <<'YAML'
# TLS for shop.example.com, written by scripts/demo.sh. A separate Ingress is enough: TLS
# is per host, so every route of shop.example.com (from the Ingress "shop") is served over
# HTTPS with the Secret's certificate, and plain HTTP is redirected (308).
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop-tls
  namespace: shop
  creationTimestamp: "2026-01-01T00:00:00Z"
spec:
  tls:
    - hosts: ["shop.example.com"]
      secretName: shop-tls       # demo-run/certs/shop-tls.yaml, from `lintel cert`
  rules:
    - host: shop.example.com     # no paths of its own: the Ingress "shop" routes this host
YAML

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
"$BUILD_DIR/lintel" serve --manifests "$MANIFESTS" --http "$HTTP" --https "$HTTPS" \
  --https-redirect-port "${HTTPS##*:}" --admin "$ADMIN" \
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
tls_port=${HTTPS##*:}
tls="--cacert $CERTS/ca.crt --resolve shop.example.com:$tls_port:127.0.0.1"
cat <<MSG
Lintel is serving $MANIFESTS (examples/ + TLS for shop.example.com) on :$port and
HTTPS :$tls_port (admin on $ADMIN). Try:

  # HTTPS with the certificate from \`lintel cert\` (CA: $CERTS/ca.crt)
  curl $tls https://shop.example.com:$tls_port/

  # storefront: Prefix / → Service web (pods web-1, web-2, round-robin); /api → api
  curl $tls https://shop.example.com:$tls_port/cart
  curl $tls https://shop.example.com:$tls_port/api/orders

  # plain HTTP to a TLS host: 308 to https://shop.example.com:$tls_port/ (path and query kept)
  curl -i -H 'Host: shop.example.com' http://127.0.0.1:$port/
  curl -L $tls --resolve shop.example.com:$port:127.0.0.1 http://shop.example.com:$port/cart

  # api.example.com has no TLS entry: plain HTTP. Prefix /v1 → api; Exact /status → web;
  # /status/x is no path of this host, so the Ingress defaultBackend (web) answers
  curl -H 'Host: api.example.com' http://127.0.0.1:$port/v1/users
  curl -H 'Host: api.example.com' http://127.0.0.1:$port/status
  curl -H 'Host: api.example.com' http://127.0.0.1:$port/status/x

  # any other host → the Ingress defaultBackend (web); over HTTPS it gets the default
  # (self-signed) certificate, hence -k
  curl -H 'Host: other.example' http://127.0.0.1:$port/
  curl -k https://127.0.0.1:$tls_port/

  # the live routing table, certificates and diagnostics; edit $MANIFESTS/*.yaml
  # and watch it change (re-run \`lintel cert\` and copy the Secret in: live rotation)
  curl http://$ADMIN/routes
  $BUILD_DIR/lintel check --manifests $MANIFESTS

Logs: $RUN_DIR/lintel.log (events), $RUN_DIR/access.log (one JSON line per request).
Press Ctrl-C to stop.
MSG
wait "${pids[-1]}"
