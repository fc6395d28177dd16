#!/usr/bin/env python3
"""Writes the tiny fixture models of refvid-wan again in the original Wan key layout (run by hand).

    python3 crates/refvid-wan/scripts/make_layout_fixtures.py

Reads the diffusers-layout fixtures that make_fixtures.py and make_vae_fixtures.py wrote and saves
the same weights as the original Wan 2.1 release names them (wan/modules/model.py, vace_model.py,
t5.py, vae.py), in the file formats that release and the community use, under
crates/refvid-wan/tests/fixtures/original-layout/:

  t2v/                 config.json (WanModel style) + diffusion_pytorch_model.safetensors, f32,
                       no prefix: an original Wan folder's transformer
  t2v-single/          config.json + model_bf16.pth: bf16 torch.save, keys prefixed with
                       `model.diffusion_model.` (a single-file checkpoint)
  vace/                config.json (VaceWanModel, vace_layers) + vace.safetensors, f32, keys
                       prefixed with `diffusion_model.`
  umt5/models_t5_umt5-tiny-enc-bf16.pth   the text encoder as Wan ships it: bf16 torch.save
  vae/Wan2.1_VAE.pth   the VAE (Wan 2.1 topology, 2 residual blocks per level), f32 torch.save

The renaming here is written from the original modules' structure (diffusers -> original) and
checked against diffusers' own converters (original -> diffusers, loaders/single_file_utils.py):
converting each file back must give the diffusers state dict exactly. diffusers has no T5
converter; that table is checked to be a bijection onto transformers' names.
"""

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import FIXTURES, ensure_venv, save_tensors  # noqa: E402

OUT = FIXTURES / "original-layout"

# diffusers -> original, applied as whole-segment prefix renames (first match wins).
TRANSFORMER_TOP = [
    ("condition_embedder.time_embedder.linear_1", "time_embedding.0"),
    ("condition_embedder.time_embedder.linear_2", "time_embedding.2"),
    ("condition_embedder.text_embedder.linear_1", "text_embedding.0"),
    ("condition_embedder.text_embedder.linear_2", "text_embedding.2"),
    ("condition_embedder.time_proj", "time_projection.1"),
    ("proj_out", "head.head"),
    ("scale_shift_table", "head.modulation"),
    ("patch_embedding", "patch_embedding"),
    ("vace_patch_embedding", "vace_patch_embedding"),
]
TRANSFORMER_BLOCK = [
    ("attn1.to_out.0", "self_attn.o"),
    ("attn2.to_out.0", "cross_attn.o"),
    ("attn1.to_", "self_attn."),
    ("attn2.to_", "cross_attn."),
    ("attn1.", "self_attn."),
    ("attn2.", "cross_attn."),
    ("norm2", "norm3"),
    ("ffn.net.0.proj", "ffn.0"),
    ("ffn.net.2", "ffn.2"),
    ("scale_shift_table", "modulation"),
    ("proj_in", "before_proj"),
    ("proj_out", "after_proj"),
]


def rename(table, key):
    for src, dst in table:
        if key == src or key.startswith(src + ".") or (src.endswith((".", "_")) and key.startswith(src)):
            return dst + key[len(src):]
    raise KeyError(key)


def transformer_to_original(sd):
    out = {}
    for k, v in sd.items():
        m = re.match(r"(blocks|vace_blocks)\.(\d+)\.(.*)", k)
        out[f"{m[1]}.{m[2]}.{rename(TRANSFORMER_BLOCK, m[3])}" if m else rename(TRANSFORMER_TOP, k)] = v
    return out


T5_BLOCK = [
    ("layer.0.layer_norm", "norm1"),
    ("layer.0.SelfAttention.relative_attention_bias", "pos_embedding.embedding"),
    ("layer.0.SelfAttention.", "attn."),
    ("layer.1.layer_norm", "norm2"),
    ("layer.1.DenseReluDense.wi_0", "ffn.gate.0"),
    ("layer.1.DenseReluDense.wi_1", "ffn.fc1"),
    ("layer.1.DenseReluDense.wo", "ffn.fc2"),
]


def t5_to_original(sd):
    out = {}
    for k, v in sd.items():
        if k == "encoder.embed_tokens.weight":  # tied to shared.weight; the original has one copy
            continue
        m = re.match(r"encoder\.block\.(\d+)\.(.*)", k)
        if m:
            out[f"blocks.{m[1]}.{rename(T5_BLOCK, m[2])}"] = v
        else:
            out[{"shared.weight": "token_embedding.weight",
                 "encoder.final_layer_norm.weight": "norm.weight"}[k]] = v
    return out


VAE_RESIDUAL = [("norm1", "residual.0"), ("conv1", "residual.2"), ("norm2", "residual.3"),
                ("conv2", "residual.6"), ("conv_shortcut", "shortcut")]
VAE_TOP = [("conv_in", "conv1"), ("mid_block.resnets.0", "middle.0"),
           ("mid_block.attentions.0", "middle.1"), ("mid_block.resnets.1", "middle.2"),
           ("norm_out", "head.0"), ("conv_out", "head.2")]


def residual(rest):
    for src, dst in VAE_RESIDUAL:
        if rest.startswith(src + "."):
            return dst + rest[len(src):]
    return rest  # resample.1.*, time_conv.*, attention parts keep their names


def vae_to_original(sd, num_res_blocks):
    per_level = num_res_blocks + 2  # (r + 1) residual blocks and one upsampler
    out = {}
    for k, v in sd.items():
        if k.startswith("quant_conv."):
            out["conv1." + k.split(".", 1)[1]] = v
            continue
        if k.startswith("post_quant_conv."):
            out["conv2." + k.split(".", 1)[1]] = v
            continue
        part, rest = k.split(".", 1)
        m = re.match(r"down_blocks\.(\d+)\.(.*)", rest)
        u = re.match(r"up_blocks\.(\d+)\.(resnets\.(\d+)|upsamplers\.0)\.(.*)", rest)
        if m:
            new = f"downsamples.{m[1]}.{residual(m[2])}"
        elif u:
            level = int(u[1])
            flat = level * per_level + (int(u[3]) if u[3] is not None else num_res_blocks + 1)
            new = f"upsamples.{flat}.{residual(u[4])}"
        else:
            new = rename(VAE_TOP, rest)
            mm = re.match(r"(middle\.[02])\.(.*)", new)
            if mm:
                new = f"{mm[1]}.{residual(mm[2])}"
        out[f"{part}.{new}"] = v
    return out


def load(path):
    from safetensors.torch import load_file

    files = sorted(path.glob("*.safetensors"))
    sd = {}
    for f in files:
        sd.update(load_file(str(f)))
    return sd


def assert_same(a, b, what):
    assert set(a) == set(b), f"{what}: keys differ: {sorted(set(a) ^ set(b))[:8]}"
    for k in a:
        assert a[k].shape == b[k].shape and (a[k] == b[k]).all(), f"{what}: {k} differs"


def save_pth(path, sd, dtype=None):
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: (v.to(dtype) if dtype else v).clone().contiguous() for k, v in sd.items()}, str(path))


def write_json(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2) + "\n")


def original_config(diffusers_cfg, class_name, **extra):
    """The original `config.json` keys (Wan's WanModel/VaceWanModel) for a diffusers config."""
    c = diffusers_cfg
    dim = c["num_attention_heads"] * c["attention_head_dim"]
    return dict(_class_name=class_name, model_type="t2v", dim=dim, num_heads=c["num_attention_heads"],
                num_layers=c["num_layers"], ffn_dim=c["ffn_dim"], freq_dim=c["freq_dim"],
                in_dim=c["in_channels"], out_dim=c["out_channels"], text_len=512, eps=c["eps"],
                patch_size=list(c["patch_size"]), cross_attn_norm=c["cross_attn_norm"], qk_norm=True,
                window_size=[-1, -1], **extra)


def main():
    ensure_venv()
    import torch
    from diffusers.loaders.single_file_utils import (convert_wan_transformer_to_diffusers,
                                                     convert_wan_vae_to_diffusers)

    # Transformers: T2V (no cross-attention norm, 2-tap patch) and VACE.
    t2v_dir = FIXTURES / "tiny-wan-t2v-transformer"
    t2v = load(t2v_dir)
    t2v_orig = transformer_to_original(t2v)
    assert_same(convert_wan_transformer_to_diffusers(dict(t2v_orig)), t2v, "t2v")
    t2v_cfg = original_config(json.loads((t2v_dir / "config.json").read_text()), "WanModel")
    write_json(OUT / "t2v" / "config.json", t2v_cfg)
    save_tensors(OUT / "t2v" / "diffusion_pytorch_model.safetensors", t2v_orig)
    write_json(OUT / "t2v-single" / "config.json", t2v_cfg)
    save_pth(OUT / "t2v-single" / "model_bf16.pth",
             {"model.diffusion_model." + k: v for k, v in t2v_orig.items()}, torch.bfloat16)
    prefixed = {"model.diffusion_model." + k: v for k, v in t2v_orig.items()}
    assert_same(convert_wan_transformer_to_diffusers(prefixed), t2v, "t2v with prefix")

    vace_dir = FIXTURES / "tiny-vace" / "transformer"
    vace = load(vace_dir)
    vace_orig = transformer_to_original(vace)
    assert_same(convert_wan_transformer_to_diffusers(dict(vace_orig)), vace, "vace")
    vace_cfg = json.loads((vace_dir / "config.json").read_text())
    write_json(OUT / "vace" / "config.json", original_config(
        vace_cfg, "VaceWanModel", vace_layers=vace_cfg["vace_layers"],
        vace_in_dim=vace_cfg["vace_in_channels"]))
    save_tensors(OUT / "vace" / "vace.safetensors", {"diffusion_model." + k: v for k, v in vace_orig.items()})

    # UMT5 encoder: bf16 .pth, as models_t5_umt5-xxl-enc-bf16.pth.
    t5 = load(FIXTURES / "tiny-vace" / "text_encoder")
    t5_orig = t5_to_original(t5)
    tied = "encoder.embed_tokens.weight" in t5
    assert len(set(t5_orig)) == len(t5) - tied, "t5 renaming is not one to one"
    save_pth(OUT / "umt5" / "models_t5_umt5-tiny-enc-bf16.pth", t5_orig, torch.bfloat16)

    # VAE: f32 .pth, as Wan2.1_VAE.pth.
    vae_dir = FIXTURES / "tiny-vace" / "vae"
    vae = load(vae_dir)
    r = json.loads((vae_dir / "config.json").read_text())["num_res_blocks"]
    vae_orig = vae_to_original(vae, r)
    assert r == 2, "diffusers' converter hard-codes 2 residual blocks per level"
    assert_same(convert_wan_vae_to_diffusers(dict(vae_orig)), vae, "vae")
    save_pth(OUT / "vae" / "Wan2.1_VAE.pth", vae_orig)
    print("original-layout fixtures written and checked against diffusers' converters")


if __name__ == "__main__":
    main()
