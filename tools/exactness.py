"""Cross-machine exactness: files coded on one machine decode bit-exactly on another.

    python tools/exactness.py prepare IMAGE... --out DIR [--quality 1,4,8]   # here
    python tools/exactness.py check DIR                                       # there

``prepare`` compresses each image at each quality with the default model, and writes
the .lic files, the source images, the decoded images (PNG) and ``manifest.json``
(SHA-256 of every file's bytes, of its decoded latents y_hat and of its decoded pixels).
``check``, on another machine (another CPU, another torch, with or without the C kernels),
decodes every file and re-encodes every source, and prints one row per file: whether the
latents and the re-encoded bytes are identical to this machine's, and how far the decoded
pixels are from this machine's. Exit status 1 if latents or bytes differ.

licodec's entropy parameters are exact integer functions of the coded symbols (fixed-point
networks, integer tables), so the latents a file decodes to are the same on any machine:
this is the check. The pixels are g_s(y_hat) in floating point, whose rounding depends on
the CPU's kernels: they may differ by a little, which the check measures. Re-encoded bytes
depend on g_a's float output rounding to the same y: expected, not guaranteed, for a
y value that falls within float error of a rounding boundary.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import platform
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _machine() -> str:
    import torch

    from licodec.codec import steps

    cpu = platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    kernels = "C kernels" if steps.kernels() is not None else "no C kernels (PyTorch arithmetic)"
    return f"{cpu}; Python {platform.python_version()}; torch {torch.__version__}; {kernels}"


def _decode(data: bytes):
    """(SHA-256 of the latents, decoded pixels (H, W, 3) uint8)."""
    import numpy as np

    import licodec
    from licodec.codec.api import decode_latents

    y_hat, _, _ = decode_latents(data)
    latents = _sha(y_hat.contiguous().numpy().tobytes())
    return latents, np.ascontiguousarray(licodec.decompress(data, as_array=True))


def prepare(images: list[str], out: Path, qualities: list[float]) -> int:
    from PIL import Image

    import licodec
    from licodec.codec.image import load_rgb

    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for src in map(Path, images):
        shutil.copy2(src, out / src.name)
        arr = load_rgb(src)
        for q in qualities:
            data = licodec.compress(arr, quality=q)
            name = f"{src.stem}-q{q:g}.lic"
            (out / name).write_bytes(data)
            latents, pixels = _decode(data)
            Image.fromarray(pixels).save(out / f"{name}.png")
            entries.append({"file": name, "source": src.name, "quality": q, "bytes_sha256": _sha(data),
                            "latents_sha256": latents, "pixels_sha256": _sha(pixels.tobytes())})
    (out / "manifest.json").write_text(json.dumps({"machine": _machine(), "files": entries}, indent=1))
    print(f"{len(entries)} files in {out} ({_machine()})")
    return 0


def check(folder: Path) -> int:
    import numpy as np

    import licodec
    from licodec.codec.image import load_rgb

    manifest = json.loads((folder / "manifest.json").read_text())
    print(f"written on: {manifest['machine']}")
    print(f"checked on: {_machine()}")
    print()
    print("| file | bytes | latents identical | re-encoded bytes identical | pixels identical | pixels differing | largest difference | PSNR between the two decodes (dB) |")
    print("|---|---|---|---|---|---|---|---|")
    from licodec.errors import CodecError

    bad = 0
    for e in manifest["files"]:
        data = (folder / e["file"]).read_bytes()
        try:
            latents, pixels = _decode(data)
        except CodecError as exc:  # e.g. prepared before the default model changed
            print(f"exactness: {e['file']}: {exc}; run `tools/exactness.py prepare` again with this checkout")
            return 2
        same_latents = latents == e["latents_sha256"]
        same_bytes = _sha(licodec.compress(load_rgb(folder / e["source"]), quality=e["quality"])) == e["bytes_sha256"]
        ref = load_rgb(folder / f"{e['file']}.png").astype(np.int16)
        diff = np.abs(pixels.astype(np.int16) - ref)
        mse = float(np.mean(diff.astype(np.float64) ** 2))
        psnr = "identical" if mse == 0 else f"{10 * np.log10(255 ** 2 / mse):.1f}"
        bad += (not same_latents) + (not same_bytes)
        yes = lambda ok: "yes" if ok else "NO"  # noqa: E731
        print(f"| {e['file']} | {len(data)} | {yes(same_latents)} | {yes(same_bytes)} | {yes(not diff.any())} | "
              f"{100 * float(np.mean(diff.any(axis=2))):.3f} % | {int(diff.max())} | {psnr} |")
    print()
    print("latents and bytes identical" if not bad else f"{bad} differences in latents or bytes")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="code images here")
    p.add_argument("images", nargs="+")
    p.add_argument("--out", required=True)
    p.add_argument("--quality", default="1,4,8", help="comma list (default 1,4,8)")
    c = sub.add_parser("check", help="decode and re-encode there, compare")
    c.add_argument("folder")
    args = ap.parse_args(argv)
    if args.cmd == "prepare":
        return prepare(args.images, Path(args.out), [float(v) for v in args.quality.split(",")])
    return check(Path(args.folder))


if __name__ == "__main__":
    sys.exit(main())
