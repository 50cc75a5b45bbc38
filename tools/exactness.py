"""Cross-machine exactness: files coded on one machine decode bit-exactly on another.

    python tools/exactness.py prepare IMAGE... --out DIR [--quality 1,4,8]   # here
    python tools/exactness.py check DIR                                       # there

``prepare`` compresses each image at each quality with the default model, and writes
the .lic files, the source images and ``manifest.json`` (SHA-256 of every file's bytes
and of the pixels this machine decodes from it). ``check``, on another machine (another
CPU, another torch, with or without the C kernels), decodes every file and re-encodes
every source, and prints one row per file: whether the decoded pixels and the encoded
bytes are identical to this machine's. Exit status 1 if any differ.

licodec's entropy parameters are exact integer functions of the coded symbols (fixed-point
networks, integer tables), so both must hold on any machine: this is the check.
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


def prepare(images: list[str], out: Path, qualities: list[float]) -> int:
    import numpy as np

    import licodec
    from licodec.datasets import load_rgb

    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for src in map(Path, images):
        shutil.copy2(src, out / src.name)
        arr = load_rgb(src)
        for q in qualities:
            data = licodec.compress(arr, quality=q)
            name = f"{src.stem}-q{q:g}.lic"
            (out / name).write_bytes(data)
            pixels = np.ascontiguousarray(licodec.decompress(data, as_array=True))
            entries.append({"file": name, "source": src.name, "quality": q, "bytes_sha256": _sha(data), "pixels_sha256": _sha(pixels.tobytes())})
    (out / "manifest.json").write_text(json.dumps({"machine": _machine(), "files": entries}, indent=1))
    print(f"{len(entries)} files in {out} ({_machine()})")
    return 0


def check(folder: Path) -> int:
    import numpy as np

    import licodec
    from licodec.datasets import load_rgb

    manifest = json.loads((folder / "manifest.json").read_text())
    print(f"written on: {manifest['machine']}")
    print(f"checked on: {_machine()}")
    print()
    print("| file | bytes | decoded pixels identical | re-encoded bytes identical |")
    print("|---|---|---|---|")
    bad = 0
    for e in manifest["files"]:
        data = (folder / e["file"]).read_bytes()
        pixels = np.ascontiguousarray(licodec.decompress(data, as_array=True))
        same_pixels = _sha(pixels.tobytes()) == e["pixels_sha256"]
        same_bytes = _sha(licodec.compress(load_rgb(folder / e["source"]), quality=e["quality"])) == e["bytes_sha256"]
        bad += (not same_pixels) + (not same_bytes)
        print(f"| {e['file']} | {len(data)} | {'yes' if same_pixels else 'NO'} | {'yes' if same_bytes else 'NO'} |")
    print()
    print("all identical" if not bad else f"{bad} differences")
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
