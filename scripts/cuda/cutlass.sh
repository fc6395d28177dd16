#!/bin/bash
# CUTLASS headers for the `flash-attn` feature without GitHub: PyPI's nvidia-cutlass 3.5.1.0 wheel
# carries include/ and tools/util/include/ under cutlass_library/source/. Unpacks them to
# $CU13/cutlass (default /tmp/cu13/cutlass), adds CUTLASS_DIR to $CU13/env.sh if there is one
# (cu13-toolkit.sh writes it), and links them where candle-flash-attn 0.11.1's build (cudaforge)
# looks for its pinned CUTLASS checkout before cloning it from GitHub, which is unreachable here.
# usage: bash scripts/cuda/cutlass.sh
set -euo pipefail
CU13=${CU13:-/tmp/cu13}
WHL=${WHL:-/tmp/cu13-wheels}
mkdir -p "$WHL"
python3 -m pip download -q --no-deps --only-binary=:all: -d "$WHL" nvidia-cutlass==3.5.1.0
T=$(mktemp -d)
unzip -q -o "$WHL"/nvidia_cutlass-3.5.1.0-*.whl 'cutlass_library/source/include/*' \
  'cutlass_library/source/tools/util/include/*' -d "$T"
rm -rf "$CU13/cutlass" && mkdir -p "$CU13/cutlass/tools/util"
mv "$T/cutlass_library/source/include" "$CU13/cutlass/include"
mv "$T/cutlass_library/source/tools/util/include" "$CU13/cutlass/tools/util/include"
rm -rf "$T"
if [ -f "$CU13/env.sh" ]; then
  grep -q CUTLASS_DIR "$CU13/env.sh" || echo "export CUTLASS_DIR=$CU13/cutlass" >> "$CU13/env.sh"
fi
# candle-flash-attn 0.11.1 pins this CUTLASS commit (its build.rs, CUTLASS_COMMIT).
PIN=7d49e6c7e2f8896c47f586706e67e1fb215529dc
CO="${CUDAFORGE_HOME:-$HOME/.cudaforge}/git/checkouts/cutlass-${PIN:0:16}"
# cudaforge takes a checkout whose `git rev-parse HEAD` is the pin: an empty repository with a
# detached HEAD at the pinned commit (git resolves it without having the commit's objects).
rm -rf "$CO" && mkdir -p "$CO/tools/util" && git init -q "$CO"
ln -s "$CU13/cutlass/include" "$CO/include"
ln -s "$CU13/cutlass/tools/util/include" "$CO/tools/util/include"
echo "$PIN" > "$CO/.git/HEAD"
[ "$(git -C "$CO" rev-parse HEAD)" = "$PIN" ] || { echo "cutlass.sh: the checkout's HEAD is not $PIN" >&2; exit 1; }
echo "ok: CUTLASS_DIR=$CU13/cutlass ($(find "$CU13/cutlass" -type f | wc -l) files)"
