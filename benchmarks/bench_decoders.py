"""licodec beside the classical codecs: encode and decode time per image at matched bits per pixel.

    python benchmarks/bench_decoders.py ../shared/datasets/kodak
    python benchmarks/bench_decoders.py KODAK --images kodim01,kodim14 --quality 4 --runs 5 --threads 1,2

For each image, licodec codes it at ``--quality`` (default model); every classical codec
available here (licodec.eval.classical_codecs: JPEG, WebP, JPEG 2000, AVIF through Pillow;
HEIF and JPEG XL when pillow-heif / imagecodecs are installed) is set to the knob whose file
is closest to licodec's size. Times are in-process medians of ``--runs`` runs of encoding
the pixels to bytes and decoding the bytes to pixels (no image-file reading or writing),
with torch's threads set to each of ``--threads`` for licodec; the classical libraries run
with their own defaults (Pillow's JPEG, WebP and JPEG 2000 are single-threaded; the AVIF
encoder is set to one thread). Runs interleave the codecs, so drift hits them alike. The
table gives, per codec, the mean bpp and RGB PSNR over the images and the median seconds
per image. Run it on a quiet machine.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

SUBSET = "kodim01,kodim04,kodim08,kodim14,kodim19,kodim23"


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    from licodec.metrics import rgb_metrics

    return rgb_metrics(a, b)["psnr"]


def _matched_knob(codec, rgb: np.ndarray, target_bytes: int):
    """The codec's knob whose file is closest in size to ``target_bytes``."""
    sizes = [(abs(len(codec.encode(rgb, k)) - target_bytes), k) for k in codec.knobs]
    return min(sizes, key=lambda s: s[0])[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", help="folder of PNG images (Kodak)")
    ap.add_argument("--images", default=SUBSET, help=f"comma-separated names (default: {SUBSET})")
    ap.add_argument("--quality", type=float, default=4.0, help="licodec quality (default 4)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", default="1,2", help="torch threads for licodec (default 1,2)")
    ap.add_argument("--model", help="licodec model (default: the installed default)")
    ap.add_argument("--keep-freed-memory", action="store_true", help="as the CLI's batches: glibc keeps freed memory for the next image (licodec.native.keep_freed_memory)")
    args = ap.parse_args(argv)
    if args.keep_freed_memory:
        from licodec.native import keep_freed_memory

        keep_freed_memory()

    import torch
    from PIL import Image

    import licodec
    from licodec.codec.api import resolve_model
    from licodec.eval.classical_codecs import available_codecs, get_codec

    codec = resolve_model(args.model)
    threads = [int(t) for t in args.threads.split(",")]
    classical = [get_codec(n) for n in available_codecs()[0]]
    names = [n.strip() for n in args.images.split(",") if n.strip()]
    images = {n: np.asarray(Image.open(Path(args.folder) / f"{n}.png").convert("RGB")) for n in names}

    # the operating points: licodec at the quality, each classical codec at the matched size
    points: dict[str, dict[str, tuple]] = {}  # codec label -> image -> (encode(), decode(data), data)
    quality = {}  # label -> [(bpp, psnr)]
    for n, rgb in images.items():
        data = licodec.compress(rgb, quality=args.quality, model=codec)
        rec = licodec.decompress(data, model=codec, as_array=True)
        pixels = rgb.shape[0] * rgb.shape[1]
        for t in threads:
            label = f"licodec {codec.name} q{args.quality:g}, {t} thread{'s' if t > 1 else ''}"
            points.setdefault(label, {})[n] = (t, lambda rgb=rgb: licodec.compress(rgb, quality=args.quality, model=codec),
                                               lambda d=data: licodec.decompress(d, model=codec, as_array=True))
            quality.setdefault(label, []).append((8 * len(data) / pixels, _psnr(rgb, rec)))
        for c in classical:
            knob = _matched_knob(c, rgb, len(data))
            cdata = c.encode(rgb, knob)
            label = c.label
            points.setdefault(label, {})[n] = (None, lambda rgb=rgb, c=c, knob=knob: c.encode(rgb, knob), lambda d=cdata, c=c: c.decode(d))
            quality.setdefault(label, []).append((8 * len(cdata) / pixels, _psnr(rgb, c.decode(cdata))))

    times = {label: ([], []) for label in points}
    saved = torch.get_num_threads()
    for _ in range(args.runs):
        for n in names:
            for label, per_image in points.items():
                t, enc, dec = per_image[n]
                torch.set_num_threads(t or saved)
                t0 = time.perf_counter()
                enc()
                t1 = time.perf_counter()
                dec()
                t2 = time.perf_counter()
                times[label][0].append(t1 - t0)
                times[label][1].append(t2 - t1)
    torch.set_num_threads(saved)

    print(f"{len(names)} images ({', '.join(names)}), median of {args.runs} runs per image, in-process (pixels <-> bytes)\n")
    print("| codec | bpp (mean) | RGB PSNR dB (mean) | encode s / image | decode s / image |")
    print("|---|---|---|---|---|")
    for label in points:
        bpp = statistics.mean(b for b, _ in quality[label])
        psnr = statistics.mean(p for _, p in quality[label])
        enc, dec = times[label]
        print(f"| {label} | {bpp:.3f} | {psnr:.2f} | {statistics.median(enc):.3f} | {statistics.median(dec):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
