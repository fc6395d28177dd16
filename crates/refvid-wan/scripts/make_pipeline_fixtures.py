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
left untouched). The pipeline part needs the tiny VAE at tiny-vace/vae/.
"""

import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import FIXTURES, VENV, reinit_, save_tensors  # noqa: E402


def ensure_venv():
    """Re-executes *this* script in the venv (make_fixtures.ensure_venv would re-run that script)."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    py = VENV / "bin" / "python"
    if not py.exists():
        sys.exit(f"no venv at {VENV}: run make_fixtures.py once first (it creates it)")
    os.execv(str(py), [str(py), __file__, *sys.argv[1:]])


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


def main():
    ensure_venv()
    import torch

    torch.manual_seed(0)
    make_schedulers()
    complete_tiny_vace()
    if "--schedulers" in sys.argv:
        return


if __name__ == "__main__":
    main()
