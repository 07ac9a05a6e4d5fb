#!/usr/bin/env bash
# Installs the Debian 12 packages meshplan builds with, only those missing (idempotent, fast
# when everything is present), and the charting scripts of the HTML report (npm ci in
# tools/report when node_modules is missing or older than package-lock.json). Needs root (or
# sudo) and Debian's package archive; the npm registry for the charting scripts.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
packages=(build-essential cmake ninja-build pkg-config libboost-graph-dev nlohmann-json3-dev
  libeigen3-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev libopenmpi-dev openmpi-bin)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The HTML report's tools, by command: a node from elsewhere (e.g. NodeSource, which bundles npm)
# is kept, and Debian's npm is not forced next to it.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v chromium >/dev/null || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# vega, vega-lite and vega-embed at the versions package-lock.json pins.
report="$root/tools/report"
stamp="$report/node_modules/.meshplan-lock.sha256"
want=$(sha256sum "$report/package-lock.json" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: npm ci in tools/report"
  (cd "$report" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
fi
