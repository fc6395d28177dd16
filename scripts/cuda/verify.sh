#!/bin/bash
# Checks a CUDA build of refvid without a GPU. usage: verify.sh [TARGET_DIR] (default target-cuda)
#  1. ldd with LD_LIBRARY_PATH = the CUDA 13 wheel libraries (+ the libcuda stub): nothing missing,
#     the CUDA libraries are the .so.13 ones (cuRAND .so.10), none from CUDA 11/12;
#  2. LD_BIND_NOW=1: every imported symbol resolves (`refvid --version` runs; no cuInit is made);
#  3. candle's PTX: `.version` at most 9.0 (what driver 580 / CUDA 13.0 compiles) and `.target`
#     sm_90 family, each file assembled with ptxas for that target;
#  4. with the flash-attn feature: the kernels' archive and the run_mha entry are in the binary.
# Prints one line per check and exits non-zero on the first failure.
set -euo pipefail
TD=${1:-target-cuda}
BIN=$TD/release/refvid
CU13=${CU13:-/tmp/cu13}
[ -x "$BIN" ] || { echo "no $BIN (build first, see README \"Building with CUDA\")" >&2; exit 1; }
fail() { echo "FAIL: $*" >&2; exit 1; }
export LD_LIBRARY_PATH=$CU13/lib:$CU13/lib/stubs

L=$(ldd "$BIN")
echo "$L" | grep -E 'libcu|libnvrtc' | sed 's/^/  /'
echo "$L" | grep -q 'not found' && fail "ldd: $(echo "$L" | grep 'not found' | tr -s ' \t' ' ')"
for lib in libcublas.so.13 libcublasLt.so.13 libcudart.so.13 libcurand.so.10 libcuda.so.1; do
  echo "$L" | grep -q "$lib => $CU13" || fail "ldd: $lib not linked from $CU13"
done
echo "$L" | grep -Eq 'libcu[a-zA-Z]*\.so\.1[12]\b' && fail "ldd: a CUDA 11/12 library is linked"
echo "ok 1: ldd clean against the CUDA 13 libraries in $CU13/lib"

LD_BIND_NOW=1 "$BIN" --version > /tmp/refvid-verify.$$ 2>&1 || { cat /tmp/refvid-verify.$$; fail "LD_BIND_NOW run"; }
echo "ok 2: LD_BIND_NOW=1 resolves every symbol ($(cat /tmp/refvid-verify.$$))"; rm -f /tmp/refvid-verify.$$

PTX=$(ls -t "$TD"/release/build/candle-kernels-*/out/*.ptx 2>/dev/null | awk -F/ '!seen[$NF]++') \
  || true
[ -n "$PTX" ] || fail "no PTX under $TD/release/build/candle-kernels-*/out"
n=0
for f in $PTX; do
  v=$(grep -m1 -oP '^\.version \K[0-9.]+' "$f"); t=$(grep -m1 -oP '^\.target \K\w+' "$f")
  awk -v v="$v" 'BEGIN{exit !(v+0 <= 9.0)}' || fail "$f: .version $v (driver 580 takes at most 9.0)"
  case $t in sm_90*) ;; *) fail "$f: .target $t, not sm_90";; esac
  "$CU13/bin/ptxas" -arch="$t" "$f" -o /dev/null || fail "ptxas $f"
  n=$((n + 1))
done
echo "ok 3: $n PTX files, .version $v, .target $t, all assembled by ptxas $("$CU13/bin/ptxas" --version | grep -oP 'V[0-9.]+')"

FA=$(ls -t "$TD"/release/build/candle-flash-attn-*/out/libflashattention.a 2>/dev/null | head -1 || true)
if [ -n "$FA" ]; then
  # grep reads all of nm's output (no -q): an early exit would fail the pipe under pipefail.
  SYMS=$(nm -C "$BIN" | grep -E ' T (run_mha|void run_mha_fwd_<.*>\(Flash_fwd_params)' || true)
  echo "$SYMS" | grep -q ' T run_mha$' || fail "flash-attn built ($FA) but run_mha is not in $BIN"
  KERNELS=$(echo "$SYMS" | grep -oP 'run_mha_fwd_<cutlass::\w+, \d+, \w+>' | sort | tr '\n' ' ')
  echo "ok 4: flash-attn linked: run_mha and $KERNELS($(ar t "$FA" | wc -l) objects, $(du -h "$FA" | cut -f1))"
else
  echo "-- 4: no flash-attn build in $TD (feature off)"
fi
