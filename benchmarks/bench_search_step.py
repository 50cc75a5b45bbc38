"""One iteration of the encoder's latent search (--effort), two ways in turn in one process:
``--compare polyphase`` (default): g_s's layers in polyphase form (layers/polyphase.py:
Winograd forward, its adjoint backward) against PyTorch's direct layers; ``--compare gdn``:
GDN's frozen path (layers/gdn.py, ``_FrozenGDN``) against autograd of the plain formula.

    python benchmarks/bench_search_step.py ../shared/datasets/train --image camera_0005 --threads 1

Prints the median seconds of each over ``--runs`` iterations (forward and backward of the
search's objective on a 512x768 crop, MS-SSIM guard on) and the largest difference of
their gradients. Latest output in docs/effort.md.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--image", default="camera_0005")
    ap.add_argument("--crop", default="512x768", help="H x W from the top left")
    ap.add_argument("--quality", type=float, default=4.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--model")
    ap.add_argument("--compare", choices=("polyphase", "gdn"), default="polyphase")
    args = ap.parse_args(argv)

    import numpy as np
    import torch
    import torch.nn.functional as F

    from licodec.codec import latent_search
    from licodec.codec.api import resolve_model
    from licodec.codec.image import load_rgb
    from licodec.codec.precision import polyphase_plan
    from licodec.layers import gdn

    torch.set_num_threads(args.threads)
    model = resolve_model(args.model).model
    found = sorted(Path(args.folder).glob(args.image + ".*"))
    if not found:
        raise SystemExit(f"{args.folder}: no image {args.image}")
    h, w = (int(v) for v in args.crop.split("x"))
    a = load_rgb(found[0])[:h, :w]
    h, w = a.shape[0] // 64 * 64, a.shape[1] // 64 * 64
    x = torch.from_numpy(np.array(a[:h, :w])).permute(2, 0, 1)[None].float() / 255
    q = torch.tensor([args.quality - 1])
    with torch.no_grad():
        y = model.g_a(x) * model.gain.gains(q)[0]
    obj = latent_search._Objective(model, x, q, float(model.lmbda(q)[0]), (h, w))
    z = obj.hyper.analysis(y).requires_grad_(True)
    yv = y.clone().requires_grad_(True)
    gen = torch.Generator()
    with torch.no_grad():
        loss0, y_ctx, s0 = obj._hard(yv, z, torch.round(y), True)
    obj.guard = (latent_search.MS_SSIM_GUARD, float(s0), loss0)

    frozen = gdn.GDN.forward

    def plain(self, t):
        c = t.shape[1]
        norm = F.conv2d(t * t, self.gamma_reparam(self.gamma).reshape(c, c, 1, 1), self.beta_reparam(self.beta))
        return t * torch.sqrt(norm) if self.inverse else t * torch.rsqrt(norm)

    def iteration():
        yv.grad = z.grad = None
        gen.manual_seed(0)
        loss = obj(yv, z, y_ctx, 0.1, gen)[0]
        loss.backward()
        return yv.grad.clone()

    plan = polyphase_plan(model.g_s)
    if args.compare == "gdn":
        ways = {"plain formula": lambda: setattr(gdn.GDN, "forward", plain), "frozen GDN": lambda: setattr(gdn.GDN, "forward", frozen)}
    else:
        ways = {"direct layers": lambda: setattr(obj, "plan", None), "polyphase": lambda: setattr(obj, "plan", plan)}
    times: dict[str, list[float]] = {k: [] for k in ways}
    grads = {}
    for r in range(args.runs + 1):  # the first round warms up
        for name, use in ways.items():
            use()
            t0 = time.perf_counter()
            grads[name] = iteration()
            if r:
                times[name].append(time.perf_counter() - t0)
    gdn.GDN.forward = frozen
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{found[0].name} {h}x{w}, quality {args.quality:g}, {args.threads} thread(s), median of {args.runs}")
    a, b = list(ways)
    print(f"| {args.compare} | s per iteration |\n|---|---|")
    for k, v in med.items():
        print(f"| {k} | {v:.3f} |")
    print(f"{b} / {a}: {med[b] / med[a]:.2f}; "
          f"largest gradient difference {float((grads[b] - grads[a]).abs().max()):.2e} "
          f"(largest gradient {float(grads[a].abs().max()):.2e})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
