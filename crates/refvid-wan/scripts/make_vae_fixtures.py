#!/usr/bin/env python3
"""Builds the VAE parity fixtures of refvid-wan (run by hand, not in CI).

    python3 crates/refvid-wan/scripts/make_vae_fixtures.py

Writes, under crates/refvid-wan/tests/fixtures/:
  tiny-vace/vae/                       a tiny random-weight AutoencoderKLWan (diffusers layout)
  vae_encode_inputs.safetensors        `sample`      (the parity command's names, docs/PARITY.md)
  vae_encode_outputs.safetensors       `latent_mean`
  vae_decode_inputs.safetensors        `z`
  vae_decode_outputs.safetensors       `sample`
  vae_cases.safetensors                more cases, named `<case>.<tensor>` (see the fixtures README)

It reuses the venv and helpers of make_fixtures.py and leaves every other fixture untouched.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import FIXTURES, ensure_venv, reinit_, save_tensors  # noqa: E402

# The Wan 2.1 topology (dim_mult [1, 2, 4, 4], 2 residual blocks per level, time downsampling in
# the last two levels, z_dim 16) at a width of 4 instead of 96: ~240k parameters, < 1 MB in f32.
VAE_CONFIG = dict(
    base_dim=4,
    z_dim=16,
    dim_mult=[1, 2, 4, 4],
    num_res_blocks=2,
    attn_scales=[],
    temperal_downsample=[False, True, True],
    dropout=0.0,
)

# Small tiles so that a 40 x 48 frame is split into 3 x 3 tiles with blended seams
# (latent tiles 4 with stride 2: a 2-latent blend; decoded tiles 32 with stride 16: a 16-pixel one).
TILING = dict(
    tile_sample_min_height=32,
    tile_sample_min_width=32,
    tile_sample_stride_height=16,
    tile_sample_stride_width=16,
)


def build_vae(seed):
    import torch
    from diffusers import AutoencoderKLWan

    g = torch.Generator().manual_seed(seed)
    latents_mean = (0.5 * torch.randn(16, generator=g)).tolist()
    latents_std = (0.5 + 1.5 * torch.rand(16, generator=g)).tolist()
    vae = AutoencoderKLWan(**VAE_CONFIG, latents_mean=latents_mean, latents_std=latents_std).eval()
    reinit_(vae, seed=seed)
    with torch.no_grad():
        for name, p in vae.named_parameters():
            if name.endswith("gamma"):  # RMS norm scales: reinit_ sees a 4-d tensor, wants ~1
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
    # With these scales a few percent of the decoded pixels reach the -1..1 clamp (printed below):
    # the clamp is exercised without hiding most differences.
    return vae


def video(g, b, t, h, w):
    """Smooth-ish pixels in -1..1: a random low-resolution video upsampled, plus noise."""
    import torch
    import torch.nn.functional as F

    low = torch.randn(b * t, 3, h // 4, w // 4, generator=g)
    up = F.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)
    x = torch.tanh(up + 0.3 * torch.randn(b * t, 3, h, w, generator=g))
    return x.reshape(b, t, 3, h, w).permute(0, 2, 1, 3, 4).contiguous()


def latents(g, vae, b, t, h, w):
    """Un-normalised latents: unit noise scaled and shifted by the config's latents_std/mean."""
    import torch

    mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1)
    std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1)
    return torch.randn(b, vae.config.z_dim, t, h, w, generator=g) * std + mean


def encode(vae, x):
    import torch

    with torch.no_grad():
        return vae.encode(x).latent_dist.mean


def decode(vae, z):
    import torch

    with torch.no_grad():
        return vae.decode(z).sample


def clamp_share(x):
    return float((x.abs() >= 1.0).float().mean())


def main():
    ensure_venv()
    import torch

    torch.manual_seed(0)
    vae = build_vae(seed=11)
    vae_dir = FIXTURES / "tiny-vace" / "vae"
    vae.save_pretrained(str(vae_dir))

    g = torch.Generator().manual_seed(12)
    # The parity command's files: batch 2, 5 frames (a first frame and one chunk of 4).
    x = video(g, 2, 5, 32, 48)
    save_tensors(FIXTURES / "vae_encode_inputs.safetensors", {"sample": x})
    save_tensors(FIXTURES / "vae_encode_outputs.safetensors", {"latent_mean": encode(vae, x)})
    z = latents(g, vae, 1, 3, 4, 6)
    y = decode(vae, z)
    save_tensors(FIXTURES / "vae_decode_inputs.safetensors", {"z": z})
    save_tensors(FIXTURES / "vae_decode_outputs.safetensors", {"sample": y})
    stats = {"decode_t3 clamped share": clamp_share(y)}

    cases = {}
    x1 = video(g, 1, 1, 32, 48)
    cases["encode_t1.sample"], cases["encode_t1.latent_mean"] = x1, encode(vae, x1)
    x9 = video(g, 1, 9, 16, 24)
    cases["encode_t9.sample"], cases["encode_t9.latent_mean"] = x9, encode(vae, x9)
    z1 = latents(g, vae, 2, 1, 4, 6)
    cases["decode_t1.z"], cases["decode_t1.sample"] = z1, decode(vae, z1)

    vae.enable_tiling(**TILING)
    xt = video(g, 1, 5, 40, 48)
    cases["tiled_encode.sample"], cases["tiled_encode.latent_mean"] = xt, encode(vae, xt)
    zt = latents(g, vae, 1, 2, 5, 6)
    cases["tiled_decode.z"], cases["tiled_decode.sample"] = zt, decode(vae, zt)
    vae.disable_tiling()
    # The same inputs untiled, to show the tiling changes the result (and so is exercised).
    stats["tiled vs untiled encode max diff"] = float((encode(vae, xt) - cases["tiled_encode.latent_mean"]).abs().max())
    stats["tiled vs untiled decode max diff"] = float((decode(vae, zt) - cases["tiled_decode.sample"]).abs().max())
    stats["tiled_decode clamped share"] = clamp_share(cases["tiled_decode.sample"])
    save_tensors(FIXTURES / "vae_cases.safetensors", cases)
    (FIXTURES / "vae_tiling.json").write_text(json.dumps(TILING, indent=2) + "\n")

    n = sum(p.numel() for p in vae.parameters())
    print(f"tiny VAE: {n} parameters")
    for k, v in cases.items():
        print(f"  {k}: {list(v.shape)} max|.| {float(v.abs().max()):.3f}")
    for k, v in stats.items():
        print(f"  {k}: {v:.4f}")


if __name__ == "__main__":
    main()
