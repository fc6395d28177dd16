#!/usr/bin/env python3
"""Builds the Phantom-Wan parity fixtures of refvid-wan (run by hand, not in CI).

    python3 crates/refvid-wan/scripts/make_phantom_fixtures.py

Phantom-Wan (phantom-video/Phantom) is the Wan 2.1 text-to-video transformer with its own
weights; its pipeline (`phantom_wan/subject2video.py`, references prepared by `generate.py`'s
`load_ref_images`) is not in diffusers. This script runs that algorithm step by step with
diffusers' modules (WanTransformer3DModel, AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline's
prompt encoding):

  1. each reference image is fitted into the video size keeping its aspect ratio (Pillow Lanczos,
     sizes truncated with int()), padded with white around the centre, scaled to -1..1;
  2. each is VAE-encoded alone (posterior mean) to one latent frame and normalised with
     latents_mean/std; the N frames follow the T video frames; the noise covers T + N frames;
  3. every step runs the transformer three times: (prompt, references), (negative prompt,
     references), (negative prompt, zero references) -- the last N latent frames replaced by the
     reference latents or by zeros -- and combines them as
     neg + s_img * (pos_i - neg) + s_text * (pos_it - pos_i); the UniPC scheduler (the folder's
     config with flow_shift 5) steps all T + N frames;
  4. the last N frames are dropped, the rest de-normalised and decoded.

Writes under crates/refvid-wan/tests/fixtures/:
  tiny-phantom/            a diffusers WanPipeline folder: text_encoder/ and tokenizer/ copied from
                           tiny-vace, vae/ and scheduler/ from tiny-vace-r2v, a new random
                           WanTransformer3DModel in transformer/
  tiny-phantom-original/   the same model as the original release lays it out: Phantom-Wan-tiny.pth
                           and config.json (WanModel keys), models_t5_umt5-tiny-enc.pth,
                           Wan2.1_VAE.pth (all f32 torch.save, original key names), and
                           google/umt5-xxl/ (the tokenizer)
  phantom_check_inputs.safetensors: case `a` under the parity command's input names;
  phantom_cases.json, phantom_inputs.safetensors, phantom_outputs.safetensors: two runs (`a.*`:
      2 references, 3 steps; `b.*`: 5 references -- more than the 4 Phantom was trained with --,
      2 steps on an explicit step list) with the parity command's inputs and everything in
      between (see the fixtures README).
"""

import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import FIXTURES, ensure_venv, reinit_, save_tensors  # noqa: E402
from make_layout_fixtures import (original_config, save_pth, t5_to_original,  # noqa: E402
                                  transformer_to_original, vae_to_original)

PHANTOM = FIXTURES / "tiny-phantom"
ORIGINAL = FIXTURES / "tiny-phantom-original"
R2V = FIXTURES / "tiny-vace-r2v"

# A Wan T2V transformer wired to the tiny VAE (z 16) and text encoder (d_model 32).
TRANSFORMER = dict(
    patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=16,
    out_channels=16, text_dim=32, freq_dim=16, ffn_dim=48, num_layers=3, cross_attn_norm=True,
    qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=64,
)

WIDTH, HEIGHT, FRAMES = 64, 48, 9
CASES = {
    "a": dict(prompt="A red fox walks   in the snow,\ncinematic light", negative="blurry, low quality",
              steps=3, guidance_image=5.0, guidance_text=7.5, shift=5.0, timesteps=None,
              reference_sizes=[(40, 24), (37, 53)], seed=41),
    "b": dict(prompt="the woman in a blue coat walks along the beach", negative="",
              steps=2, guidance_image=3.0, guidance_text=4.5, shift=5.0, timesteps=[1000.0, 500.0],
              reference_sizes=[(30, 60), (64, 48), (100, 20), (20, 20), (51, 50)], seed=42),
}


def reference_images(sizes, seed):
    """Smooth-ish RGB8 images (a gradient plus noise) of the given (width, height)s."""
    import numpy as np
    import PIL.Image

    rng = np.random.default_rng(seed)
    out = []
    for w, h in sizes:
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (w + h)], axis=-1)
        img = np.clip(base + rng.normal(0, 40, size=(h, w, 3)), 0, 255).astype(np.uint8)
        out.append(PIL.Image.fromarray(img, "RGB"))
    return out


def fit_and_pad(img, w, h):
    """Phantom's generate.py `load_ref_images` for one image, then TF.to_tensor and (x-0.5)/0.5."""
    import numpy as np
    import PIL.Image
    import PIL.ImageOps
    import torch

    img = img.convert("RGB")
    img_ratio = img.width / img.height
    if img_ratio > w / h:
        new_w, new_h = w, int(w / img_ratio)
    else:
        new_w, new_h = int(h * img_ratio), h
    img = img.resize((new_w, new_h), PIL.Image.Resampling.LANCZOS)
    dw, dh = w - img.size[0], h - img.size[1]
    img = PIL.ImageOps.expand(img, (dw // 2, dh // 2, dw - dw // 2, dh - dh // 2), fill=(255, 255, 255))
    x = torch.from_numpy(np.asarray(img).astype(np.float32) / 255.0).permute(2, 0, 1)
    return x.sub(0.5).div(0.5)


def load_module(cls, folder):
    from safetensors.torch import load_file

    model = cls.from_config(json.loads((folder / "config.json").read_text()))
    state = {}
    for f in sorted(folder.glob("*.safetensors")):
        state.update(load_file(str(f)))
    model.load_state_dict(state, strict=True)
    return model.eval()


def make_folders():
    """tiny-phantom/ (diffusers) and tiny-phantom-original/ (original layout) of one model."""
    import diffusers
    import torch
    from diffusers import WanTransformer3DModel
    from safetensors.torch import load_file

    PHANTOM.mkdir(exist_ok=True)
    for src, sub in [(FIXTURES / "tiny-vace", "text_encoder"), (FIXTURES / "tiny-vace", "tokenizer"),
                     (R2V, "vae"), (R2V, "scheduler")]:
        shutil.rmtree(PHANTOM / sub, ignore_errors=True)
        shutil.copytree(src / sub, PHANTOM / sub)
    (PHANTOM / "model_index.json").write_text(json.dumps({
        "_class_name": "WanPipeline", "_diffusers_version": diffusers.__version__,
        "scheduler": ["diffusers", "UniPCMultistepScheduler"],
        "text_encoder": ["transformers", "UMT5EncoderModel"],
        "tokenizer": ["transformers", "T5TokenizerFast"],
        "transformer": ["diffusers", "WanTransformer3DModel"],
        "vae": ["diffusers", "AutoencoderKLWan"],
    }, indent=2) + "\n")
    torch.manual_seed(50)
    tr = WanTransformer3DModel(**TRANSFORMER).eval()
    reinit_(tr, seed=50)
    tr.save_pretrained(str(PHANTOM / "transformer"))

    shutil.rmtree(ORIGINAL, ignore_errors=True)
    ORIGINAL.mkdir()
    cfg = json.loads((PHANTOM / "transformer" / "config.json").read_text())
    (ORIGINAL / "config.json").write_text(json.dumps(original_config(cfg, "WanModel"), indent=2) + "\n")
    save_pth(ORIGINAL / "Phantom-Wan-tiny.pth", transformer_to_original(dict(tr.state_dict())))
    t5 = load_file(str(PHANTOM / "text_encoder" / "model.safetensors"))
    save_pth(ORIGINAL / "models_t5_umt5-tiny-enc.pth", t5_to_original(t5))
    vae = load_file(str(PHANTOM / "vae" / "diffusion_pytorch_model.safetensors"))
    r = json.loads((PHANTOM / "vae" / "config.json").read_text())["num_res_blocks"]
    save_pth(ORIGINAL / "Wan2.1_VAE.pth", vae_to_original(vae, r))
    shutil.copytree(PHANTOM / "tokenizer", ORIGINAL / "google" / "umt5-xxl")


def prompt_embeds(prompt, negative):
    """WanPipeline's prompt encoding (trim to the real length, zero-pad to 512)."""
    import types

    import diffusers.pipelines.wan.pipeline_wan as wan_module
    import torch
    from diffusers import WanPipeline
    from transformers import AutoTokenizer, UMT5EncoderModel

    # ftfy is not installed (and the Rust port does not repair mojibake): identity.
    if not hasattr(wan_module, "ftfy"):
        wan_module.ftfy = types.SimpleNamespace(fix_text=lambda text: text)
    te = UMT5EncoderModel.from_pretrained(str(PHANTOM / "text_encoder")).eval()
    te.config._attn_implementation = "eager"
    pipe = WanPipeline(tokenizer=AutoTokenizer.from_pretrained(str(PHANTOM / "tokenizer")),
                       text_encoder=te, transformer=None, vae=None, scheduler=None)
    with torch.no_grad():
        return pipe.encode_prompt(prompt, negative, do_classifier_free_guidance=True,
                                  max_sequence_length=512, device=torch.device("cpu"))


def run_case(name, case, transformer, vae, inputs, outputs):
    import numpy as np
    import torch
    from diffusers import UniPCMultistepScheduler
    from diffusers.video_processor import VideoProcessor

    pos, neg = prompt_embeds(case["prompt"], case["negative"])
    images = reference_images(case["reference_sizes"], case["seed"])
    prepared = torch.stack([fit_and_pad(im, WIDTH, HEIGHT) for im in images])
    n = len(images)
    z = vae.config.z_dim
    mean = torch.tensor(vae.config.latents_mean).view(1, z, 1, 1, 1)
    inv_std = 1.0 / torch.tensor(vae.config.latents_std).view(1, z, 1, 1, 1)
    t_frames = (FRAMES - 1) // 4 + 1
    g = torch.Generator().manual_seed(case["seed"])
    noise = torch.randn(1, z, t_frames + n, HEIGHT // 8, WIDTH // 8, generator=g)

    with torch.no_grad():
        # Each reference alone: [1, 3, 1, H, W] -> one normalised latent frame.
        ref = torch.cat([(vae.encode(x[None, :, None]).latent_dist.mean - mean) * inv_std
                         for x in prepared], dim=2)
        sched = UniPCMultistepScheduler.from_config(
            json.loads((PHANTOM / "scheduler" / "scheduler_config.json").read_text()),
            flow_shift=case["shift"])
        if case["timesteps"] is None:
            sched.set_timesteps(case["steps"])
        else:
            sched.set_timesteps(sigmas=np.asarray(case["timesteps"], np.float32).astype(np.float64) / 1000)
        latents = noise.clone()
        for i, t in enumerate(sched.timesteps):
            x_ref = torch.cat([latents[:, :, :-n], ref], dim=2)
            x_zero = torch.cat([latents[:, :, :-n], torch.zeros_like(ref)], dim=2)
            ts = t.expand(1)
            pos_it = transformer(hidden_states=x_ref, timestep=ts, encoder_hidden_states=pos, return_dict=False)[0]
            pos_i = transformer(hidden_states=x_ref, timestep=ts, encoder_hidden_states=neg, return_dict=False)[0]
            neg_out = transformer(hidden_states=x_zero, timestep=ts, encoder_hidden_states=neg, return_dict=False)[0]
            pred = neg_out + case["guidance_image"] * (pos_i - neg_out) + case["guidance_text"] * (pos_it - pos_i)
            if i == 0:
                for key, v in [("x_ref", x_ref), ("x_zero", x_zero), ("pos_it", pos_it), ("pos_i", pos_i),
                               ("neg", neg_out), ("noise_pred", pred)]:
                    outputs[f"{name}.step0.{key}"] = v
            latents = sched.step(pred, t, latents, return_dict=False)[0]
            outputs[f"{name}.latents.{i}"] = latents
            outputs[f"{name}.timestep.{i}"] = t.to(torch.float64).reshape(1)
        video = vae.decode(latents[:, :, :-n] / inv_std + mean, return_dict=False)[0]
        frames = VideoProcessor(vae_scale_factor=8).postprocess_video(video, output_type="np")[0]

    inputs[f"{name}.prompt_embeds"] = pos
    inputs[f"{name}.negative_prompt_embeds"] = neg
    inputs[f"{name}.latents"] = noise
    inputs[f"{name}.reference_images"] = prepared
    inputs[f"{name}.num_inference_steps"] = torch.tensor(float(case["steps"]))
    inputs[f"{name}.guidance_scale_image"] = torch.tensor(case["guidance_image"])
    inputs[f"{name}.guidance_scale_text"] = torch.tensor(case["guidance_text"])
    inputs[f"{name}.flow_shift"] = torch.tensor(case["shift"])
    if case["timesteps"] is not None:
        inputs[f"{name}.timesteps"] = torch.tensor(case["timesteps"], dtype=torch.float32)
    for i, im in enumerate(images):
        inputs[f"{name}.reference_rgb8.{i}"] = torch.from_numpy(np.asarray(im).copy())
    outputs[f"{name}.reference_latents"] = ref
    outputs[f"{name}.video"] = torch.from_numpy(frames)


def main():
    ensure_venv()
    import torch
    from diffusers import AutoencoderKLWan, WanTransformer3DModel

    torch.set_grad_enabled(False)
    make_folders()
    transformer = load_module(WanTransformer3DModel, PHANTOM / "transformer")
    vae = load_module(AutoencoderKLWan, PHANTOM / "vae")
    inputs, outputs = {}, {}
    for name, case in CASES.items():
        run_case(name, case, transformer, vae, inputs, outputs)
    save_tensors(FIXTURES / "phantom_inputs.safetensors", inputs)
    # Case a alone under the parity command's own names: `refvid wan check --module phantom
    # --inputs phantom_check_inputs.safetensors` runs it as it is.
    parity = {k[2:]: v for k, v in inputs.items() if k.startswith("a.") and "rgb8" not in k}
    save_tensors(FIXTURES / "phantom_check_inputs.safetensors", parity)
    save_tensors(FIXTURES / "phantom_outputs.safetensors", outputs)
    meta = {k: dict(v, width=WIDTH, height=HEIGHT, num_frames=FRAMES) for k, v in CASES.items()}
    (FIXTURES / "phantom_cases.json").write_text(json.dumps(meta, indent=1) + "\n")
    clamp = {k: float((v == 0).float().mean() + (v == 1).float().mean())
             for k, v in outputs.items() if k.endswith(".video")}
    print("phantom fixtures written; share of clamped pixels:", clamp)


if __name__ == "__main__":
    main()
