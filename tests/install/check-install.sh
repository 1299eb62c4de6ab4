#!/usr/bin/env bash
# Installs the build into a temporary prefix with `cmake --install`, then builds an example
# against the installed headers and library using only pkg-config, and runs it: with no
# arguments it must print its usage and exit 2, which proves that it links and loads.
set -euo pipefail
build_dir=$1
source_dir=$2
# A sanitizer build's library needs the program built with the same sanitizers.
read -r -a extra_flags <<<"${3:-}"
prefix=$(mktemp -d /tmp/opendo-install-XXXXXX)
trap 'rm -rf "$prefix"' EXIT

cmake --install "$build_dir" --prefix "$prefix" >/dev/null
for f in bin/opendod bin/opendo include/opendo/opendo.hpp include/opendo/hresult.hpp \
         include/opendo/compat/windows.h include/opendo/compat/bits.h \
         include/opendo/compat/deliveryoptimization.h \
         include/opendo/types.hpp share/opendo/org.opendo.Transfer.varlink \
         lib/systemd/system/opendod.service lib/systemd/system/opendod.socket \
         lib/systemd/user/opendod.service lib/systemd/user/opendod.socket; do
  [[ -e "$prefix/$f" ]] || { echo "not installed: $f"; exit 1; }
done
# The modules opendod loads on first use, where the installed opendod looks for them (it
# checks them at start: one that is missing stops it).
for module in opendo-http.so opendo-peer.so; do
  [[ -n $(find "$prefix" -path "*/opendo/$module") ]] || { echo "not installed: $module"; exit 1; }
done
"$prefix/bin/opendod" --socket "$prefix/check.sock" --state-dir "$prefix/state" \
  >"$prefix/opendod.log" 2>&1 &
daemon=$!
for ((i = 0; i < 100; i++)); do
  [[ -S "$prefix/check.sock" ]] && break
  kill -0 "$daemon" 2>/dev/null || break
  sleep 0.1
done
served=0
[[ -S "$prefix/check.sock" ]] && served=1
kill "$daemon" 2>/dev/null || true
wait "$daemon" 2>/dev/null || true
((served)) || { echo "the installed opendod did not serve:"; cat "$prefix/opendod.log"; exit 1; }
pc_dir=$(dirname "$(find "$prefix" -name opendo.pc | head -n 1)")
[[ -n "$pc_dir" ]] || { echo "opendo.pc not installed"; exit 1; }
export PKG_CONFIG_PATH=$pc_dir
cflags=$(pkg-config --cflags opendo)
libs=$(pkg-config --libs opendo)
[[ $cflags == *"$prefix/"* ]] || { echo "pkg-config --cflags lacks the prefix: $cflags"; exit 1; }
[[ $cflags == *"/include/opendo/compat"* ]] ||
  { echo "pkg-config --cflags lacks the compat directory: $cflags"; exit 1; }
read -r -a cflag_words <<<"$cflags"
read -r -a lib_words <<<"$libs"
g++ -std=c++20 -Wall -Wextra -Werror "${extra_flags[@]}" "${cflag_words[@]}" \
  "$source_dir/examples/download.cpp" \
  -o "$prefix/download" "${lib_words[@]}"
# The Windows-style BITS and Delivery Optimization programs: <windows.h>, <bits.h> and
# <deliveryoptimization.h> come from the compat directory that pkg-config puts on the include path.
for sample in bits_download do_download; do
  g++ -std=c++20 -Wall -Wextra -Werror "${extra_flags[@]}" "${cflag_words[@]}" \
    "$source_dir/examples/$sample.cpp" \
    -o "$prefix/$sample" "${lib_words[@]}"
done
for program in download bits_download do_download; do
  status=0
  LD_LIBRARY_PATH=$(dirname "$(find "$prefix" -name 'libopendo.so' | head -n 1)") \
    "$prefix/$program" >/dev/null 2>&1 || status=$?
  [[ $status -eq 2 ]] || { echo "the installed $program did not run (exit $status)"; exit 1; }
done
echo "install: headers (modern and compat), library, binaries, varlink file and opendo.pc work from $prefix"
