#!/usr/bin/env bash
# Fails on an #include that crosses a layer the wrong way (docs/architecture.md): a
# module's non-test sources may include only itself and the modules its CMakeLists.txt
# declares with `modeld_module(TARGET MODULE USES ...)`. The compiler enforces the same
# declarations (each module sees only those modules' headers); this names the line, and
# also catches a header no translation unit includes yet.
# Usage: scripts/check-layering.sh   (from anywhere; exit 1 and a list on a violation)
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A allowed=()
for cml in src/*/CMakeLists.txt; do
  module=$(basename "$(dirname "$cml")")
  # The declaration may span lines: join the file, then pick the modeld_module(...) call.
  decl=$(tr '\n' ' ' <"$cml" | grep -oE 'modeld_module\([^)]*\)' | head -1 || true)
  if [[ -z "$decl" ]]; then
    echo "layering: $cml declares no modeld_module(TARGET $module USES ...)"
    exit 1
  fi
  read -r -a words <<<"$(sed -E 's/modeld_module\(([^)]*)\)/\1/' <<<"$decl")"
  if [[ "${words[1]}" != "$module" ]]; then
    echo "layering: $cml declares module '${words[1]}', not '$module'"
    exit 1
  fi
  uses="$module"
  for ((i = 2; i < ${#words[@]}; ++i)); do
    [[ "${words[$i]}" == USES ]] || uses+=" ${words[$i]}"
  done
  allowed[$module]="$uses"
done

bad=0
for dir in src/*/; do
  module=$(basename "$dir")
  if [[ -z "${allowed[$module]+x}" ]]; then
    echo "layering: src/$module has no CMakeLists.txt with modeld_module(...)"
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
[[ $bad == 0 ]] && echo "layering: ok (${#allowed[@]} modules)"
exit $bad
