#!/bin/sh
# Vendor htmx and its websocket extension into web/static/vendor/ (no CDN: the server serves
# them). Fetched with `npm pack` from the npm registry; VERSIONS records name, version, sha256.
# Refresh: edit the versions below and run `sh web/vendor.sh` from anywhere.
set -eu

HTMX_VERSION=2.0.8
WS_VERSION=2.0.4

here=$(cd "$(dirname "$0")" && pwd)
out="$here/static/vendor"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cd "$work"
npm pack --silent "htmx.org@$HTMX_VERSION" "htmx-ext-ws@$WS_VERSION" >/dev/null
mkdir htmx ws
tar -xzf "htmx.org-$HTMX_VERSION.tgz" -C htmx
tar -xzf "htmx-ext-ws-$WS_VERSION.tgz" -C ws

mkdir -p "$out"
cp htmx/package/dist/htmx.min.js "$out/htmx.min.js"
cp ws/package/ws.js "$out/htmx-ext-ws.js"

{
    echo "# name version sha256 (written by web/vendor.sh; do not edit)"
    echo "htmx.org $HTMX_VERSION $(sha256sum "$out/htmx.min.js" | cut -d' ' -f1) htmx.min.js"
    echo "htmx-ext-ws $WS_VERSION $(sha256sum "$out/htmx-ext-ws.js" | cut -d' ' -f1) htmx-ext-ws.js"
} > "$out/VERSIONS"
echo "vendored into $out:"
cat "$out/VERSIONS"
