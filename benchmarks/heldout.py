"""Compare model files on held-out training photos (real files; never Kodak).

    python benchmarks/heldout.py licodec/weights/mbt2018-vr192.safetensors runs/export-anneal/mbt2018-vr192.safetensors

The photos are training-set images that ``licodec train`` sets aside (``split_holdout``,
24 by default; training validates on the first 12, so this takes images 13-18 unless told
otherwise), center-cropped to 768x512 like a Kodak image. For each model and quality:
bpp of the whole .lic files and the mean RGB PSNR of the decoded images; with four
qualities or more, each model after the first also gets its BD-rate and BD-PSNR against
the first (from the unrounded figures). This is the check behind replacing a shipped
model: Kodak stays for reporting only.

A file's header names its model (a file's own stem, unless its card names an installed
model), so names of different lengths differ by a few bytes a file (0.1-0.3% at quality 1
on these photos): to compare under the shipped name, copy each file to a folder of its
own as NAME.safetensors. The script says when the names' lengths differ.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def center_crop(img: np.ndarray, w: int, h: int) -> np.ndarray:
    y0, x0 = max(0, (img.shape[0] - h) // 2), max(0, (img.shape[1] - w) // 2)
    return img[y0:y0 + h, x0:x0 + w]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="model names or files")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "datasets" / "train"))
    ap.add_argument("--holdout", type=int, default=24, help="as licodec train --holdout")
    ap.add_argument("--images", default="12:18", help="slice of the held-out files (default 12:18)")
    ap.add_argument("--crop", default="768x512")
    ap.add_argument("--qualities", default="1,4,8")
    args = ap.parse_args(argv)

    from licodec.codec.api import resolve_model
    from licodec.codec.image import read_image
    from licodec.eval.bdrate import bd_quality, bd_rate
    from licodec.train.data import list_images, split_holdout

    a, b = (int(v) for v in args.images.split(":"))
    files = split_holdout(list_images(args.data), args.holdout)[1][a:b]
    w, h = (int(v) for v in args.crop.split("x"))
    imgs = [center_crop(read_image(f)[0], w, h) for f in files]
    quals = [float(q) for q in args.qualities.split(",")]
    print(f"{len(imgs)} held-out photos of {args.data} ({args.images} of {args.holdout}), {args.crop} center crops")
    bd = len(quals) >= 4 and len(args.models) > 1
    print("| model | " + " | ".join(f"q{q:g} bpp | q{q:g} PSNR (dB)" for q in quals) + (" | BD-rate vs the first | BD-PSNR |" if bd else " |"))
    print("|---|" + "---|---|" * len(quals) + ("---|---|" if bd else ""))
    first, names = None, {}
    for spec in args.models:
        codec = resolve_model(spec)
        names[spec] = codec.name
        bpp, psnr = measure(codec, imgs, quals)
        cells = [f"{v:{f}}" for pair in zip(bpp, psnr) for v, f in zip(pair, (".4f", ".2f"))]
        if bd:
            cells += ["", ""] if first is None else [f"{bd_rate(*first, bpp, psnr):+.2f}%", f"{bd_quality(*first, bpp, psnr):+.3f} dB"]
        first = first or (bpp, psnr)
        print(f"| {spec} | " + " | ".join(cells) + " |", flush=True)
    if len({len(n) for n in names.values()}) > 1:  # the header stores the name: a few bytes a file
        print("note: the files name their models " + ", ".join(f"{n!r}" for n in names.values()) + " (names of different lengths, so "
              "headers of different sizes); to compare under one name, copy each file to its own folder as NAME.safetensors")
    return 0


def measure(codec, imgs: list[np.ndarray], quals: list[float]) -> tuple[list[float], list[float]]:
    """Bits per pixel of the whole files and mean RGB PSNR (dB) of the images, per quality."""
    import licodec
    from licodec.metrics import psnr_from_mse

    bpp, psnr = [], []
    for q in quals:
        bits = pixels = 0
        db = []
        for im in imgs:
            data = licodec.compress(im, quality=q, model=codec)
            rec = licodec.decompress(data, model=codec, as_array=True)
            bits += 8 * len(data)
            pixels += im.shape[0] * im.shape[1]
            db.append(psnr_from_mse(float(np.mean((rec.astype(np.float64) - im.astype(np.float64)) ** 2)), 255.0))
        bpp.append(bits / pixels)
        psnr.append(float(np.mean(db)))
    return bpp, psnr


if __name__ == "__main__":
    sys.exit(main())
