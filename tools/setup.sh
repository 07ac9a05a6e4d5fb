#!/usr/bin/env bash
# Installs the Debian 12 packages meshplan builds with, only those missing (idempotent, fast
# when everything is present). Needs root (or sudo) and Debian's package archive.
set -euo pipefail
packages=(build-essential cmake ninja-build pkg-config libboost-graph-dev nlohmann-json3-dev
  libeigen3-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev libopenmpi-dev openmpi-bin)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
