#!/bin/bash
# CUTLASS headers for the `flash-attn` feature without GitHub: PyPI's nvidia-cutlass 3.5.1.0 wheel
# carries include/ and tools/util/include/ under cutlass_library/source/. Unpacks them to
# $CU13/cutlass (default /tmp/cu13/cutlass) and adds CUTLASS_DIR to $CU13/env.sh if there is one
# (cu13-toolkit.sh writes it). usage: bash scripts/cuda/cutlass.sh
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
echo "ok: CUTLASS_DIR=$CU13/cutlass ($(find "$CU13/cutlass" -type f | wc -l) files)"
