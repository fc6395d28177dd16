#!/usr/bin/env python3
"""Builds the parity fixtures of refvid-wan (run by hand, not in CI).

Creates tiny random-weight models with the reference implementations (transformers'
UMT5EncoderModel, diffusers' WanVACETransformer3DModel and WanTransformer3DModel), saves them in
the diffusers folder layout, and saves inputs and reference outputs as safetensors with the tensor
names of docs/PARITY.md, under crates/refvid-wan/tests/fixtures/.

    python3 crates/refvid-wan/scripts/make_fixtures.py            # (re)make the fixtures
    python3 crates/refvid-wan/scripts/make_fixtures.py --bench    # also time PyTorch (see README)

On first run it creates the virtual environment /work/main/.venv-wan (override with
REFVID_WAN_VENV) and pip-installs the pinned packages below from PyPI, then re-runs itself there.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

CRATE = Path(__file__).resolve().parent.parent
FIXTURES = CRATE / "tests" / "fixtures"
VENV = Path(os.environ.get("REFVID_WAN_VENV", CRATE.parent.parent / ".venv-wan"))
PINS = [
    "torch==2.15.0",
    "diffusers==0.42.1",
    "transformers==5.24.0",
    "tokenizers==0.23.3",
    "safetensors==0.8.0",
    "numpy",
    "sentencepiece",
    # diffusers' LoRA loading (make_fast_fixtures.py); brings accelerate with it.
    "peft==0.21.2",
]


def ensure_venv():
    """Re-executes the running script inside the venv, creating the venv first if needed."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    py = VENV / "bin" / "python"
    if not py.exists():
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
        subprocess.check_call([str(py), "-m", "pip", "install", *PINS])
    # sys.argv[0], not __file__: a script that imports this helper re-runs itself, not this file.
    os.execv(str(py), [str(py), os.path.abspath(sys.argv[0]), *sys.argv[1:]])


def reinit_(model, seed):
    """Gives every parameter a random value of a sensible scale (so that no path is ~0)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if p.ndim >= 2 and "relative_attention_bias" not in name and "scale_shift_table" not in name:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / fan_in**0.5)
            elif name.endswith("bias") and p.ndim == 1:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif p.ndim == 1:  # norm weights
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            else:  # relative_attention_bias, scale_shift_table
                p.copy_(0.5 * torch.randn(p.shape, generator=g))


def save_tensors(path, tensors):
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))


def make_tokenizer(out_dir):
    """A tiny Unigram tokenizer in T5TokenizerFast style: <pad>=0, </s>=1, <unk>=2, '$A </s>'.

    The vocabulary is written out (not trained: the trainer is not reproducible): whole words of a
    few sentences, some sub-word pieces, and single characters as the fallback.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    corpus = " ".join([
        "a red fox jumps over the lazy dog in the snow",
        "the woman in a blue coat walks along the beach at sunset",
        "cinematic shot of a city street at night, neon lights, rain",
    ])
    words = sorted(set(corpus.replace(",", " ").split()))
    subwords = ["ing", "ed", "s", "er", "th", "wa", "lk"]
    chars = sorted(set(corpus.replace(" ", "")))
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -3.0)]
    vocab += [("\u2581" + w, -2.0 - 0.01 * i) for i, w in enumerate(words)]
    vocab += [(p, -4.0 - 0.01 * i) for i, p in enumerate(subwords)]
    vocab += [(c, -8.0 - 0.01 * i) for i, c in enumerate(chars)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=2, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out_dir))
    return fast


PROMPTS = [
    "A red fox walks in the snow, cinematic light; zebra!",
    # Long enough to be truncated at 512 tokens (with the end token).
    " ".join(["the woman in a blue coat walks along the beach at sunset with a dog"] * 40),
]


def make_text_encoder(pipe_dir, tokenizer):
    import torch
    from transformers import UMT5Config, UMT5EncoderModel

    cfg = UMT5Config(
        vocab_size=128,
        d_model=32,
        d_kv=8,
        d_ff=48,
        num_layers=3,
        num_heads=4,
        relative_attention_num_buckets=32,
        relative_attention_max_distance=128,
        feed_forward_proj="gated-gelu",
        dropout_rate=0.0,
        layer_norm_epsilon=1e-6,
    )
    cfg._attn_implementation = "eager"
    model = UMT5EncoderModel(cfg).eval()
    reinit_(model, seed=1)
    model.save_pretrained(str(pipe_dir / "text_encoder"))

    enc = tokenizer(PROMPTS, padding="max_length", max_length=512, truncation=True,
                    add_special_tokens=True, return_attention_mask=True, return_tensors="pt")
    ids, mask = enc.input_ids.long(), enc.attention_mask.long()
    with torch.no_grad():
        h = model(input_ids=ids, attention_mask=mask).last_hidden_state
    # What WanVACEPipeline._get_t5_prompt_embeds does: trim to the real length, zero-pad back.
    lens = mask.gt(0).sum(dim=1)
    embeds = torch.stack([torch.cat([u[:v], u.new_zeros(512 - v, u.size(1))]) for u, v in zip(h, lens)])
    save_tensors(FIXTURES / "text_encoder_inputs.safetensors", {"input_ids": ids, "attention_mask": mask})
    save_tensors(FIXTURES / "text_encoder_outputs.safetensors",
                 {"last_hidden_state": h, "prompt_embeds": embeds})
    (FIXTURES / "tokenizer_prompts.json").write_text(json.dumps(PROMPTS, indent=1) + "\n")


VACE_CONFIG = dict(
    patch_size=(1, 2, 2),
    num_attention_heads=2,
    attention_head_dim=16,
    in_channels=4,
    out_channels=4,
    text_dim=20,
    freq_dim=16,
    ffn_dim=48,
    num_layers=4,
    cross_attn_norm=True,
    qk_norm="rms_norm_across_heads",
    eps=1e-6,
    rope_max_seq_len=64,
    vace_layers=[0, 2, 3],
    vace_in_channels=12,
)

# Base (non-VACE) model exercising a 2-tap time kernel and no cross-attention norm.
T2V_CONFIG = dict(
    patch_size=(2, 2, 2),
    num_attention_heads=2,
    attention_head_dim=12,
    in_channels=3,
    out_channels=5,
    text_dim=10,
    freq_dim=8,
    ffn_dim=40,
    num_layers=2,
    cross_attn_norm=False,
    qk_norm="rms_norm_across_heads",
    eps=1e-6,
    rope_max_seq_len=64,
)


def make_vace(pipe_dir):
    import torch
    from diffusers import WanVACETransformer3DModel

    torch.manual_seed(2)
    model = WanVACETransformer3DModel(**VACE_CONFIG).eval()
    reinit_(model, seed=2)
    # Sharded on purpose: exercises *.safetensors.index.json.
    model.save_pretrained(str(pipe_dir / "transformer"), max_shard_size="150KB")

    g = torch.Generator().manual_seed(3)
    # 2 reference frames + 3 video frames = 5 latent frames (odd), 6x8 latent pixels.
    b, f, h, w = 2, 5, 6, 8
    inputs = {
        "hidden_states": torch.randn(b, 4, f, h, w, generator=g),
        "timestep": torch.tensor([999, 250], dtype=torch.int64),
        "encoder_hidden_states": torch.randn(b, 7, 20, generator=g),
        "control_hidden_states": torch.randn(b, 12, f, h, w, generator=g),
        "control_hidden_states_scale": torch.tensor([0.5, 1.0, 1.5]),
    }
    with torch.no_grad():
        out = model(**inputs, return_dict=False)[0]
    save_tensors(FIXTURES / "vace_inputs.safetensors", inputs)
    save_tensors(FIXTURES / "vace_outputs.safetensors", {"sample": out})
    return model, inputs


def make_t2v():
    import torch
    from diffusers import WanTransformer3DModel

    torch.manual_seed(4)
    model = WanTransformer3DModel(**T2V_CONFIG).eval()
    reinit_(model, seed=4)
    model.save_pretrained(str(FIXTURES / "tiny-wan-t2v-transformer"))
    g = torch.Generator().manual_seed(5)
    inputs = {
        "hidden_states": torch.randn(1, 3, 6, 4, 6, generator=g),
        "timestep": torch.tensor([421.5]),
        "encoder_hidden_states": torch.randn(1, 9, 10, generator=g),
    }
    with torch.no_grad():
        out = model(**inputs, return_dict=False)[0]
    save_tensors(FIXTURES / "t2v_inputs.safetensors", inputs)
    save_tensors(FIXTURES / "t2v_outputs.safetensors", {"sample": out})


def bench(model, inputs, runs=20):
    import torch

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    with torch.no_grad():
        for _ in range(3):
            model(**inputs, return_dict=False)
        t0 = time.perf_counter()
        for _ in range(runs):
            model(**inputs, return_dict=False)
    return (time.perf_counter() - t0) / runs


# A larger config for a meaningful CPU timing (weights are not kept in the repo).
BENCH_CONFIG = dict(VACE_CONFIG, num_attention_heads=4, attention_head_dim=64, ffn_dim=1024,
                    text_dim=64, freq_dim=64, num_layers=4)


def make_bench(out_dir):
    import torch
    from diffusers import WanVACETransformer3DModel

    torch.manual_seed(6)
    model = WanVACETransformer3DModel(**BENCH_CONFIG).eval()
    reinit_(model, seed=6)
    model.save_pretrained(str(out_dir / "transformer"))
    g = torch.Generator().manual_seed(7)
    b, f, h, w = 1, 5, 32, 32  # 5 x 16 x 16 = 1280 tokens
    inputs = {
        "hidden_states": torch.randn(b, 4, f, h, w, generator=g),
        "timestep": torch.tensor([500.0]),
        "encoder_hidden_states": torch.randn(b, 64, 64, generator=g),
        "control_hidden_states": torch.randn(b, 12, f, h, w, generator=g),
        "control_hidden_states_scale": torch.ones(3),
    }
    save_tensors(out_dir / "inputs.safetensors", inputs)
    return model, inputs


def main():
    ensure_venv()
    import diffusers
    import tokenizers
    import torch
    import transformers

    torch.manual_seed(0)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    pipe = FIXTURES / "tiny-vace"
    pipe.mkdir(exist_ok=True)
    (pipe / "model_index.json").write_text(json.dumps({
        "_class_name": "WanVACEPipeline",
        "_diffusers_version": diffusers.__version__,
        "text_encoder": ["transformers", "UMT5EncoderModel"],
        "tokenizer": ["transformers", "T5TokenizerFast"],
        "transformer": ["diffusers", "WanVACETransformer3DModel"],
    }, indent=2) + "\n")
    tokenizer = make_tokenizer(pipe / "tokenizer")
    make_text_encoder(pipe, tokenizer)
    vace_model, vace_inputs = make_vace(pipe)
    make_t2v()
    versions = {
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
    }
    (FIXTURES / "versions.json").write_text(json.dumps(versions, indent=2) + "\n")
    print("fixtures written:", versions)

    if "--bench" in sys.argv:
        bench_dir = Path(os.environ.get("REFVID_WAN_BENCH_DIR", "/tmp/refvid-wan-bench"))
        print(f"tiny VACE fixture forward (torch, {os.environ.get('BENCH_THREADS', '2')} threads): "
              f"{bench(vace_model, vace_inputs, runs=200) * 1e3:.3f} ms")
        model, inputs = make_bench(bench_dir)
        print(f"bench VACE config forward (torch), 1280 tokens: {bench(model, inputs, runs=5) * 1e3:.1f} ms"
              f" -- model at {bench_dir}")


if __name__ == "__main__":
    main()
