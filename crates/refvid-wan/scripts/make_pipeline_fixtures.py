#!/usr/bin/env python3
"""Builds the scheduler and pipeline parity fixtures of refvid-wan (run by hand, not in CI).

    python3 crates/refvid-wan/scripts/make_pipeline_fixtures.py              # schedulers + pipeline
    python3 crates/refvid-wan/scripts/make_pipeline_fixtures.py --schedulers # schedulers only
    python3 crates/refvid-wan/scripts/make_pipeline_fixtures.py --bench      # also time the tiny pipeline

Writes, under crates/refvid-wan/tests/fixtures/:
  scheduler_cases.json, scheduler_schedules.safetensors, scheduler_runs.safetensors
      sigma/timestep schedules of diffusers' UniPCMultistepScheduler (flow sigmas) and
      FlowMatchEulerDiscreteScheduler for several (n, shift), and multi-step runs on fixed random
      model outputs with every intermediate sample;
  tiny-vace/scheduler/scheduler_config.json (+ scheduler/vae entries in tiny-vace/model_index.json);
  tiny-vace-r2v/  a complete tiny WanVACEPipeline folder (see the fixtures README) and
  pipeline_inputs.safetensors / pipeline_outputs.safetensors: one whole reference-to-video run
      with fixed initial noise, the latents after every step and the decoded frames.

It reuses the venv and helpers of make_fixtures.py (which it never runs: the existing fixtures are
left untouched).
"""

import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import FIXTURES, ensure_venv, reinit_, save_tensors  # noqa: E402


# ---------------------------------------------------------------------------------------------
# Schedulers

def unipc(**kw):
    from diffusers import UniPCMultistepScheduler

    base = dict(prediction_type="flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000)
    base.update(kw)
    return UniPCMultistepScheduler(**base)


def euler(**kw):
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(**kw)


SCHEDULE_CASES = (
    [(f"unipc_s{s}_n{n}", "unipc", dict(flow_shift=s), n)
     for s in (1.0, 3.0, 5.0, 16.0) for n in (1, 2, 5, 20, 50)]
    + [("unipc_sigma_min_s3_n10", "unipc", dict(flow_shift=3.0, final_sigmas_type="sigma_min"), 10)]
    + [(f"euler_s{s}_n{n}", "euler", dict(shift=s), n)
       for s in (1.0, 3.0, 5.0, 7.3) for n in (1, 2, 5, 20, 50)]
)

RUN_CASES = [
    # The shipped Wan config: order 2, bh2, lower_order_final, final sigma 0.
    ("unipc_wan_s3", "unipc", dict(flow_shift=3.0), 8),
    # Order 3 (the linear solves), bh1, a disabled corrector, final sigma_min (a last step of
    # h = 0). lower_order_final=False would make diffusers' last step NaN (rk = 0 or h = 0).
    ("unipc_o3_bh1", "unipc", dict(flow_shift=5.0, solver_order=3, solver_type="bh1",
                                   disable_corrector=[2], final_sigmas_type="sigma_min"), 7),
    ("euler_s3", "euler", dict(shift=3.0), 6),
]


def make_scheduler(kind, kw):
    return unipc(**kw) if kind == "unipc" else euler(**kw)


def config_json(sched):
    return json.loads(sched.to_json_string())


def make_schedulers():
    import torch

    cases, schedules, runs = [], {}, {}
    for name, kind, kw, n in SCHEDULE_CASES:
        s = make_scheduler(kind, kw)
        s.set_timesteps(n)
        schedules[f"{name}.sigmas"] = s.sigmas.to(torch.float32)
        schedules[f"{name}.timesteps"] = s.timesteps.clone()
        cases.append({"name": name, "kind": "schedule", "n": n, "config": config_json(s)})

    g = torch.Generator().manual_seed(11)
    for name, kind, kw, n in RUN_CASES:
        s = make_scheduler(kind, kw)
        s.set_timesteps(n)
        x = torch.randn(1, 4, 3, 6, 8, generator=g)
        runs[f"{name}.sample"] = x.clone()
        for i, t in enumerate(s.timesteps):
            v = torch.randn(x.shape, generator=g)
            runs[f"{name}.model_output.{i}"] = v
            x = s.step(v, t, x, return_dict=False)[0]
            runs[f"{name}.prev_sample.{i}"] = x.clone()
        cases.append({"name": name, "kind": "run", "n": n, "config": config_json(s)})

    save_tensors(FIXTURES / "scheduler_schedules.safetensors", schedules)
    save_tensors(FIXTURES / "scheduler_runs.safetensors", runs)
    (FIXTURES / "scheduler_cases.json").write_text(json.dumps(cases, indent=1) + "\n")
    print(f"scheduler fixtures: {len(SCHEDULE_CASES)} schedules, {len(RUN_CASES)} runs")


def wan_scheduler():
    """The scheduler config the Wan 2.1 checkpoints ship (convert_wan_to_diffusers.py)."""
    return unipc(flow_shift=3.0)


def write_scheduler_folder(pipe_dir):
    wan_scheduler().save_pretrained(str(pipe_dir / "scheduler"))


def model_index(components):
    import diffusers

    index = {"_class_name": "WanVACEPipeline", "_diffusers_version": diffusers.__version__}
    index.update(components)
    return index


PIPE_COMPONENTS = {
    "scheduler": ["diffusers", "UniPCMultistepScheduler"],
    "text_encoder": ["transformers", "UMT5EncoderModel"],
    "tokenizer": ["transformers", "T5TokenizerFast"],
    "transformer": ["diffusers", "WanVACETransformer3DModel"],
    "vae": ["diffusers", "AutoencoderKLWan"],
}


def complete_tiny_vace():
    """Adds scheduler/ and the scheduler and vae entries of model_index.json to tiny-vace/."""
    pipe = FIXTURES / "tiny-vace"
    write_scheduler_folder(pipe)
    (pipe / "model_index.json").write_text(json.dumps(model_index(PIPE_COMPONENTS), indent=2) + "\n")


# ---------------------------------------------------------------------------------------------
# The whole pipeline

R2V = FIXTURES / "tiny-vace-r2v"

# z_dim 16 and 4x8x8 compression like the real VAE, 8 channels throughout, 1 res block (~240 KB).
# (The 3-channel VAE of diffusers' own pipeline test, with these re-drawn weights, has decoders
# where a 1e-5 change of the latents moves some pixels by 0.05 or more: RMS norms of near-zero
# 3-vectors. This one moves them by < 1e-4.)
TINY_VAE = dict(base_dim=8, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                temperal_downsample=[False, True, True])

# Like make_fixtures.VACE_CONFIG, but wired to the VAE and the text encoder: in/out = z_dim,
# vace_in_channels = 2 z_dim + 64 (inactive + reactive latents + the 8x8 space-to-depth mask),
# text_dim = the UMT5 d_model (32).
R2V_TRANSFORMER = dict(
    patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=16,
    out_channels=16, text_dim=32, freq_dim=16, ffn_dim=48, num_layers=4, cross_attn_norm=True,
    qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=64, vace_layers=[0, 2, 3],
    vace_in_channels=96,
)

PROMPT = "A red fox walks   in the snow,\ncinematic light"
NEGATIVE = "blurry, low quality"
WIDTH, HEIGHT, FRAMES, STEPS, GUIDANCE, FLOW_SHIFT = 64, 48, 9, 3, 5.0, 3.0
# (width, height): the first is a multiple of 8 (no PIL resize), the second is not (PIL Lanczos
# down to 32x48 first) and is tall (pillarboxed on the white canvas).
REFERENCE_SIZES = [(40, 24), (37, 53)]


def reference_pil_images():
    import numpy as np
    import PIL.Image

    rng = np.random.default_rng(21)
    images = []
    for w, h in REFERENCE_SIZES:
        # Smooth-ish content (a gradient plus noise) so that resampling matters but is not chaos.
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (w + h)], axis=-1)
        img = np.clip(base + rng.normal(0, 40, size=(h, w, 3)), 0, 255).astype(np.uint8)
        images.append(PIL.Image.fromarray(img, "RGB"))
    return images


def make_r2v_folder():
    """tiny-vace-r2v/: text_encoder + tokenizer copied from tiny-vace, a new VAE and transformer."""
    import torch
    from diffusers import AutoencoderKLWan, WanVACETransformer3DModel

    src = FIXTURES / "tiny-vace"
    R2V.mkdir(exist_ok=True)
    for sub in ("text_encoder", "tokenizer"):
        shutil.rmtree(R2V / sub, ignore_errors=True)
        shutil.copytree(src / sub, R2V / sub)
    write_scheduler_folder(R2V)
    (R2V / "model_index.json").write_text(json.dumps(model_index(PIPE_COMPONENTS), indent=2) + "\n")

    torch.manual_seed(30)
    vae = AutoencoderKLWan(**TINY_VAE).eval()
    reinit_(vae, seed=30)
    vae.save_pretrained(str(R2V / "vae"))
    torch.manual_seed(31)
    tr = WanVACETransformer3DModel(**R2V_TRANSFORMER).eval()
    reinit_(tr, seed=31)
    tr.save_pretrained(str(R2V / "transformer"))
    return vae, tr


def build_pipeline(vae, transformer):
    """The pipeline from the saved text encoder/tokenizer and the in-memory VAE and transformer
    (WanVACEPipeline.from_pretrained wants `accelerate` for the fp32-kept transformer modules)."""
    import types

    import diffusers.pipelines.wan.pipeline_wan_vace as vace_module
    from diffusers import WanVACEPipeline
    from transformers import AutoTokenizer, UMT5EncoderModel

    # ftfy is not installed in the venv (and the Rust port does not repair mojibake either):
    # prompt_clean's ftfy.fix_text is the identity here; html.unescape and whitespace still run.
    if not hasattr(vace_module, "ftfy"):
        vace_module.ftfy = types.SimpleNamespace(fix_text=lambda text: text)

    te = UMT5EncoderModel.from_pretrained(str(R2V / "text_encoder")).eval()
    te.config._attn_implementation = "eager"
    return WanVACEPipeline(
        tokenizer=AutoTokenizer.from_pretrained(str(R2V / "tokenizer")), text_encoder=te,
        vae=vae, scheduler=wan_scheduler(), transformer=transformer,
    )


def pil_to_minus1_1(img):
    """What VideoProcessor.preprocess gives for an image whose sides are multiples of 8."""
    import numpy as np
    import torch

    a = np.asarray(img).astype(np.float32) / 255.0
    return torch.from_numpy(a).permute(2, 0, 1) * 2.0 - 1.0


def run_pipeline(pipe, refs, noise, record=None):
    import torch

    def on_step(p, i, t, kw):
        if record is not None:
            record[f"latents.{i}"] = kw["latents"].clone()
        return {}

    with torch.no_grad():
        return pipe(
            prompt=PROMPT, negative_prompt=NEGATIVE, reference_images=refs, height=HEIGHT,
            width=WIDTH, num_frames=FRAMES, num_inference_steps=STEPS, guidance_scale=GUIDANCE,
            latents=noise.clone(), output_type="np", callback_on_step_end=on_step,
        ).frames


def make_pipeline_fixture():
    import numpy as np
    import torch

    pipe = build_pipeline(*make_r2v_folder())
    pipe.set_progress_bar_config(disable=True)
    refs = reference_pil_images()
    n_ref = len(refs)
    z = pipe.vae.config.z_dim
    lat_frames = (FRAMES - 1) // 4 + 1 + n_ref
    g = torch.Generator().manual_seed(40)
    noise = torch.randn(1, z, lat_frames, HEIGHT // 8, WIDTH // 8, generator=g)

    with torch.no_grad():
        pe, ne = pipe.encode_prompt(PROMPT, NEGATIVE, do_classifier_free_guidance=True,
                                    max_sequence_length=512)
        video, mask, ref_pre = pipe.preprocess_conditions(
            None, None, refs, 1, HEIGHT, WIDTH, FRAMES, torch.float32, torch.device("cpu"))
        cond = pipe.prepare_video_latents(video, mask, ref_pre, None, torch.device("cpu"))
        vmask = pipe.prepare_masks(mask, ref_pre, None)
    # The references as VideoProcessor.preprocess returns them (PIL-resized to multiples of 8).
    pre = [pipe.video_processor.preprocess(r, None, None)[0] for r in refs]

    record = {}
    frames = run_pipeline(pipe, refs, noise, record)

    inputs = {
        "latents": noise,
        "prompt_embeds": pe,
        "negative_prompt_embeds": ne,
        "num_inference_steps": torch.tensor(STEPS, dtype=torch.int64),
        "guidance_scale": torch.tensor(GUIDANCE, dtype=torch.float32),
        "flow_shift": torch.tensor(FLOW_SHIFT, dtype=torch.float32),
        "num_frames": torch.tensor(FRAMES, dtype=torch.int64),
        "height": torch.tensor(HEIGHT, dtype=torch.int64),
        "width": torch.tensor(WIDTH, dtype=torch.int64),
    }
    for i, (img, p) in enumerate(zip(refs, pre)):
        inputs[f"reference_rgb8.{i}"] = torch.from_numpy(np.asarray(img).copy())  # [H, W, 3] u8
        inputs[f"reference_image.{i}"] = p  # [3, H', W'] in -1..1, H', W' multiples of 8
    outputs = {
        "reference_canvas": torch.stack(ref_pre[0]),  # [N, 3, H, W] on the white canvas
        "conditioning_latents": cond,  # [1, 2z, T + N, h, w]
        "mask": vmask,  # [1, 64, T + N, h, w]
        "video": torch.from_numpy(frames[0]),  # [F, H, W, 3] in 0..1
        **record,
    }
    save_tensors(FIXTURES / "pipeline_inputs.safetensors", inputs)
    save_tensors(FIXTURES / "pipeline_outputs.safetensors", outputs)
    meta = {"prompt": PROMPT, "negative_prompt": NEGATIVE, "width": WIDTH, "height": HEIGHT,
            "num_frames": FRAMES, "steps": STEPS, "guidance": GUIDANCE, "flow_shift": FLOW_SHIFT,
            "reference_sizes": REFERENCE_SIZES}
    (FIXTURES / "pipeline_case.json").write_text(json.dumps(meta, indent=1) + "\n")
    print("pipeline fixture: frames", frames.shape, "latents", noise.shape)
    return pipe, refs, noise


def bench_pipeline(pipe, refs, noise, runs=5):
    import torch

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    run_pipeline(pipe, refs, noise)
    t0 = time.perf_counter()
    for _ in range(runs):
        run_pipeline(pipe, refs, noise)
    dt = (time.perf_counter() - t0) / runs
    print(f"tiny pipeline (torch, {torch.get_num_threads()} threads, {WIDTH}x{HEIGHT}, {FRAMES} frames, "
          f"{len(refs)} refs, {STEPS} steps, CFG): {dt * 1e3:.1f} ms per video")
    stage_times(pipe, refs, noise, runs)


def stage_times(pipe, refs, noise, runs):
    """The same stages as the Rust example: VAE encodings, denoising, VAE decoding."""
    import torch

    dev = torch.device("cpu")
    with torch.no_grad():
        pe, ne = pipe.encode_prompt(PROMPT, NEGATIVE, do_classifier_free_guidance=True,
                                    max_sequence_length=512)
        ms = [0.0, 0.0, 0.0]
        for _ in range(runs):
            t0 = time.perf_counter()
            video, mask, ref_pre = pipe.preprocess_conditions(
                None, None, refs, 1, HEIGHT, WIDTH, FRAMES, torch.float32, dev)
            cond = pipe.prepare_video_latents(video, mask, ref_pre, None, dev)
            cond = torch.cat([cond, pipe.prepare_masks(mask, ref_pre, None)], dim=1)
            t1 = time.perf_counter()
            pipe.scheduler.set_timesteps(STEPS)
            x = noise.clone()
            scale = torch.ones(len(pipe.transformer.config.vace_layers))
            for t in pipe.scheduler.timesteps:
                kw = dict(hidden_states=x, timestep=t.expand(1), control_hidden_states=cond,
                          control_hidden_states_scale=scale, return_dict=False)
                c = pipe.transformer(encoder_hidden_states=pe, **kw)[0]
                u = pipe.transformer(encoder_hidden_states=ne, **kw)[0]
                x = pipe.scheduler.step(u + GUIDANCE * (c - u), t, x, return_dict=False)[0]
            t2 = time.perf_counter()
            z = x[:, :, len(refs):]
            mean = torch.tensor(pipe.vae.config.latents_mean).view(1, -1, 1, 1, 1)
            inv = 1.0 / torch.tensor(pipe.vae.config.latents_std).view(1, -1, 1, 1, 1)
            pipe.vae.decode(z / inv + mean, return_dict=False)
            t3 = time.perf_counter()
            for i, d in enumerate((t1 - t0, t2 - t1, t3 - t2)):
                ms[i] += d * 1e3 / runs
    print(f"stages: VAE encodings {ms[0]:.1f} ms, denoising {ms[1]:.1f} ms, "
          f"VAE decoding {ms[2]:.1f} ms")


def main():
    ensure_venv()
    import torch

    torch.manual_seed(0)
    make_schedulers()
    complete_tiny_vace()
    if "--schedulers" in sys.argv:
        return
    pipe, refs, noise = make_pipeline_fixture()
    if "--bench" in sys.argv:
        bench_pipeline(pipe, refs, noise)


if __name__ == "__main__":
    main()
