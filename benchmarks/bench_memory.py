"""Peak memory of one encode and one decode against the pixel count (issues 19 and 20).

    python benchmarks/bench_memory.py                          # default model, synthetic photos
    python benchmarks/bench_memory.py --sizes 768x512,6000x4000 --image big.png

Each measurement is a fresh process (``compress`` from the image's uint8 pixels, or
``decompress(..., as_array=True)`` from the .lic bytes: no image file encoding) whose peak
resident memory (``ru_maxrss``, what ``/usr/bin/time -v`` reports) is read by the parent.
The table gives the peak, what torch and the model hold before any image (the base), and
the bytes per pixel above the base; the last line is the least-squares fit
peak = a + b · pixels over the sizes, and the bound the docs state is checked against it.
With ``--image``, each size is the image resized (Lanczos); else a synthetic photo.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = r"""
import json, resource, sys, time
import numpy as np
import licodec
from licodec.codec import api
mode, path, out = sys.argv[1], sys.argv[2], sys.argv[3]
codec = api.resolve_model(None)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t = time.perf_counter()
if mode == "encode":
    data = licodec.compress(np.load(path), quality=4, model=codec)
    open(out, "wb").write(data)
else:
    licodec.decompress(open(path, "rb").read(), model=codec, as_array=True)
seconds = time.perf_counter() - t
print(json.dumps({"base": base, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "seconds": seconds}))
"""

#: The stated bound on a decode's peak resident memory (docs/robustness.md), default model:
#: torch and the model, plus bytes per pixel. Checked against every measurement here.
DECODE_BASE_BYTES = 1 << 30
DECODE_BYTES_PER_PIXEL = 64


def _photo(h: int, w: int, source: str | None) -> np.ndarray:
    if source:
        from PIL import Image

        return np.asarray(Image.open(source).convert("RGB").resize((w, h), Image.LANCZOS))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_codec import synthetic_photo

    return synthetic_photo(h, w)


def _run(mode: str, path: Path, out: Path, threads: int) -> dict:
    env = {"OMP_NUM_THREADS": str(threads), "PATH": "/usr/bin:/bin"}
    import os

    env = {**os.environ, **env}
    r = subprocess.run([sys.executable, "-c", CHILD, mode, str(path), str(out)], capture_output=True, text=True, env=env, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="768x512,2048x1536,4096x3072,6000x4000", help="WxH,... (default: %(default)s)")
    ap.add_argument("--image", help="a photo to resize to each size (default: synthetic photos)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.sizes.split(","):
            w, h = (int(v) for v in spec.lower().split("x"))
            src, lic = Path(tmp) / f"{w}x{h}.npy", Path(tmp) / f"{w}x{h}.lic"
            np.save(src, _photo(h, w, args.image))
            enc = _run("encode", src, lic, args.threads)
            dec = _run("decode", lic, lic, args.threads)
            rows.append((w, h, enc, dec))
    mib = 1 << 20
    print(f"default model, quality 4, {args.threads} threads; peak resident memory of a fresh process (MiB)\n")
    print("| image | pixels | encode peak | encode s | decode peak | decode s | decode base | decode bytes/pixel above base |")
    print("|---|---|---|---|---|---|---|---|")
    for w, h, enc, dec in rows:
        px = w * h
        print(f"| {w}x{h} | {px / 1e6:.2f} M | {enc['peak'] / mib:,.0f} | {enc['seconds']:.1f} | {dec['peak'] / mib:,.0f} | {dec['seconds']:.1f} "
              f"| {dec['base'] / mib:,.0f} | {(dec['peak'] - dec['base']) / px:.1f} |")
    px = np.array([w * h for w, h, _, _ in rows], float)
    for name, key in (("encode", 2), ("decode", 3)):
        peak = np.array([r[key]["peak"] for r in rows], float)
        b, a = np.polyfit(px, peak, 1) if len(rows) > 1 else (0.0, peak[0])
        print(f"\n{name}: peak ~ {a / mib:,.0f} MiB + {b:.1f} bytes x pixels (least squares over {len(rows)} sizes)")
    ok = all(r[3]["peak"] <= DECODE_BASE_BYTES + DECODE_BYTES_PER_PIXEL * r[0] * r[1] for r in rows)
    print(f"stated decode bound {DECODE_BASE_BYTES / mib:,.0f} MiB + {DECODE_BYTES_PER_PIXEL} bytes x pixels: {'holds' if ok else 'EXCEEDED'} at every size")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
