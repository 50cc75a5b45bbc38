"""What the integer codec costs in rate: real file bytes against the float model's estimate.

    python benchmarks/bench_rate.py --model licodec/weights/mbt2018-vr192.safetensors \\
        ../shared/datasets/kodak/kodim0{1,2,3,4}.png --qualities 1,4,8

For each quality, summed over the images: the rate the float model estimates in its
evaluation forward pass (-log2 of its likelihoods of y and z; y_hat = round(y) for the
context, CompressAI's "estimated bpp"), the ideal code length of the symbols actually
coded under the integer tables (int8 fixed-point entropy parameters, 64 scale levels,
24-bit frequencies), and the bytes of the .lic files (header included). The columns show
where the difference arises: fixed point and tables, then the range coder and header.
"""
from __future__ import annotations

import argparse

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", nargs="+")
    ap.add_argument("--model", required=True, help="model name or file")
    ap.add_argument("--qualities", default="1,4,8")
    args = ap.parse_args()

    import licodec
    from licodec.codec.api import _pad, resolve_model
    from licodec.codec.image import read_image

    codec = resolve_model(args.model)
    model = codec.model
    imgs = [read_image(p)[0] for p in args.images]
    pixels = sum(i.shape[0] * i.shape[1] for i in imgs)
    print(f"model {codec.name}, {len(imgs)} images, {pixels} pixels")
    print("| quality | float estimate (bpp) | integer tables, ideal (bpp) | .lic files (bpp) | tables vs float | files vs tables |")
    print("|---|---|---|---|---|---|")
    for q in (float(v) for v in args.qualities.split(",")):
        est = ideal = real = 0.0
        for img in imgs:
            x = _pad(img)
            with torch.inference_mode():
                lik = model.eval()(x, torch.tensor([q - 1.0]) if codec.quality_range else None)["likelihoods"]
            est += sum(float(-torch.log2(v).sum()) for v in lik.values())
            bits: list = []
            codec.encode(x, q if codec.quality_range else None, estimate=bits)
            ideal += sum(bits)
            real += 8 * len(licodec.compress(img, quality=q if codec.quality_range else None, model=args.model))
        print(f"| {q:g} | {est / pixels:.4f} | {ideal / pixels:.4f} | {real / pixels:.4f} | {100 * (ideal / est - 1):+.2f}% | {100 * (real / ideal - 1):+.2f}% |", flush=True)


if __name__ == "__main__":
    main()
