"""What int8 arithmetic in g_s would cost in quality (issue 22's question: "int8 with
calibrated scales, if it measures faster at no larger quality cost").

    python benchmarks/int8_cost.py [--data ../shared/datasets/train] [--qualities 4,8]

Simulated int8 ("fake quantization", in float32, so the numbers hold on any CPU): for each
chosen transposed convolution of g_s, its input is rounded to 255 levels (symmetric) and,
where asked, its weights too (per output channel, as int8 convolutions take them); every other
layer is float32. The input's scale is per tensor or per input channel (a per-channel input
scale folds into the weights, so an int8 kernel can use it), from the largest magnitude or a
quantile. Six training photos (never Kodak; 768x512 crops of camera_00*, urban100_00*,
bsds500_00*, as docs/speed.md's layer choice), coded with the default model on the float32
path; prints the mean RGB PSNR change against float32 g_s for each variant.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


def fake_input(x: torch.Tensor, per_channel: bool, quantile: float | None) -> torch.Tensor:
    """x rounded to 255 symmetric levels; scale per tensor or per channel (dim 1)."""
    a = x.abs()
    if per_channel:
        flat = a.transpose(0, 1).reshape(x.shape[1], -1)
        m = flat.amax(dim=1) if quantile is None else torch.quantile(flat[:, ::7], quantile, dim=1)
        m = m.view(1, -1, 1, 1)
    else:
        m = a.max() if quantile is None else torch.quantile(a.flatten()[::97], quantile)
    s = m.clamp_min(1e-12) / 127
    return (x / s).round().clamp(-127, 127) * s


def fake_weight(w: torch.Tensor) -> torch.Tensor:
    """A transposed convolution's weight (in, out, k, k) as int8 per output channel."""
    s = w.abs().amax(dim=(0, 2, 3), keepdim=True).clamp_min(1e-12) / 127
    return (w / s).round() * s


def g_s_int8(g_s, y: torch.Tensor, layers: set[int], per_channel: bool, quantile: float | None, weights: bool) -> torch.Tensor:
    x = y
    for i, layer in enumerate(g_s):
        if i in layers:
            w = fake_weight(layer.weight) if weights else layer.weight
            x = F.conv_transpose2d(fake_input(x, per_channel, quantile), w, layer.bias, layer.stride, layer.padding, layer.output_padding)
        else:
            x = layer(x)
    return x


VARIANTS = [  # (name, layers, input scale per channel, quantile, weights in int8 too)
    ("layer 4, input only, per-tensor scale", {4}, False, None, False),
    ("layer 4, input only, per-channel scale", {4}, True, None, False),
    ("layer 4, input only, per-channel 99.99% quantile", {4}, True, 0.9999, False),
    ("layer 4, input and weights (per channel)", {4}, True, None, True),
    ("layer 2, input and weights (per channel)", {2}, True, None, True),
    ("layer 6, input and weights (per channel)", {6}, True, None, True),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "train")
    ap.add_argument("--qualities", default="4,8")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    import licodec
    from licodec.codec.api import decode_latents, resolve_model
    from licodec.codec.fixed import ONE
    from licodec.codec.image import load_rgb
    from licodec.codec.precision import use_precision

    codec = resolve_model(None)
    g_s = codec.model.g_s
    files = [f for pattern in ("camera_00*", "urban100_00*", "bsds500_00*") for f in sorted(args.data.glob(pattern))[:2]]

    def psnr(a: torch.Tensor, img: np.ndarray) -> float:
        out = (a.clamp(0, 1) * 255).round()[0].permute(1, 2, 0).numpy()
        return float(10 * np.log10(255**2 / np.mean((out - img.astype(np.float64)) ** 2)))

    print(f"{len(files)} training photos, 768x512 crops; mean RGB PSNR change against float32 g_s (dB)\n")
    print("| variant | " + " | ".join(f"quality {q}" for q in args.qualities.split(",")) + " |")
    print("|---|" + "---|" * len(args.qualities.split(",")))
    changes: dict[str, list[list[float]]] = {name: [] for name, *_ in VARIANTS}
    for q in (float(v) for v in args.qualities.split(",")):
        per_q: dict[str, list[float]] = {name: [] for name, *_ in VARIANTS}
        for f in files:
            img = load_rgb(f)[:512, :768]
            img = np.ascontiguousarray(img[: img.shape[0] // 16 * 16, : img.shape[1] // 16 * 16])
            with use_precision("fp32"):
                data = licodec.compress(img, q, codec)
            y_hat, _, _ = decode_latents(data, codec)
            y = (y_hat.to(torch.float64) * (1.0 / ONE)).float()[None] * codec.model.gain.gains(codec._q(q))[1]
            with torch.no_grad():
                ref = psnr(g_s(y), img)
                for name, layers, per_channel, quantile, weights in VARIANTS:
                    per_q[name].append(psnr(g_s_int8(g_s, y, layers, per_channel, quantile, weights), img) - ref)
        for name in per_q:
            changes[name].append(per_q[name])
    for name, *_ in VARIANTS:
        print(f"| {name} | " + " | ".join(f"{np.mean(v):+.4f}" for v in changes[name]) + " |")


if __name__ == "__main__":
    main()
