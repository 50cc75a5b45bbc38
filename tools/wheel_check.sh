#!/usr/bin/env bash
# The package as a user installs it: build the sdist and the wheel (python -m build), check
# their size and contents, install the wheel into a fresh venv (torch from the registry, nothing
# from this checkout) and run a smoke test there: CLI round trip, API, Pillow plugin, info.
#
#   bash tools/wheel_check.sh [WORKDIR]      (~1-2 min with a warm pip cache; needs the registry)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=${1:-$(mktemp -d)}
mkdir -p "$work"
python3 -m pip install -q build
rm -rf "$work/dist"
python3 -m build -q --outdir "$work/dist" . > "$work/build.log" 2>&1 || { tail -20 "$work/build.log"; exit 1; }
wheel=$(ls "$work"/dist/*.whl)
sdist=$(ls "$work"/dist/*.tar.gz)
wheel_bytes=$(stat -c %s "$wheel")
echo "wheel: $(basename "$wheel") $wheel_bytes bytes"
echo "sdist: $(basename "$sdist") $(stat -c %s "$sdist") bytes"
[ "$wheel_bytes" -lt 40000000 ] || { echo "FAIL: the wheel is 40 MB or more"; exit 1; }
python3 -m zipfile -l "$wheel" > "$work/wheel.txt"
models=$(grep -c '\.safetensors' "$work/wheel.txt" || true)
[ "$models" -eq 1 ] || { echo "FAIL: the wheel holds $models model files (the default model only)"; exit 1; }
tar tzf "$sdist" > "$work/sdist.txt"
grep -q '/tests/codec/test_bands.py$' "$work/sdist.txt" || { echo "FAIL: the sdist lacks the tests"; exit 1; }
tracked=$(git -C "$root" ls-files -z | xargs -0 stat -c %s | awk '{s += $1} END {print s}')
echo "tracked files at HEAD's checkout: $tracked bytes"
[ "$tracked" -lt $((40 * 1024 * 1024)) ] || { echo "FAIL: tracked files are 40 MiB or more"; exit 1; }

rm -rf "$work/venv"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q torch==2.13.0
"$work/venv/bin/pip" install -q "$wheel"
cd "$work"  # nothing of the checkout on the path
"$work/venv/bin/python" - <<'EOF'
import io, subprocess, sys
from pathlib import Path

import numpy as np
from PIL import Image

import licodec
import licodec.pillow  # noqa: F401 - registers .lic with Pillow

assert "site-packages" in licodec.__file__, licodec.__file__
yy, xx = np.mgrid[:96, :128]
img = np.stack([128 + 80 * np.sin(xx / (9 + 3 * c)) * np.cos(yy / 13) for c in range(3)], -1).round().astype(np.uint8)
Image.fromarray(img).save("smoke.png")
bin_dir = Path(sys.executable).parent
run = lambda *a: subprocess.run([str(bin_dir / "licodec"), *a], check=True, capture_output=True, text=True)
run("compress", "smoke.png", "-q", "4", "-o", "smoke.lic", "--quiet", "-f")
run("decompress", "smoke.lic", "-o", "smoke_out.png", "--quiet", "-f")
out = np.asarray(Image.open("smoke_out.png"))
psnr = 10 * np.log10(255**2 / np.mean((out.astype(float) - img) ** 2))
assert out.shape == img.shape and psnr > 25, psnr
data = licodec.compress(Image.fromarray(img), quality=4)
assert data == Path("smoke.lic").read_bytes()  # the API writes what the CLI writes
assert np.array_equal(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), out)  # Pillow plugin
print(run("info", "smoke.lic").stdout.strip())
print(f"smoke test passed: licodec {licodec.__version__}, {len(data)} bytes, {psnr:.2f} dB")
EOF
