#!/bin/bash
# On the GPU machine, from the repo root, after pack.sh put the CUDA build in .cuda-bin/:
#   bash scripts/cuda/gpu-check.sh
# Everything goes under $OUT (default /tmp/out): run.log (all output), check.tsv (one line per
# fixture run: module, dtype, device seconds, worst relative difference, verdict), the outputs of
# both devices, bench-*.json, dmon.txt. Exits non-zero if any comparison failed.
#  1. every `wan check` module on the tiny fixtures with --device cuda:0 against the same binary
#     on the CPU, in f32 and bf16 (f16 for the transformer), plus a random head-dim-128 VACE
#     transformer (make_hd128_model.py) so that bf16/f16 take the fused flash-attention kernel;
#  2. the bench: 1.3B at 832x480x81 in bf16, then 14B with --offload blocks ($BENCH_STEPS steps).
# Tolerances, rel = max|gpu - cpu| / max|cpu| per output tensor: f32 1e-3 for one forward, 5e-3
# for the looped modules (pipeline, phantom: the difference compounds over steps); bf16 5e-2 /
# 1e-1; f16 2e-2 / 5e-2. Set SKIP_BENCH=1 or SKIP_CHECK=1 to run one half.
set -u
REPO=$(pwd)
O=${OUT:-/tmp/out}; mkdir -p "$O"
exec > >(tee "$O/run.log") 2>&1
BENCH_STEPS=${BENCH_STEPS:-3}
FIX=$REPO/crates/refvid-wan/tests/fixtures
HERE=$REPO/scripts/cuda
date -u; nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total,memory.used --format=csv

# The CUDA 13 user-space libraries: PyTorch's wheels, else an installed toolkit.
NV=$(python3 -c 'import glob,os,nvidia
print(next((d for p in nvidia.__path__ for d in [os.path.join(p,"cu13","lib")] if glob.glob(d+"/libcublasLt.so.13")), ""))' 2>/dev/null)
[ -n "$NV" ] || NV=$(dirname "$(find /usr/local /opt /usr/lib -name 'libcublasLt.so.13*' 2>/dev/null | head -1)")
echo "CUDA libs: $NV"
export LD_LIBRARY_PATH=$NV${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export CUDA_CACHE_MAXSIZE=4294967296 RUST_BACKTRACE=1
B=$REPO/.cuda-bin
[ -e "$B/refvid" ] || gunzip -k "$B/refvid.gz" || { echo "no $B/refvid.gz: run pack.sh here first"; exit 1; }
chmod +x "$B/refvid"; R=$B/refvid
ldd "$R" | grep -E 'libcu|not found'
"$R" --version
nvidia-smi dmon -s pucm -d 1 > "$O/dmon.txt" 2>&1 & DMON=$!
trap 'kill $DMON 2>/dev/null' EXIT

fails=0
if [ "${SKIP_CHECK:-0}" != 1 ]; then
  python3 "$HERE/make_hd128_model.py" "$FIX" /tmp/refvid-hd128
  printf 'case\tmodule\tdtype\tcpu_s\tcuda_s\tworst_rel\ttol\tverdict\n' > "$O/check.tsv"
  # name module model inputs dtypes (loop = 1 for the multi-step modules)
  while read -r name module model inputs dtypes loop; do
    for dtype in ${dtypes//,/ }; do
      case $dtype:$loop in
        f32:0) tol=1e-3;; f32:1) tol=5e-3;; bf16:0) tol=5e-2;; bf16:1) tol=1e-1;;
        f16:0) tol=2e-2;; f16:1) tol=5e-2;;
      esac
      d=$O/check/$name-$dtype; mkdir -p "$d"
      for dev in cpu cuda:0; do
        s=$(date +%s.%N)
        "$R" wan check --module "$module" --model "$model" --inputs "$FIX/$inputs" \
          --out "$d/${dev%:0}.safetensors" --dtype "$dtype" --device "$dev" > "$d/${dev%:0}.log" 2>&1
        rc=$?; e=$(date +%s.%N); t=$(awk "BEGIN{print $e - $s}")
        [ "$dev" = cpu ] && tc=$t || tg=$t
        [ $rc = 0 ] || { echo "!! $name $dtype $dev failed:"; tail -5 "$d/${dev%:0}.log"; }
      done
      if [ -s "$d/cpu.safetensors" ] && [ -s "$d/cuda.safetensors" ]; then
        python3 "$HERE/compare_outputs.py" "$d/cpu.safetensors" "$d/cuda.safetensors" "$tol" > "$d/compare.txt"
        rc=$?; worst=$(grep -oP 'worst rel \K\S+' "$d/compare.txt")
      else rc=2; worst=-; fi
      v=$([ $rc = 0 ] && echo ok || echo FAIL); [ $rc = 0 ] || fails=$((fails + 1))
      printf '%s\t%s\t%s\t%.2f\t%.2f\t%s\t%s\t%s\n' "$name" "$module" "$dtype" "$tc" "$tg" "$worst" "$tol" "$v" | tee -a "$O/check.tsv"
    done
  done <<EOT
text_encoder text_encoder $FIX/tiny-vace/text_encoder text_encoder_inputs.safetensors f32,bf16 0
transformer transformer $FIX/tiny-vace vace_inputs.safetensors f32,bf16,f16 0
transformer_t2v transformer $FIX/tiny-wan-t2v-transformer t2v_inputs.safetensors f32,bf16 0
transformer_hd128 transformer /tmp/refvid-hd128 vace_inputs.safetensors f32,bf16,f16 0
vae_encode vae_encode $FIX/tiny-vace vae_encode_inputs.safetensors f32,bf16 0
vae_decode vae_decode $FIX/tiny-vace/vae vae_decode_inputs.safetensors f32,bf16 0
pipeline pipeline $FIX/tiny-vace-r2v pipeline_inputs.safetensors f32,bf16 1
phantom phantom $FIX/tiny-phantom-original phantom_check_inputs.safetensors f32,bf16 1
EOT
  echo "== fixtures: $fails failed"; column -t "$O/check.tsv"
fi

if [ "${SKIP_BENCH:-0}" != 1 ]; then
  for run in "1.3b none" "14b blocks"; do
    set -- $run
    echo "== bench $1 offload $2"
    extra=(); [ "$2" = none ] || extra=(--offload "$2")
    timeout 420 "$R" wan bench --shapes "$1" --size 832x480 --frames 81 --steps "$BENCH_STEPS" \
      --dtype bf16 --device cuda:0 "${extra[@]}" --json > "$O/bench-$1-$2.json" 2> "$O/bench-$1-$2.log"
    echo "rc=$?"; cat "$O/bench-$1-$2.json"; tail -5 "$O/bench-$1-$2.log"
    nvidia-smi --query-gpu=memory.used --format=csv
  done
fi
date -u
exit $((fails > 0))
