#!/usr/bin/env python3
"""Writes a random VACE transformer with head dimension 128 (2 heads, width 256) shaped like the
tiny-vace fixture otherwise, so that `refvid wan check --module transformer` takes the fused
flash-attention path on CUDA in bf16/f16 and can be compared with the CPU run. The fixture's
inputs (vace_inputs.safetensors) fit it unchanged. Standard library only.

usage: make_hd128_model.py FIXTURES_DIR OUT_DIR   (writes OUT_DIR/transformer/)
"""
import array, glob, json, os, random, struct, sys

fixtures, out = sys.argv[1], sys.argv[2]
src = os.path.join(fixtures, "tiny-vace", "transformer")
cfg = json.load(open(os.path.join(src, "config.json")))
old_dim = cfg["num_attention_heads"] * cfg["attention_head_dim"]
cfg["attention_head_dim"] = 128
new_dim = cfg["num_attention_heads"] * 128
widen = {old_dim: new_dim, 6 * old_dim: 6 * new_dim}

shapes = {}
for f in sorted(glob.glob(os.path.join(src, "*.safetensors"))):
    with open(f, "rb") as fh:
        n = struct.unpack("<Q", fh.read(8))[0]
        for k, v in json.loads(fh.read(n)).items():
            if k != "__metadata__":
                shapes[k] = [widen.get(d, d) for d in v["shape"]]

rng = random.Random(128)
header, blobs, offset = {}, [], 0
for name in sorted(shapes):
    shape = shapes[name]
    count = 1
    for d in shape:
        count *= d
    if "norm" in name and name.endswith(".weight"):
        vals = [1.0 + rng.gauss(0, 0.1) for _ in range(count)]
    elif len(shape) >= 2 and "scale_shift_table" not in name:
        fan_in = count // shape[0]
        std = 1.0 / fan_in ** 0.5
        vals = [rng.gauss(0, std) for _ in range(count)]
    else:
        vals = [rng.gauss(0, 0.1) for _ in range(count)]
    blob = array.array("f", vals).tobytes()
    header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
    blobs.append(blob)
    offset += len(blob)

dst = os.path.join(out, "transformer")
os.makedirs(dst, exist_ok=True)
json.dump(cfg, open(os.path.join(dst, "config.json"), "w"), indent=2)
h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)
with open(os.path.join(dst, "diffusion_pytorch_model.safetensors"), "wb") as fh:
    fh.write(struct.pack("<Q", len(h)) + h)
    for b in blobs:
        fh.write(b)
print(f"{dst}: head dim 128, width {new_dim}, {len(shapes)} tensors, {offset / 2**20:.1f} MiB")
