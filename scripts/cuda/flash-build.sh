#!/bin/bash
# Builds refvid with the fused attention (`--features flash-attn`) against a candle-flash-attn
# 0.11.1 trimmed, at build time, to what Wan runs: head dim 128, bf16 and f16, not causal, no
# dropout, ALiBi, softcap, sliding window or paged KV. The crate's own build compiles 53 kernel
# files (~2.5 h on 2 cores); the trimmed one compiles 3 (flash_api.cu and the two head-dim-128
# files) with the variants Wan never takes switched off by the kernels' own
# FLASHATTENTION_DISABLE_* macros.
#
# Nothing is vendored: the script copies the crate's source out of Cargo's registry cache (run
# `cargo fetch` first), edits the copy (its build.rs kernel list and flags, and the head-dim
# dispatch of kernels/flash_api.cu, which would otherwise reference all 53), and builds with it
# as a `[patch.crates-io]` given on the command line, restoring Cargo.lock afterwards.
# refvid's attention (`attention::multi_head_attention`) only calls the kernel for bf16/f16 at
# head dim 128 without a mask, so the dispatch never meets what was trimmed; if it did, the
# kernel library stops the process with a message rather than compute something else.
#
# usage: source /tmp/cu13/env.sh; bash scripts/cuda/cutlass.sh; bash scripts/cuda/flash-build.sh
#        [TARGET_DIR (default target-cuda)] [extra cargo args…]
set -euo pipefail
cd "$(dirname "$0")/../.."
TD=${1:-target-cuda}
shift || true
VER=0.11.1
SRC=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/candle-flash-attn-$VER 2>/dev/null | head -1 || true)
[ -n "$SRC" ] || { echo "candle-flash-attn $VER is not in Cargo's registry cache: run 'cargo fetch'" >&2; exit 1; }
command -v nvcc >/dev/null || { echo "no nvcc on PATH: source /tmp/cu13/env.sh (scripts/cuda/cu13-toolkit.sh)" >&2; exit 1; }

DST=$PWD/$TD/flash-trim/candle-flash-attn-$VER
rm -rf "$DST" && mkdir -p "$(dirname "$DST")"
cp -a "$SRC" "$DST" && chmod -R u+w "$DST"
python3 - "$DST" <<'EOF'
import re, sys
from pathlib import Path

root = Path(sys.argv[1])
kept = ["kernels/flash_api.cu",
        "kernels/flash_fwd_hdim128_bf16_sm80.cu",
        "kernels/flash_fwd_hdim128_fp16_sm80.cu"]
disabled = ["DROPOUT", "ALIBI", "SOFTCAP", "LOCAL", "UNEVEN_K"]

build = root / "build.rs"
text = build.read_text()
listed = "const KERNEL_FILES: [&str; %d] = [\n%s];" % (
    len(kept), "".join('    "%s",\n' % f for f in kept))
text, n = re.subn(r"const KERNEL_FILES: \[&str; \d+\] = \[.*?\];", listed, text, flags=re.S)
assert n == 1, "build.rs: KERNEL_FILES not found"
flags = "".join('\n        .arg("-DFLASHATTENTION_DISABLE_%s")' % d for d in disabled)
text, n = re.subn(r'(\.arg\("-std=c\+\+17"\))', r"\1" + flags.replace("\\", "\\\\"), text)
assert n == 1, "build.rs: the nvcc flags were not found"
build.write_text(text)

api = root / "kernels/flash_api.cu"
text = api.read_text()
dispatch = """void run_mha_fwd(Flash_fwd_params &params, cudaStream_t stream) {
  // Trimmed by refvid's scripts/cuda/flash-build.sh to the kernels it compiled.
  if (params.d != 128 || params.is_causal || params.block_table != nullptr) {
      fprintf(stderr, "flash-attn (trimmed for Wan): head dim %d, causal %d, paged %d not built\\n",
              params.d, int(params.is_causal), int(params.block_table != nullptr));
      abort();
  }
  FP16_SWITCH(!params.is_bf16, [&] {
      run_mha_fwd_<elem_type, 128, false>(params, stream);
  });
}
"""
text, n = re.subn(r"void run_mha_fwd\(Flash_fwd_params &params, cudaStream_t stream\) \{.*?\n\}\n",
                  lambda _: dispatch, text, count=1, flags=re.S)
assert n == 1, "flash_api.cu: run_mha_fwd not found"
api.write_text("#include <cstdio>\n#include <cstdlib>\n" + text)
print(f"trimmed: {len(kept)} kernel files, FLASHATTENTION_DISABLE_{{{','.join(disabled)}}}")
EOF

cp Cargo.lock "$TD/Cargo.lock.before-flash"
trap 'cp "$TD/Cargo.lock.before-flash" Cargo.lock' EXIT
export NVCC_APPEND_FLAGS="${NVCC_APPEND_FLAGS:-} -include $PWD/scripts/cuda/cu13shim.h"
CARGO_TARGET_DIR=$TD cargo build --release -p refvid --features flash-attn \
  --config "patch.crates-io.candle-flash-attn.path='$DST'" "$@"
echo "ok: $TD/release/refvid with the trimmed flash-attn (check: bash scripts/cuda/verify.sh $TD)"
