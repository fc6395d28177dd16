#!/usr/bin/env python3
"""Builds the parity fixtures of refvid-wan's fast paths (run by hand, never in CI).

    REFVID_WAN_VENV=/work/main/.venv-wan python3 crates/refvid-wan/scripts/make_fast_fixtures.py

Writes, under crates/refvid-wan/tests/fixtures/fast/ (see the fixtures README, "Fast"):
  step_lists.json, step_lists.safetensors
      diffusers' UniPCMultistepScheduler (flow sigmas) and FlowMatchEulerDiscreteScheduler given
      explicit step lists as `set_timesteps(sigmas=t / 1000)`: sigmas and timesteps;
  euler_scheduler/scheduler_config.json
      a FlowMatchEulerDiscreteScheduler config (shift 5) for the tiny pipeline;
  few_step.safetensors
      the tiny reference-to-video pipeline (tiny-vace-r2v) run by diffusers with a 4-step list
      set on its scheduler and guidance 1 (one transformer pass per step), with the folder's
      UniPC and with flow Euler: the latents after every step and the frames;
  renoise.safetensors
      the x0-then-renoise loop of LightX2V's WanStepDistillScheduler (their 1000-entry shifted
      sigma table indexed at 1000 - t) on the same model and conditioning, with the fresh noise of
      every step saved: latents after every step, timesteps, sigmas, frames;
  caches.json, caches.safetensors
      the tiny pipeline with diffusers' First-Block-Cache and MagCache enabled on its transformer
      (`transformer.enable_cache(...)`), with and without guidance, MagCache with ratios of
      another length (interpolated), and a MagCache calibration run: every skip decision (and
      the measured change next to its threshold), the latents after every step, the frames, and
      the calibrated ratios of each guidance pass;
  lora/*.safetensors, loras.json, loras.safetensors
      LoRAs with random factors for the tiny VACE transformer (tiny-vace) and the tiny T2V one, in
      the three published key formats (diffusers/PEFT with lora_alpha in its metadata; the
      original Wan layout with alpha, diff_b, time_projection and head keys, also for the tiny
      Phantom transformer; musubi-tuner), each
      merged by diffusers (`load_lora_weights` + `fuse_lora(lora_scale=...)`), two at once, and a
      file of full `.diff` deltas merged by hand (diffusers skips those): the transformer outputs
      on the fixture inputs.

It reuses the venv and helpers of make_fixtures.py and the tiny pipeline folder written by
make_pipeline_fixtures.py (it changes neither). Everything is seeded; re-runs write the same bytes.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import FIXTURES, ensure_venv, save_tensors  # noqa: E402

FAST = FIXTURES / "fast"
R2V = FIXTURES / "tiny-vace-r2v"

# The published 4-step list of LightX2V / Self-Forcing and another uneven one.
STEP_LISTS = {
    "lightx2v": [1000.0, 750.0, 500.0, 250.0],
    "uneven": [987.5, 800.0, 431.0, 90.25, 3.0],
}
SHIFTS = [1.0, 3.0, 5.0, 8.0]

# The few-step pipeline runs: 64x48, 9 frames, the two references of pipeline_inputs.
FEW_STEPS = [1000.0, 750.0, 500.0, 250.0]
FEW_SHIFT = 5.0


# ---------------------------------------------------------------------------------------------
# Schedules

def unshifted_sigmas(timesteps):
    """What a caller passes to diffusers' `set_timesteps(sigmas=...)`: t / 1000 in f64 (the
    timesteps themselves as the f32 the parity command reads)."""
    import numpy as np

    return np.asarray(timesteps, dtype=np.float32).astype(np.float64) / 1000.0


def make_step_lists():
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler

    cases, tensors = [], {}
    for list_name, steps in STEP_LISTS.items():
        for shift in SHIFTS:
            for kind in ("unipc", "euler"):
                if kind == "unipc":
                    s = UniPCMultistepScheduler(prediction_type="flow_prediction",
                                                use_flow_sigmas=True, flow_shift=shift)
                else:
                    s = FlowMatchEulerDiscreteScheduler(shift=shift)
                s.set_timesteps(sigmas=unshifted_sigmas(steps))
                name = f"{kind}_{list_name}_s{shift:g}"
                tensors[f"{name}.sigmas"] = s.sigmas.to(torch.float32)
                tensors[f"{name}.timesteps"] = s.timesteps.to(torch.float64)
                cases.append({"name": name, "kind": kind, "shift": shift, "timesteps": steps})
    save_tensors(FAST / "step_lists.safetensors", tensors)
    (FAST / "step_lists.json").write_text(json.dumps(cases, indent=1) + "\n")
    print(f"step lists: {len(cases)} schedules")


# ---------------------------------------------------------------------------------------------
# The tiny pipeline, loaded from its folder

def load_module(cls, folder):
    """A diffusers model from its folder without `accelerate` (from_pretrained wants it for the
    modules kept in f32): the config, then the state dict of every safetensors file."""
    from safetensors.torch import load_file

    config = json.loads((folder / "config.json").read_text())
    model = cls.from_config(config)
    state = {}
    for f in sorted(folder.glob("*.safetensors")):
        state.update(load_file(str(f)))
    model.load_state_dict(state, strict=True)
    return model.eval()


def tiny_pipeline(scheduler=None):
    from diffusers import AutoencoderKLWan, WanVACETransformer3DModel
    from make_pipeline_fixtures import build_pipeline

    vae = load_module(AutoencoderKLWan, R2V / "vae")
    tr = load_module(WanVACETransformer3DModel, R2V / "transformer")
    pipe = build_pipeline(vae, tr)
    if scheduler is not None:
        pipe.scheduler = scheduler
    pipe.set_progress_bar_config(disable=True)
    return pipe


def pipeline_inputs():
    from safetensors.torch import load_file

    return load_file(str(FIXTURES / "pipeline_inputs.safetensors"))


def references(inputs):
    import PIL.Image

    out, i = [], 0
    while f"reference_rgb8.{i}" in inputs:
        out.append(PIL.Image.fromarray(inputs[f"reference_rgb8.{i}"].numpy(), "RGB"))
        i += 1
    return out


def with_step_list(scheduler, steps):
    """Makes the pipeline's own `set_timesteps(n, device)` call use the step list."""
    original = scheduler.set_timesteps
    sig = unshifted_sigmas(steps)

    def set_timesteps(num_inference_steps=None, device=None, **kw):
        assert num_inference_steps == len(steps), "num_inference_steps must equal S"
        original(device=device, sigmas=sig)

    scheduler.set_timesteps = set_timesteps
    return scheduler


def run_recorded(pipe, inputs, steps, guidance, record, **extra):
    import torch

    def on_step(p, i, t, kw):
        record[f"latents.{i}"] = kw["latents"].clone()
        record[f"timestep.{i}"] = torch.tensor(float(t), dtype=torch.float64)
        return {}

    with torch.no_grad():
        frames = pipe(
            prompt_embeds=inputs["prompt_embeds"],
            negative_prompt_embeds=inputs["negative_prompt_embeds"] if guidance > 1 else None,
            reference_images=references(inputs), height=int(inputs["height"]),
            width=int(inputs["width"]), num_frames=int(inputs["num_frames"]),
            num_inference_steps=steps, guidance_scale=guidance, latents=inputs["latents"].clone(),
            output_type="np", callback_on_step_end=on_step, **extra,
        ).frames
    record["video"] = torch.from_numpy(frames[0])
    return record


# ---------------------------------------------------------------------------------------------
# Few-step runs through diffusers' pipeline

def euler_scheduler():
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(shift=FEW_SHIFT)


def make_few_step():
    import torch
    from diffusers import UniPCMultistepScheduler

    inputs = pipeline_inputs()
    euler_scheduler().save_pretrained(str(FAST / "euler_scheduler"))
    out = {"timesteps": torch.tensor(FEW_STEPS, dtype=torch.float32),
           "flow_shift": torch.tensor(FEW_SHIFT, dtype=torch.float32)}
    unipc = UniPCMultistepScheduler.from_pretrained(str(R2V / "scheduler"), flow_shift=FEW_SHIFT)
    for name, sched in (("unipc", unipc), ("euler", euler_scheduler())):
        pipe = tiny_pipeline(with_step_list(sched, FEW_STEPS))
        rec = run_recorded(pipe, inputs, len(FEW_STEPS), 1.0, {})
        out.update({f"{name}.{k}": v for k, v in rec.items()})
    save_tensors(FAST / "few_step.safetensors", out)
    print("few-step runs:", [k for k in out if k.endswith("timestep.0")])


# ---------------------------------------------------------------------------------------------
# The x0-then-renoise loop (LightX2V WanStepDistillScheduler.step_post)

def lightx2v_schedule(steps, shift):
    """LightX2V's set_denoising_timesteps: a 1000-entry shifted table indexed at 1000 - t."""
    import torch

    sigmas = torch.linspace(1.0, 0.0, 1001)[:-1]
    sigmas = shift * sigmas / (1 + (shift - 1) * sigmas)
    index = [1000 - int(t) for t in steps]
    return sigmas[index] * 1000, sigmas[index]


def conditioning(pipe, inputs):
    import torch

    dev = torch.device("cpu")
    h, w, f = int(inputs["height"]), int(inputs["width"]), int(inputs["num_frames"])
    with torch.no_grad():
        video, mask, ref_pre = pipe.preprocess_conditions(
            None, None, references(inputs), 1, h, w, f, torch.float32, dev)
        cond = pipe.prepare_video_latents(video, mask, ref_pre, None, dev)
        return torch.cat([cond, pipe.prepare_masks(mask, ref_pre, None)], dim=1)


def decode(pipe, latents, n_ref):
    import torch

    with torch.no_grad():
        z = latents[:, :, n_ref:]
        mean = torch.tensor(pipe.vae.config.latents_mean).view(1, -1, 1, 1, 1)
        inv = 1.0 / torch.tensor(pipe.vae.config.latents_std).view(1, -1, 1, 1, 1)
        video = pipe.vae.decode(z / inv + mean, return_dict=False)[0]
        return pipe.video_processor.postprocess_video(video, output_type="np")[0]


def make_renoise():
    import torch

    inputs = pipeline_inputs()
    pipe = tiny_pipeline()
    cond = conditioning(pipe, inputs)
    timesteps, sigmas = lightx2v_schedule(FEW_STEPS, FEW_SHIFT)
    g = torch.Generator().manual_seed(50)
    x = inputs["latents"].clone()
    out = {"timesteps_in": torch.tensor(FEW_STEPS, dtype=torch.float32),
           "flow_shift": torch.tensor(FEW_SHIFT, dtype=torch.float32),
           "timesteps": timesteps.to(torch.float64), "sigmas": sigmas}
    scale = torch.ones(len(pipe.transformer.config.vace_layers))
    with torch.no_grad():
        for i, t in enumerate(timesteps):
            v = pipe.transformer(hidden_states=x, timestep=t.expand(1),
                                 encoder_hidden_states=inputs["prompt_embeds"],
                                 control_hidden_states=cond, control_hidden_states_scale=scale,
                                 return_dict=False)[0]
            x = x.float() - sigmas[i].item() * v.float()
            if i < len(timesteps) - 1:
                eps = torch.randn(x.shape, dtype=torch.float32, generator=g)
                out[f"noise.{i}"] = eps
                nxt = sigmas[i + 1].item()
                x = (1 - nxt) * x + nxt * eps
            out[f"latents.{i}"] = x.clone()
    n_ref = len(references(inputs))
    out["video"] = torch.from_numpy(decode(pipe, x, n_ref))
    save_tensors(FAST / "renoise.safetensors", out)
    print("renoise run: timesteps", [round(float(t), 3) for t in timesteps])


# ---------------------------------------------------------------------------------------------
# Step caches (diffusers hooks/first_block_cache.py and hooks/mag_cache.py)

CACHE_STEPS = 12


class DecisionLog:
    """Records every skip decision of the head hooks, in call order (cond, uncond, cond, ...),
    with the quantity compared against the threshold, and the calibrated ratios per context.
    The hooks are wrapped once; they record into the log made last."""

    current = None
    installed = False

    def __init__(self):
        self.decisions, self.measures, self.calibration = [], [], {}
        DecisionLog.current = self
        if not DecisionLog.installed:
            DecisionLog.installed = True
            self.install()

    @staticmethod
    def install():
        from diffusers.hooks import first_block_cache as fbc
        from diffusers.hooks import mag_cache as mc

        fbc_decide = fbc.FBCHeadBlockHook._should_compute_remaining_blocks

        def fbc_should_compute(hook, residual):
            state = hook.state_manager.get_state()
            prev = state.head_block_residual
            measure = -1.0 if prev is None else (
                ((residual - prev).abs().mean() / prev.abs().mean()).item())
            compute = fbc_decide(hook, residual)
            DecisionLog.current.decisions.append(int(compute))
            DecisionLog.current.measures.append(measure)
            return compute

        mag_forward = mc.MagCacheHeadHook.new_forward

        def mag_new_forward(hook, module, *args, **kwargs):
            out = mag_forward(hook, module, *args, **kwargs)
            state = hook.state_manager.get_state()
            DecisionLog.current.decisions.append(int(state.should_compute))
            DecisionLog.current.measures.append(float(state.accumulated_err))
            return out

        mag_calibrate = mc.MagCacheBlockHook._perform_calibration_step

        def mag_calibration_step(hook, state, residual):
            mag_calibrate(hook, state, residual)
            name = hook.state_manager.context.name
            ratios = DecisionLog.current.calibration.setdefault(name, [])
            ratios.append(float(state.calibration_ratios[-1]))

        fbc.FBCHeadBlockHook._should_compute_remaining_blocks = fbc_should_compute
        mc.MagCacheHeadHook.new_forward = mag_new_forward
        mc.MagCacheBlockHook._perform_calibration_step = mag_calibration_step


def cache_cases(ratios):
    from diffusers.hooks import FirstBlockCacheConfig, MagCacheConfig

    n = CACHE_STEPS
    return [
        ("fbc_cfg", dict(cache="first_block:0.5", steps=n, guidance=5.0),
         FirstBlockCacheConfig(threshold=0.5)),
        ("fbc_single", dict(cache="first_block:0.35", steps=n, guidance=1.0),
         FirstBlockCacheConfig(threshold=0.35)),
        ("mag_cfg", dict(cache="mag:0.15,2", steps=n, guidance=5.0, ratios=ratios),
         MagCacheConfig(threshold=0.15, max_skip_steps=2, num_inference_steps=n,
                        mag_ratios=ratios)),
        ("mag_interp", dict(cache="mag:0.3", steps=n - 2, guidance=5.0, ratios=ratios),
         MagCacheConfig(threshold=0.3, num_inference_steps=n - 2, mag_ratios=ratios)),
    ]


def run_cached(inputs, config, steps, guidance):
    log = DecisionLog()
    pipe = tiny_pipeline()
    pipe.transformer.enable_cache(config)
    rec = run_recorded(pipe, inputs, steps, guidance, {})
    return rec, log


def make_caches():
    import torch
    from diffusers.hooks import MagCacheConfig

    inputs = pipeline_inputs()
    # MagCache calibration on the 12-step run with guidance: the ratios of both passes.
    _, cal = run_cached(inputs, MagCacheConfig(calibrate=True, num_inference_steps=CACHE_STEPS),
                        CACHE_STEPS, 5.0)
    ratios = cal.calibration["cond"]
    out = {"calibration.cond": torch.tensor(cal.calibration["cond"]),
           "calibration.uncond": torch.tensor(cal.calibration["uncond"])}
    cases = [{"name": "calibration", "steps": CACHE_STEPS, "guidance": 5.0}]
    for name, case, config in cache_cases(ratios):
        rec, log = run_cached(inputs, config, case["steps"], case["guidance"])
        threshold = config.threshold
        margins = [abs(m - threshold) for m in log.measures if m >= 0]
        assert min(margins) > 1e-3, f"{name}: a decision within 1e-3 of the threshold"
        skipped = log.decisions.count(0)
        assert 0 < skipped < len(log.decisions) - 2, f"{name}: {log.decisions}"
        out.update({f"{name}.{k}": v for k, v in rec.items() if not k.startswith("timestep")})
        out[f"{name}.decisions"] = torch.tensor(log.decisions, dtype=torch.uint8)
        case.update(name=name, decisions=log.decisions, margin=min(margins))
        cases.append(case)
        print(f"{name}: {skipped} of {len(log.decisions)} passes skipped; "
              f"closest decision {min(margins):.3g} from the threshold")
    save_tensors(FAST / "caches.safetensors", out)
    (FAST / "caches.json").write_text(json.dumps(cases, indent=1) + "\n")


# ---------------------------------------------------------------------------------------------
# Step caches on Phantom-Wan: the three-pass loop of make_phantom_fixtures.py (subject2video.py),
# each pass in its own cache context.

PHANTOM_DIR = FIXTURES / "tiny-phantom"
PHANTOM_STEPS = 10
PHANTOM_CONTEXTS = ("pos_it", "pos_i", "neg")


def phantom_parts():
    from diffusers import AutoencoderKLWan, WanTransformer3DModel

    return (load_module(WanTransformer3DModel, PHANTOM_DIR / "transformer"),
            load_module(AutoencoderKLWan, PHANTOM_DIR / "vae"))


def phantom_loop(transformer, vae, inputs, steps, record):
    """Phantom's loop on the parity command's inputs (references already at the video size)."""
    import torch
    from diffusers import UniPCMultistepScheduler
    from diffusers.video_processor import VideoProcessor

    z = vae.config.z_dim
    mean = torch.tensor(vae.config.latents_mean).view(1, z, 1, 1, 1)
    inv_std = 1.0 / torch.tensor(vae.config.latents_std).view(1, z, 1, 1, 1)
    prepared = inputs["reference_images"]
    n = prepared.shape[0]
    pos, neg = inputs["prompt_embeds"], inputs["negative_prompt_embeds"]
    s_img, s_text = float(inputs["guidance_scale_image"]), float(inputs["guidance_scale_text"])
    with torch.no_grad():
        ref = torch.cat([(vae.encode(x[None, :, None]).latent_dist.mean - mean) * inv_std
                         for x in prepared], dim=2)
        sched = UniPCMultistepScheduler.from_config(
            json.loads((PHANTOM_DIR / "scheduler" / "scheduler_config.json").read_text()),
            flow_shift=float(inputs["flow_shift"]))
        sched.set_timesteps(steps)
        latents = inputs["latents"].clone()
        for i, t in enumerate(sched.timesteps):
            x_ref = torch.cat([latents[:, :, :-n], ref], dim=2)
            x_zero = torch.cat([latents[:, :, :-n], torch.zeros_like(ref)], dim=2)
            ts = t.expand(1)
            outs = []
            for name, x, text in zip(PHANTOM_CONTEXTS, (x_ref, x_ref, x_zero), (pos, neg, neg)):
                with transformer.cache_context(name):
                    outs.append(transformer(hidden_states=x, timestep=ts, encoder_hidden_states=text,
                                            return_dict=False)[0])
            pos_it, pos_i, neg_out = outs
            pred = neg_out + s_img * (pos_i - neg_out) + s_text * (pos_it - pos_i)
            latents = sched.step(pred, t, latents, return_dict=False)[0]
            record[f"latents.{i}"] = latents
        video = vae.decode(latents[:, :, :-n] / inv_std + mean, return_dict=False)[0]
        record["video"] = torch.from_numpy(
            VideoProcessor(vae_scale_factor=8).postprocess_video(video, output_type="np")[0])
    return record


def phantom_inputs():
    from safetensors.torch import load_file

    return load_file(str(FIXTURES / "phantom_check_inputs.safetensors"))


def make_phantom_caches():
    import torch
    from diffusers.hooks import FirstBlockCacheConfig, MagCacheConfig

    inputs = phantom_inputs()
    n = PHANTOM_STEPS
    log = DecisionLog()
    tr, vae = phantom_parts()
    tr.enable_cache(MagCacheConfig(calibrate=True, num_inference_steps=n))
    phantom_loop(tr, vae, inputs, n, {})
    ratios = log.calibration["pos_it"]
    out, cases = {}, []
    for name, spec, config in [
        ("phantom_fbc", "first_block:0.6", FirstBlockCacheConfig(threshold=0.6)),
        ("phantom_mag", "mag:0.2,2", MagCacheConfig(threshold=0.2, max_skip_steps=2,
                                                    num_inference_steps=n, mag_ratios=ratios)),
    ]:
        log = DecisionLog()
        tr, vae = phantom_parts()
        tr.enable_cache(config)
        rec = phantom_loop(tr, vae, inputs, n, {})
        margins = [abs(m - config.threshold) for m in log.measures if m >= 0]
        print(f"{name}: decisions {log.decisions}; closest {min(margins):.3g}")
        assert min(margins) > 1e-3 and 0 < log.decisions.count(0) < len(log.decisions) - 3, name
        out.update({f"{name}.{k}": v for k, v in rec.items()})
        out[f"{name}.decisions"] = torch.tensor(log.decisions, dtype=torch.uint8)
        cases.append({"name": name, "cache": spec, "steps": n, "decisions": log.decisions,
                      "ratios": ratios if name == "phantom_mag" else None,
                      "margin": min(margins)})
    save_tensors(FAST / "phantom_caches.safetensors", out)
    (FAST / "phantom_caches.json").write_text(json.dumps(cases, indent=1) + "\n")


# ---------------------------------------------------------------------------------------------
# LoRAs (diffusers loaders/lora_pipeline.py WanLoraLoaderMixin + lora_conversion_utils.py)

LORA = FAST / "lora"
BLOCK_LINEARS = {  # diffusers module -> original module, inside blocks.N
    "attn1.to_q": "self_attn.q", "attn1.to_k": "self_attn.k", "attn1.to_v": "self_attn.v",
    "attn1.to_out.0": "self_attn.o", "attn2.to_q": "cross_attn.q", "attn2.to_k": "cross_attn.k",
    "attn2.to_v": "cross_attn.v", "attn2.to_out.0": "cross_attn.o", "ffn.net.0.proj": "ffn.0",
    "ffn.net.2": "ffn.2",
}


def vace_transformer():
    from diffusers import WanVACETransformer3DModel

    return load_module(WanVACETransformer3DModel, FIXTURES / "tiny-vace" / "transformer")


def t2v_transformer():
    from diffusers import WanTransformer3DModel

    return load_module(WanTransformer3DModel, FIXTURES / "tiny-wan-t2v-transformer")


def lora_pair(model, module, rank, g):
    """Random A [rank, in] and B [out, rank] for a linear of the model."""
    import torch

    w = model.get_submodule(module).weight
    out_f, in_f = w.shape
    a = torch.randn(rank, in_f, generator=g) * (0.6 / in_f ** 0.5)
    b = torch.randn(out_f, rank, generator=g) * 0.4
    return a, b


def peft_file(model, g):
    """diffusers/PEFT keys, rank 4, lora_alpha 8 in the metadata, every linear of blocks 0-3:
    what `WanVACEPipeline.save_lora_weights(..., transformer_lora_adapter_metadata=...)` writes
    (written here directly so that the metadata's module list is sorted: diffusers passes it
    through a set, whose order changes from run to run)."""
    from safetensors.torch import save_file

    sd, targets = {}, []
    for i in range(4):
        for m in BLOCK_LINEARS:
            a, b = lora_pair(model, f"blocks.{i}.{m}", 4, g)
            sd[f"transformer.blocks.{i}.{m}.lora_A.weight"] = a.contiguous()
            sd[f"transformer.blocks.{i}.{m}.lora_B.weight"] = b.contiguous()
            targets.append(f"blocks.{i}.{m}")
    meta = {"transformer.lora_alpha": 8, "transformer.r": 4,
            "transformer.target_modules": sorted(targets)}
    save_file(sd, str(LORA / "peft_vace.safetensors"), metadata={
        "format": "pt", "lora_adapter_metadata": json.dumps(meta, indent=2, sort_keys=True)})


def original_file(model, blocks, g, name, cross_blocks):
    """The original layout as CausVid/lightx2v extractions write it: lora_down/lora_up/alpha
    (rank 4, alpha 2), diff_b on a few modules, time_projection and head without alpha."""
    import torch

    sd = {}
    for i in range(blocks):
        for m, o in BLOCK_LINEARS.items():
            if o.startswith("cross_attn") and i not in cross_blocks:
                continue
            a, b = lora_pair(model, f"blocks.{i}.{m}", 4, g)
            key = f"diffusion_model.blocks.{i}.{o}"
            sd[f"{key}.lora_down.weight"], sd[f"{key}.lora_up.weight"] = a, b
            sd[f"{key}.alpha"] = torch.tensor(2.0)
            if (i + len(o)) % 3 == 0:
                out_f = b.shape[0]
                sd[f"{key}.diff_b"] = torch.randn(out_f, generator=g) * 0.1
    for mod, orig in (("condition_embedder.time_proj", "time_projection.1"), ("proj_out", "head.head")):
        a, b = lora_pair(model, mod, 4, g)
        sd[f"diffusion_model.{orig}.lora_down.weight"] = a
        sd[f"diffusion_model.{orig}.lora_up.weight"] = b
    sd["diffusion_model.time_projection.1.diff_b"] = torch.randn(
        model.condition_embedder.time_proj.weight.shape[0], generator=g) * 0.1
    save_tensors(LORA / name, sd)


def musubi_file(model, g):
    """musubi-tuner keys for every block module (diffusers wants them all), rank 2, alpha 1."""
    import torch

    sd = {}
    for i in range(4):
        for m, o in BLOCK_LINEARS.items():
            a, b = lora_pair(model, f"blocks.{i}.{m}", 2, g)
            key = "lora_unet_blocks_{}_{}".format(i, o.replace(".", "_"))
            sd[f"{key}.lora_down.weight"], sd[f"{key}.lora_up.weight"] = a, b
            sd[f"{key}.alpha"] = torch.tensor(1.0)
    save_tensors(LORA / "musubi_vace.safetensors", sd)


# Full deltas (original key, diffusers parameter): a weight, a bias, a norm weight (original
# norm3 = diffusers norm2), a query norm, a modulation table.
DIFFS = [
    ("blocks.1.self_attn.q.diff", "blocks.1.attn1.to_q.weight"),
    ("blocks.1.self_attn.q.diff_b", "blocks.1.attn1.to_q.bias"),
    ("blocks.2.ffn.0.diff", "blocks.2.ffn.net.0.proj.weight"),
    ("blocks.1.norm3.diff", "blocks.1.norm2.weight"),
    ("blocks.0.cross_attn.norm_q.diff", "blocks.0.attn2.norm_q.weight"),
    ("blocks.3.modulation.diff", "blocks.3.scale_shift_table"),
]


def diff_file(model, g):
    import torch

    sd, by_param = {}, {}
    params = dict(model.named_parameters())
    for key, param in DIFFS:
        d = torch.randn(params[param].shape, generator=g) * 0.2
        sd[f"diffusion_model.{key}"], by_param[param] = d, d
    save_tensors(LORA / "diff_vace.safetensors", sd)
    return by_param


def forward(model, inputs):
    import torch

    with torch.no_grad():
        return model(**inputs, return_dict=False)[0]


def vace_forward_inputs():
    from safetensors.torch import load_file

    i = load_file(str(FIXTURES / "vace_inputs.safetensors"))
    return dict(hidden_states=i["hidden_states"], timestep=i["timestep"],
                encoder_hidden_states=i["encoder_hidden_states"],
                control_hidden_states=i["control_hidden_states"],
                control_hidden_states_scale=i["control_hidden_states_scale"])


def t2v_forward_inputs():
    from safetensors.torch import load_file

    i = load_file(str(FIXTURES / "t2v_inputs.safetensors"))
    return dict(hidden_states=i["hidden_states"], timestep=i["timestep"],
                encoder_hidden_states=i["encoder_hidden_states"])


def fused(make_model, pipeline_cls, loras):
    """diffusers: each LoRA loaded, fused with its scale and unloaded, in order."""
    model = make_model()
    pipe = pipeline_cls(tokenizer=None, text_encoder=None, transformer=model, vae=None,
                        scheduler=None)
    for n, (file, scale) in enumerate(loras):
        pipe.load_lora_weights(str(LORA / file), adapter_name=f"l{n}")
        pipe.fuse_lora(components=["transformer"], lora_scale=scale)
        pipe.unload_lora_weights()
    return model


LORA_CASES = [
    # name, model, [(file, scale)]
    ("peft", "vace", [("peft_vace.safetensors", 0.7)]),
    ("original", "vace", [("original_vace.safetensors", 1.0)]),
    ("musubi", "vace", [("musubi_vace.safetensors", 1.3)]),
    ("two", "vace", [("peft_vace.safetensors", 0.7), ("musubi_vace.safetensors", -0.5)]),
    ("original_t2v", "t2v", [("original_t2v.safetensors", 0.8)]),
    ("original_phantom", "phantom", [("original_phantom.safetensors", 0.9)]),
]


def phantom_transformer():
    return phantom_parts()[0]


def phantom_forward_inputs():
    """Random transformer inputs for the tiny Phantom transformer (saved for the Rust test)."""
    import torch

    g = torch.Generator().manual_seed(61)
    inputs = dict(hidden_states=torch.randn(1, 16, 3, 6, 8, generator=g),
                  timestep=torch.tensor([611.0]),
                  encoder_hidden_states=torch.randn(1, 7, 32, generator=g))
    save_tensors(FAST / "phantom_transformer_inputs.safetensors", inputs)
    return inputs


def make_loras():
    import torch
    from diffusers import WanPipeline, WanVACEPipeline

    LORA.mkdir(exist_ok=True)
    g = torch.Generator().manual_seed(60)
    vace = vace_transformer()
    peft_file(vace, g)
    original_file(vace, 4, g, "original_vace.safetensors", cross_blocks=(1, 2))
    musubi_file(vace, g)
    original_file(t2v_transformer(), 2, g, "original_t2v.safetensors", cross_blocks=(0, 1))
    diffs = diff_file(vace, g)
    original_file(phantom_transformer(), 3, g, "original_phantom.safetensors", cross_blocks=(0, 2))

    makers = {"vace": (vace_transformer, WanVACEPipeline, vace_forward_inputs()),
              "t2v": (t2v_transformer, WanPipeline, t2v_forward_inputs()),
              "phantom": (phantom_transformer, WanPipeline, phantom_forward_inputs())}
    out, cases = {}, []
    for name, kind, loras in LORA_CASES:
        make, cls, inputs = makers[kind]
        base = forward(make(), inputs)
        merged = forward(fused(make, cls, loras), inputs)
        change = (merged - base).abs().max().item()
        assert change > 0.05 * base.abs().max().item(), f"{name}: the LoRA barely changes the output"
        out[f"{name}.sample"] = merged
        cases.append({"name": name, "model": kind, "loras": [[f, s] for f, s in loras]})
        print(f"lora {name}: output moved by {change:.3g} (scale {base.abs().max().item():.3g})")

    # Full deltas by hand: W += scale * diff (diffusers ignores `.diff` keys).
    scale = 0.6
    model = vace_transformer()
    with torch.no_grad():
        params = dict(model.named_parameters())
        for param, d in diffs.items():
            params[param].add_(scale * d)
    out["diff.sample"] = forward(model, vace_forward_inputs())
    cases.append({"name": "diff", "model": "vace", "loras": [["diff_vace.safetensors", scale]]})
    save_tensors(FAST / "loras.safetensors", out)
    (FAST / "loras.json").write_text(json.dumps(cases, indent=1) + "\n")


def main():
    ensure_venv()
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(2)
    FAST.mkdir(exist_ok=True)
    make_step_lists()
    make_few_step()
    make_renoise()
    make_caches()
    make_phantom_caches()
    make_loras()


if __name__ == "__main__":
    main()
