#!/usr/bin/env bash
# `make install` and `make uninstall` (README): staged with DESTDIR under a PREFIX, the
# installed modeld is the built one and runs; uninstall removes it. Usage: run.sh BUILD_DIR
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$1
stage=$(mktemp -d "${TMPDIR:-/tmp}/modeld-install.XXXXXX")
trap 'rm -rf "$stage"' EXIT
bin=$stage/opt/modeld/bin/modeld

make -s -C "$src" install BUILD="$build" DESTDIR="$stage" PREFIX=/opt/modeld
[[ -x $bin ]] || { echo "make install did not install $bin" >&2; exit 1; }
cmp "$build/modeld" "$bin"
version=$("$bin" --version)
[[ $version == "modeld "* ]] || { echo "the installed modeld says: $version" >&2; exit 1; }
make -s -C "$src" uninstall DESTDIR="$stage" PREFIX=/opt/modeld
[[ ! -e $bin ]] || { echo "make uninstall left $bin" >&2; exit 1; }
echo "installed and removed $bin ($version)"
