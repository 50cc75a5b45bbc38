"""Entropy refinement: the entropy side of a trained model fitted to the rate the coder pays.

Training measures the rate of y + U(-1/2, 1/2) (its context model reads noisy y too); the
coder codes y_hat = mu + round(y - mu) and z_hat = m + round(z - m), with the context read
from y_hat. This stage keeps g_a, g_s and the rate gains fixed and fits h_a, h_s, g_cm and
g_ep (z's density stays: its medians are the coder's offsets) to that coded rate, with
straight-through rounding (``ConditionalPrior.coded_likelihoods``). With g_s trained
straight-through (``--decoder-rounding ste``), the distortion gives the entropy side no
gradient anyway, so the rate is the whole objective. g_s never runs: g_a's outputs of the
crops are computed once, so a step costs the entropy networks only (~2.4 s for 8 × 384²
crops on one CPU core against ~17 s for a training step of 8 × 256²).

::

    crops --g_a (once)--> y0 ;  each step: y = y0 · gain[q], q a random trained level
        min  -log2 p(y_hat | mu, sigma) - log2 p(z_hat)        over h_a, h_s, g_cm, g_ep

    python -m licodec.train.refine --init licodec/weights/mbt2018-vr192.safetensors \\
        --data ../shared/datasets/train --out runs/refine/mbt2018-vr192.safetensors \\
        --relative --coder-arithmetic [--device cuda]

The held-out photos (``split_holdout``, as training) are never cropped for it; it reports
their coded-rate estimate before and after, per level. Measure real files before shipping
(benchmarks/heldout.py): docs/default-model.md has what it gave.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from ..models import CompressionModel

__all__ = ["crop_latents", "coded_bpp", "coder_arithmetic", "refine", "main"]

PARTS = ("h_a", "h_s", "g_cm", "g_ep")


def _parts(model: CompressionModel) -> dict[str, torch.nn.Module]:
    prior = model.prior
    hyper = getattr(prior, "hyper", None)
    found = {"h_a": hyper.h_a if hyper else None, "h_s": hyper.h_s if hyper else None,
             "g_cm": getattr(prior, "context", None), "g_ep": getattr(prior, "entropy_parameters", None)}
    return {k: v for k, v in found.items() if v is not None}


class _CoderWeights(nn.Module):
    """A conv weight as the coder holds it (int8, a power-of-two scale per output channel:
    ``fixed.channel_shifts``), straight-through."""

    def __init__(self, out_dim: int, mask: Tensor | None) -> None:
        super().__init__()
        self.out_dim, self.mask = out_dim, mask

    def forward(self, w: Tensor) -> Tensor:
        from ..codec.fixed import channel_shifts

        s = channel_shifts((w if self.mask is None else w * self.mask).detach().cpu(), self.out_dim).to(w.device)
        shape = [1] * w.dim()
        shape[self.out_dim] = -1
        scale = torch.pow(2.0, s.to(w.dtype)).reshape(shape)
        return w + (torch.round(w * scale) / scale - w).detach()


def _round_input(step: float, module: nn.Module, args: tuple) -> tuple:
    x = args[0]
    return (x + (torch.round(x / step) * step - x).detach(),) + tuple(args[1:])


@contextlib.contextmanager
def coder_arithmetic(model: CompressionModel):
    """Within: h_s, g_cm and g_ep compute with the coder's int8 weights and read their inputs
    on the coder's grids (2⁻⁴ for g_cm's first layer and every layer of g_ep), both
    straight-through; on leaving, the float weights are the parameters again."""
    from functools import partial

    from ..codec.coding_state import INPUT_SHIFTS
    from ..codec.fixed import ACT_BITS

    prior = model.prior
    hyper = getattr(prior, "hyper", None)
    nets = {"hs": hyper.h_s if hyper is not None else None, "ctx": getattr(prior, "context", None), "ep": getattr(prior, "entropy_parameters", None)}
    done, hooks = [], []
    try:
        for key, net in nets.items():
            if net is None:
                continue
            convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
            for conv, shift in zip(convs, INPUT_SHIFTS[key](len(convs))):
                parametrize.register_parametrization(conv, "weight", _CoderWeights(1 if isinstance(conv, nn.ConvTranspose2d) else 0, getattr(conv, "mask", None)))
                done.append(conv)
                if shift:
                    hooks.append(conv.register_forward_pre_hook(partial(_round_input, 2.0 ** (shift - ACT_BITS))))
        yield model
    finally:
        for h in hooks:
            h.remove()
        for conv in done:
            parametrize.remove_parametrizations(conv, "weight", leave_parametrized=False)


def _device(model: CompressionModel) -> torch.device:
    return next(model.parameters()).device


def _analysis(model: CompressionModel, a: np.ndarray) -> Tensor:
    """g_a of an (H, W, 3) uint8 array: (1, M, H/16, W/16), on the model's device."""
    x = torch.from_numpy(np.array(a)).permute(2, 0, 1)[None].to(_device(model)).float() / 255  # a writable copy
    with torch.inference_mode():
        return model.g_a(x.contiguous(memory_format=torch.channels_last)).contiguous()


def crop_latents(model: CompressionModel, images: list[np.ndarray], crop: int, count: int, seed: int = 0) -> Tensor:
    """g_a's outputs (before the gain) of ``count`` random crop × crop crops of the images
    (H, W, 3 uint8) whose sides reach ``crop``, as float16 (count, M, crop/16, crop/16), on
    the CPU (the model may be on a GPU)."""
    rng = np.random.default_rng(seed)
    usable = [a for a in images if a.shape[0] >= crop and a.shape[1] >= crop]
    if not usable:
        raise ValueError(f"no image has both sides >= {crop}")
    out = []
    for i in range(count):
        a = usable[int(rng.integers(len(usable)))] if count > len(usable) else usable[i * len(usable) // count]
        t, left = int(rng.integers(a.shape[0] - crop + 1)), int(rng.integers(a.shape[1] - crop + 1))
        out.append(_analysis(model, a[t : t + crop, left : left + crop]).half().cpu())
    return torch.cat(out)


def coded_bpp(model: CompressionModel, latents: list[Tensor], level: float, passes: int = 3, coder: bool = False) -> float:
    """The coded-rate estimate (bits per pixel) of g_a outputs (1, M, h, w) at ``level``;
    ``coder``: in the coder's arithmetic (:func:`coder_arithmetic`)."""
    if coder:
        with coder_arithmetic(model):
            return coded_bpp(model, latents, level, passes)
    bits = pixels = 0.0
    with torch.no_grad():
        for y in latents:
            gain = model.gain.gains(torch.tensor([float(level)], device=_device(model)))[0] if model.gain is not None else 1.0
            lik = model.prior.coded_likelihoods(y.to(_device(model)).float() * gain, passes)
            bits += float(sum(-torch.log2(v).sum() for v in lik.values()))
            pixels += y.shape[-1] * y.shape[-2] * 256
    return bits / pixels


def _scale_rows(model: CompressionModel) -> tuple[list[Tensor], list]:
    """The parameters of g_ep's last layer, with hooks that keep the gradient of its scale
    rows only (its first M outputs): refining with them moves σ and leaves every μ as it is."""
    cond = getattr(model.prior, "conditional", None)
    ep = getattr(model.prior, "entropy_parameters", None)
    if ep is None or not getattr(cond, "use_means", False):
        raise ValueError("--parts sigma needs an entropy-parameters network giving scales and means")
    last = [m for m in ep.modules() if isinstance(m, nn.Conv2d)][-1]
    rows = last.out_channels // 2
    params = list(last.parameters())  # weight (or its parametrization's original) and bias, rows first

    def keep_scales(g: Tensor) -> Tensor:
        g = g.clone()
        g[rows:] = 0
        return g

    return params, [p.requires_grad_(True).register_hook(keep_scales) for p in params]


def level_rates(model: CompressionModel, latents: Tensor, count: int = 16) -> Tensor:
    """The coded rate (bits per pixel, context from two passes) of the first ``count``
    ``latents`` at each trained level: (levels,), the normalisers of ``relative``."""
    levels = model.gain.levels if model.gain is not None else 1
    few = [latents[i : i + 1].float() for i in range(min(count, latents.shape[0]))]
    return torch.tensor([coded_bpp(model, few, q, passes=2) for q in range(levels)], device=_device(model))


def refine(model: CompressionModel, latents: Tensor, steps: int, *, lr: float = 3e-5, batch: int = 8, seed: int = 0,
           parts: tuple[str, ...] = PARTS, coder: bool = False, relative: bool = False, warmup: int = 0, log=None) -> None:
    """Fit ``parts`` of ``model`` (in place) to the coded rate of ``latents`` (from
    :func:`crop_latents`) at random trained levels; everything else stays as it is.
    ``coder``: with the coder's int8 weights and input grids (:func:`coder_arithmetic`).
    ``relative``: each crop's rate divided by its level's rate before refinement
    (:func:`level_rates`), so every level weighs the same in relative terms, as in a
    BD-rate (by default the bits add up and the high rates dominate). ``warmup``: the
    learning rate rises linearly over the first ``warmup`` steps (otherwise Adam's first
    updates are about ±lr per weight whatever the gradient's size, its moments coming from
    a batch or two; measured in session 22: no gain at 600 steps)."""
    if coder:
        with coder_arithmetic(model):
            return refine(model, latents, steps, lr=lr, batch=batch, seed=seed, parts=parts, relative=relative, warmup=warmup, log=log)
    norm = level_rates(model, latents) if relative else None
    model.train().requires_grad_(False)
    hooks = []
    if parts == ("sigma",):
        params, hooks = _scale_rows(model)
    else:
        have = _parts(model)
        params = [p for k in parts if k in have for p in have[k].parameters()]
    if not params:
        raise ValueError("the model has none of the parts to refine")
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=lr)
    gen = torch.Generator().manual_seed(seed)
    levels = model.gain.levels if model.gain is not None else None
    for step in range(1, steps + 1):
        idx = torch.randint(0, latents.shape[0], (batch,), generator=gen)
        y = latents[idx].to(_device(model)).float()
        level = torch.randint(0, levels or 1, (batch,), generator=gen).to(y.device)
        if levels is not None:
            y = y * model.gain.gains(level.float())[0]
        lik = model.prior.coded_likelihoods(y)
        bits = sum(-torch.log2(v).flatten(1).sum(1) for v in lik.values()) / (y.shape[-1] * y.shape[-2] * 256)  # (batch,) bpp
        loss = (bits / norm[level] if norm is not None else bits).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, step / warmup) if warmup > 0 else lr
        opt.step()
        if log is not None:
            log(step, float(loss.detach()))
    for h in hooks:
        h.remove()
    model.eval().requires_grad_(False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m licodec.train.refine", description=__doc__.split("\n\n")[0])
    ap.add_argument("--init", required=True, help="the trained model file")
    ap.add_argument("--data", required=True, help="training photos (the hold-out is left out)")
    ap.add_argument("--out", required=True, help="the refined model file (float16, coding tables, card)")
    ap.add_argument("--holdout", type=int, default=24, help="as licodec train --holdout")
    ap.add_argument("--crops", type=int, default=2000, help="random crops of the training photos (default 2000, as the shipped refinements)")
    ap.add_argument("--crop", type=int, default=384, help="their side (a multiple of 64)")
    ap.add_argument("--steps", type=int, default=600, help="Adam steps (default 600; twice as many lose at the top level: docs/default-model.md)")
    ap.add_argument("--lr", type=float, default=3e-5, help="learning rate (default 3e-5; 1e-4 loses 3-4%% at the top level)")
    ap.add_argument("--warmup", type=int, default=0, help="steps over which the learning rate rises linearly to --lr (default 0: none)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="where to refine: cpu or cuda (the crops' latents stay in CPU memory)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", help="keep the crops' g_a outputs here, keyed by the model file's and the crops' settings")
    ap.add_argument("--coder-arithmetic", action="store_true", help="refine with the coder's int8 weights and input grids (straight-through)")
    ap.add_argument("--parts", choices=["all", "sigma"], default="all",
                    help="all: h_a, h_s, g_cm, g_ep; sigma: only the scale rows of g_ep's last layer (every mean stays)")
    ap.add_argument("--relative", action="store_true", help="weigh each level's rate relative to its rate before (as a BD-rate does); default: bits add up")
    args = ap.parse_args(argv)
    if args.crop % 64 or args.crop < 64:
        ap.error("--crop must be a positive multiple of 64")
    if not Path(args.init).is_file():
        ap.error(f"--init {args.init}: no such model file")
    if not Path(args.data).is_dir():
        ap.error(f"--data {args.data}: no such folder")

    from safetensors.torch import load_file, save

    from ..codec.image import load_rgb
    from ..files import atomic_write
    from ..models.io import load_model
    from .data import list_images, split_holdout
    from .export import write_model_file

    torch.set_num_threads(args.threads)
    model, _, card = load_model(args.init)
    if args.device != "cpu" and not torch.cuda.is_available():
        ap.error(f"--device {args.device}: torch sees no CUDA device here")
    model = model.float().eval().to(args.device)
    train, hold = split_holdout(list_images(args.data), args.holdout)
    t0 = time.time()
    cached = None
    if args.cache_dir:
        import hashlib

        key = hashlib.sha256(Path(args.init).read_bytes()).hexdigest()[:16]
        names = hashlib.sha256("\n".join(p.name for p in train).encode()).hexdigest()[:8]
        cached = Path(args.cache_dir) / f"crops-{key}-{names}-{args.crop}x{args.crops}-s{args.seed}.safetensors"
    if cached is not None and cached.is_file():
        latents = load_file(str(cached))["latents"]
    else:
        latents = crop_latents(model, [load_rgb(p) for p in train], args.crop, args.crops, args.seed)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(cached, save({"latents": latents}))
    held = []
    for p in hold:  # the held-out photos whole, cut to multiples of 64
        a = load_rgb(p)
        h, w = a.shape[0] // 64 * 64, a.shape[1] // 64 * 64
        if h and w:
            held.append(_analysis(model, a[:h, :w]))
    levels = [0.0, (model.gain.levels - 1) / 2, model.gain.levels - 1.0] if model.gain is not None else [0.0]
    before = {q: coded_bpp(model, held, q, coder=args.coder_arithmetic) for q in levels}
    seen = [latents[i : i + 1].float() for i in range(0, len(latents), max(1, len(latents) // 24))][:24]  # overfitting shows here
    seen_before = {q: coded_bpp(model, seen, q, coder=args.coder_arithmetic) for q in levels}
    print(f"{len(latents)} crops, {len(held)} held-out photos, {time.time() - t0:.0f} s", flush=True)

    def log(step: int, loss: float) -> None:
        if step % 50 == 0 or step == args.steps:
            what = "coded rate / its level's before" if args.relative else "coded rate (bpp)"
            print(f"step {step}: {what} {loss:.5f} ({time.time() - t0:.0f} s)", flush=True)

    parts = PARTS if args.parts == "all" else ("sigma",)
    refine(model, latents, args.steps, lr=args.lr, batch=args.batch, seed=args.seed, parts=parts, coder=args.coder_arithmetic,
           relative=args.relative, warmup=args.warmup, log=log)
    after = {q: coded_bpp(model, held, q, coder=args.coder_arithmetic) for q in levels}
    seen_after = {q: coded_bpp(model, seen, q, coder=args.coder_arithmetic) for q in levels}
    for q in levels:
        print(f"level {q:g}: coded-rate estimate, held-out photos {before[q]:.5f} -> {after[q]:.5f} bpp ({100 * (after[q] / before[q] - 1):+.2f}%), "
              f"{len(seen)} of the crops {seen_before[q]:.5f} -> {seen_after[q]:.5f} ({100 * (seen_after[q] / seen_before[q] - 1):+.2f}%)")
    card = {k: v for k, v in card.items() if k != "kodak"}
    card["entropy_refinement"] = {"parts": list(parts), "crops": len(latents), "crop": args.crop, "steps": args.steps, "lr": args.lr, "warmup": args.warmup,
                                  "batch": args.batch, "coder_arithmetic": args.coder_arithmetic, "relative": args.relative, "heldout_coded_bpp": {f"{q:g}": [round(before[q], 5), round(after[q], 5)] for q in levels}}
    out = write_model_file(model.eval().cpu(), args.out, card, half=True, fit_tails=True)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
