#!/usr/bin/env bash
# Golden output of the meshplan CLI: runs the arguments in NAME.cmd (one line, relative to the
# data folder in $MESHPLAN_DATA) and compares stdout byte for byte with NAME.out. A changed
# number fails here, not only a changed shape. After an intended change, regenerate with
#   MESHPLAN_UPDATE_GOLDEN=1 ctest -R golden_
# and read the diff before committing it.
#   usage: check.sh MESHPLAN_BINARY NAME
set -euo pipefail
bin=$1
name=$2
dir=$(cd "$(dirname "$0")" && pwd)
read -r -a args < "$dir/$name.cmd"
actual=$(mktemp)
trap 'rm -f "$actual"' EXIT
"$bin" "${args[@]}" > "$actual"
if [ "${MESHPLAN_UPDATE_GOLDEN:-0}" = 1 ]; then
  cp "$actual" "$dir/$name.out"
  echo "golden: wrote $name.out"
  exit 0
fi
if ! cmp -s "$actual" "$dir/$name.out"; then
  echo "golden: $name: output differs from tests/golden/$name.out" >&2
  diff -u "$dir/$name.out" "$actual" | head -60 >&2
  exit 1
fi
echo "golden: $name: identical"
