#!/usr/bin/env python3
"""Times PyTorch's transformer forward at the Wan2.1-VACE-1.3B width (run by hand, not in CI).

    python3 crates/refvid-wan/scripts/bench_wide.py [OUT_DIR] [RUNS]

Writes a WanVACETransformer3DModel with the 1.3B model's width (12 heads x 128, ffn 8960,
text_dim 4096, freq_dim 256, 16 latent channels, 96 VACE channels) but only 2 main blocks and one
VACE block (random weights, ~0.7 GB f32) to OUT_DIR/transformer (default
/tmp/refvid-wan-bench-wide), and its inputs to OUT_DIR/inputs.safetensors: a 416x240, 9-frame
video's latents [1, 16, 3, 30, 52] (3 x 15 x 26 = 1,170 tokens), 512 text tokens, the VACE
context; then times the forward pass (no_grad, after 2 warm-ups, mean of RUNS, default 5; 0
only writes the files) with BENCH_THREADS threads (default 2). The venv is make_fixtures.py's
(REFVID_WAN_VENV, default .venv-wan in the checkout). Time the Rust side on the same files with
`cargo run --release -p refvid-wan --example bench_forward -- OUT_DIR/transformer
OUT_DIR/inputs.safetensors RUNS`.
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import ensure_venv, reinit_, save_tensors  # noqa: E402

WIDE_CONFIG = dict(
    patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16,
    out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=2,
    cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024,
    vace_layers=[0], vace_in_channels=96,
)


def main():
    ensure_venv()
    import torch
    from diffusers import WanVACETransformer3DModel

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/refvid-wan-bench-wide")
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    threads = int(os.environ.get("BENCH_THREADS", "2"))
    torch.set_num_threads(threads)
    torch.manual_seed(8)
    model = WanVACETransformer3DModel(**WIDE_CONFIG).eval()
    reinit_(model, seed=8)
    if not (out / "transformer" / "config.json").exists():
        model.save_pretrained(str(out / "transformer"))
    g = torch.Generator().manual_seed(9)
    f, h, w = 3, 30, 52
    inputs = {
        "hidden_states": torch.randn(1, 16, f, h, w, generator=g),
        "timestep": torch.tensor([500.0]),
        "encoder_hidden_states": torch.randn(1, 512, 4096, generator=g),
        "control_hidden_states": torch.randn(1, 96, f, h, w, generator=g),
        "control_hidden_states_scale": torch.ones(1),
    }
    save_tensors(out / "inputs.safetensors", inputs)
    if runs == 0:
        print(f"model and inputs written to {out} (not timed)")
        return
    with torch.no_grad():
        for _ in range(2):
            model(**inputs, return_dict=False)
        t0 = time.perf_counter()
        for _ in range(runs):
            model(**inputs, return_dict=False)
    ms = (time.perf_counter() - t0) / runs * 1e3
    print(f"torch {torch.__version__}, {threads} threads, 1170 tokens, 1.3B width "
          f"(2 + 1 VACE blocks): forward {ms:.1f} ms (mean of {runs}) -- model at {out}")


if __name__ == "__main__":
    main()
