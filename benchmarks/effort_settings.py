"""The encoder's latent search (--effort) under other settings: iterations, learning rate and
its schedule, temperatures, SGA's rounding probabilities, Adam's betas. On crops of training
photos (never Kodak), it prints the change of R + λ·D (the search's own estimate under hard
rounding, bits from the entropy model) against g_a's latents, per crop and quality, and the
mean.

    python benchmarks/effort_settings.py ../shared/datasets/train --steps 20,40 --lr 0.01
    python benchmarks/effort_settings.py ../shared/datasets/train --steps 20 --lr 0.03 --schedule linear
    python benchmarks/effort_settings.py ../shared/datasets/train --steps 40 --rounding atanh --tau 0.8,0.05 --cool 0,0.05

Defaults: centre 256×384 crops of urban100_0010, camera_0005, bsds500_0007, qualities 2
and 5, the default model, one thread. docs/effort.md has the latest table.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SCHEDULES = {"constant": None, "linear": lambda f: 1 - f, "cosine": lambda f: 0.5 * (1 + math.cos(math.pi * f))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", help="training photos (e.g. ../shared/datasets/train)")
    ap.add_argument("--images", default="urban100_0010,camera_0005,bsds500_0007")
    ap.add_argument("--crop", default="256x384", help="H x W, from the centre")
    ap.add_argument("--qualities", default="2,5")
    ap.add_argument("--steps", default="20", help="comma list of iteration counts")
    ap.add_argument("--lr", type=float, default=None, help="default: the levels' (latent_search.LEARNING_RATE)")
    ap.add_argument("--schedule", choices=sorted(SCHEDULES), default="constant")
    ap.add_argument("--tau", default=None, help="START,END or START (END = START / e²) (default: the levels')")
    ap.add_argument("--cool", default=None, help="F,COLD: the last fraction F of the iterations cools from the temperature's END to COLD (default: the levels')")
    ap.add_argument("--rounding", default=None, help="SGA's probabilities: linear or atanh (default: the levels', latent_search.ROUNDING)")
    ap.add_argument("--betas", default=None, help="Adam's B1,B2 (default: the levels', latent_search.BETAS)")
    ap.add_argument("--context-grad", choices=("on", "off"), default=None, help="the rate's gradient through the context model (default: the levels')")
    ap.add_argument("--model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ms-ssim-guard", type=float, default=None, metavar="W", help="the search's MS-SSIM guard weight (default: the levels'; 0: off)")
    ap.add_argument("--device", default="cpu", help="where the searches run (cpu, cuda; e.g. the curve to 2,000 iterations on a GPU)")
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    from licodec.codec import latent_search
    from licodec.codec.api import resolve_model
    from licodec.codec.image import load_rgb

    torch.set_num_threads(args.threads)
    codec = resolve_model(args.model)
    model = codec.model
    ch, cw = (int(v) for v in args.crop.split("x"))
    crops = []
    for name in args.images.split(","):
        found = sorted(Path(args.folder).glob(name + ".*"))
        if not found:
            raise SystemExit(f"{args.folder}: no image {name}")
        a = load_rgb(found[0])
        t, left = (a.shape[0] - ch) // 2, (a.shape[1] - cw) // 2
        crops.append(torch.from_numpy(np.ascontiguousarray(a[t : t + ch, left : left + cw])).permute(2, 0, 1)[None].float() / 255)
    lr = args.lr if args.lr is not None else latent_search.LEARNING_RATE
    tau = [float(v) for v in args.tau.split(",")] if args.tau else [latent_search.TAU_START, latent_search.TAU_END]
    if len(tau) == 1:
        tau.append(tau[0] / math.e**2)
    cool, cold = (float(v) for v in args.cool.split(",")) if args.cool else (latent_search.COOL, latent_search.TAU_COLD)
    rounding = args.rounding or latent_search.ROUNDING
    betas = tuple(float(v) for v in args.betas.split(",")) if args.betas else latent_search.BETAS
    ctx_grad = latent_search.CONTEXT_GRADIENT if args.context_grad is None else args.context_grad == "on"
    print(f"model {codec.name}; crops {args.crop} of {args.images}; qualities {args.qualities}; lr {lr} {args.schedule}; "
          f"temperature {tau[0]} -> {tau[1]:g}" + (f", the last {cool:g} -> {cold:g}" if cool else "") + f"; rounding {rounding}; Adam betas {betas[0]:g}, {betas[1]:g}; "
          f"gradient through the context {'on' if ctx_grad else 'off'}\n")
    print("| iterations | change of R + λ·D per run | mean | seconds |")
    print("|---|---|---|---|")
    for steps in (int(v) for v in args.steps.split(",")):
        t0, changes = time.time(), []
        for x in crops:
            for qv in (float(v) for v in args.qualities.split(",")):
                q = codec._q(qv)
                with torch.no_grad():
                    y = model.g_a(x) * model.gain.gains(q)[0]
                    z = model.prior.hyper.analysis(y)
                obj = latent_search._Objective(model, x, q, float(model.lmbda(q)[0]), tuple(x.shape[-2:]))
                with torch.enable_grad():
                    before = obj.hard(y, z, torch.round(y))[0]
                    ys, zs = latent_search.search_latents(model, x, y.clone(), q, steps, lr=lr, tau_start=tau[0], device=args.device,
                                                          ms_ssim_guard=args.ms_ssim_guard, rounding=rounding, betas=betas, cool=cool, tau_cold=cold,
                                                          context_grad=ctx_grad,
                                                          weights_key=codec.weights_id,
                                                          tau_end=tau[1], lr_schedule=SCHEDULES[args.schedule])
                    after = obj.hard(ys, zs, torch.round(ys))[0]
                changes.append(100 * (after - before) / before)
        print(f"| {steps} | {' '.join(f'{c:+.2f}' for c in changes)} | **{np.mean(changes):+.2f}%** | {time.time() - t0:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
