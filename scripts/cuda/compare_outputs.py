#!/usr/bin/env python3
"""Compares two safetensors files tensor by tensor (standard library only): for each tensor of
the reference, rel = max|test - ref| / max(max|ref|, 1e-6). Prints one line per tensor and exits 1
if any rel exceeds TOL or a tensor is missing, misshapen or not finite.

usage: compare_outputs.py REF.safetensors TEST.safetensors TOL
"""
import array, json, math, struct, sys

FORMATS = {"F32": "f", "F64": "d", "I64": "q", "I32": "i", "U8": "B"}


def load(path):
    with open(path, "rb") as fh:
        n = struct.unpack("<Q", fh.read(8))[0]
        header = json.loads(fh.read(n))
        data = fh.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        a, b = meta["data_offsets"]
        raw = data[a:b]
        if meta["dtype"] in FORMATS:
            vals = array.array(FORMATS[meta["dtype"]])
            vals.frombytes(raw)
        elif meta["dtype"] in ("BF16", "F16"):
            # bf16: the high half of an f32; f16 through struct's 'e'.
            if meta["dtype"] == "BF16":
                vals = array.array("f")
                vals.frombytes(b"".join(b"\0\0" + raw[i:i + 2] for i in range(0, len(raw), 2)))
            else:
                vals = [struct.unpack_from("<e", raw, i)[0] for i in range(0, len(raw), 2)]
        else:
            raise SystemExit(f"{path}: {name} has dtype {meta['dtype']}")
        out[name] = (meta["shape"], vals)
    return out


ref, test, tol = load(sys.argv[1]), load(sys.argv[2]), float(sys.argv[3])
worst, bad = 0.0, []
for name, (shape, r) in sorted(ref.items()):
    if name not in test:
        bad.append(f"{name}: missing")
        continue
    tshape, t = test[name]
    if tshape != shape:
        bad.append(f"{name}: shape {tshape} != {shape}")
        continue
    if not all(math.isfinite(x) for x in t):
        bad.append(f"{name}: not finite")
        continue
    scale = max((abs(x) for x in r), default=0.0)
    diff = max((abs(a - b) for a, b in zip(t, r)), default=0.0)
    rel = diff / max(scale, 1e-6)
    worst = max(worst, rel)
    flag = "ok" if rel <= tol else "FAIL"
    print(f"  {name:40s} {str(shape):24s} max|d|={diff:.3e} max|ref|={scale:.3e} rel={rel:.3e} {flag}")
    if rel > tol:
        bad.append(f"{name}: rel {rel:.3e} > {tol:g}")
print(f"worst rel {worst:.3e} (tolerance {tol:g})")
for b in bad:
    print("FAIL", b)
sys.exit(1 if bad else 0)
