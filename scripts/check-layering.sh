#!/usr/bin/env bash
# Fails on an #include that crosses a layer the wrong way (docs/architecture.md):
# a module's non-test sources may include only the modules listed for it below.
# Usage: scripts/check-layering.sh   (from anywhere; exit 1 and a list on a violation)
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A allowed=(
  [core]="core"
  [net]="core net"
  [store]="core store"
  [archive]="core archive"
  [sources]="core net sources"
  [engine]="core net engine"
  [runtime]="core runtime"
  [service]="core net store archive sources engine runtime service"
  [api]="core service api"
  [cli]="core service cli"
  [app]="core net store archive sources engine runtime service api cli app"
)
bad=0
for dir in src/*/; do
  module=$(basename "$dir")
  if [[ -z "${allowed[$module]+x}" ]]; then
    echo "layering: src/$module is not in scripts/check-layering.sh (add it and docs/architecture.md)"
    bad=1
    continue
  fi
  while IFS= read -r line; do
    file=${line%%:*}
    inc=$(sed -E 's/.*#include "([a-z_]+)\/.*/\1/' <<<"${line#*:}")
    [[ -d "src/$inc" ]] || continue  # not a module (a test helper, a generated file)
    if [[ " ${allowed[$module]} " != *" $inc "* ]]; then
      echo "layering: $file includes $inc/ (src/$module may use: ${allowed[$module]})"
      bad=1
    fi
  done < <(grep -rHE '^#include "[a-z_]+/' "$dir" --include='*.cc' --include='*.h' | grep -v '_test\.cc:' || true)
done
exit $bad
