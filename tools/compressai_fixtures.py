"""Write the test fixtures of licodec.models.compressai with CompressAI itself.

    pip install compressai   # then:
    python tools/compressai_fixtures.py tests/models/fixtures/compressai

For each of CompressAI's four GDN image models (tiny: N=4, M=6, random weights away from
their initial values) a checkpoint as CompressAI writes it (``torch.save`` of the state dict;
mbt2018-mean with the old ``_matrices.i`` names of the entropy bottleneck, mbt2018 as a
training checkpoint ``{"state_dict": ..., "epoch": ...}`` with DataParallel's ``module.``
prefix) and what CompressAI computes from it on a fixed 64x64 image, in eval mode: x_hat =
g_s(round(y)), the z likelihoods of its entropy bottleneck, the Gaussian scales and means,
and the y likelihoods (``<name>.ref.safetensors``). tests/models/test_compressai.py checks that
licodec's import of each checkpoint computes the same.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from safetensors.torch import save_file


def build(name: str):
    from compressai.models import FactorizedPrior, JointAutoregressiveHierarchicalPriors, MeanScaleHyperprior, ScaleHyperprior

    cls = {"bmshj2018-factorized": FactorizedPrior, "bmshj2018-hyperprior": ScaleHyperprior,
           "mbt2018-mean": MeanScaleHyperprior, "mbt2018": JointAutoregressiveHierarchicalPriors}[name]
    torch.manual_seed(0)
    net = cls(4, 6).eval()
    with torch.no_grad():
        for key, p in net.named_parameters():
            if key.endswith("quantiles"):
                p.copy_(torch.tensor([-6.0, 0.3, 5.0]).expand_as(p))
            elif key.endswith(("beta", "gamma")):
                p.copy_(p.abs() + 0.05 * torch.rand_like(p))
            else:
                p.add_(0.1 * torch.randn_like(p))
        net.g_a[6].weight.mul_(8)  # y spread over several quantisation steps
    return net


@torch.no_grad()
def reference(net, name: str, x: torch.Tensor) -> dict[str, torch.Tensor]:
    y = net.g_a(x)
    y_round = torch.round(y)
    out = {"x": (x * 255).round().to(torch.uint8), "x_hat": net.g_s(y_round).half()}
    if name == "bmshj2018-factorized":
        _, out["y_likelihoods"] = net.entropy_bottleneck(y)
        return out
    z = net.h_a(torch.abs(y) if name == "bmshj2018-hyperprior" else y)
    z_hat, out["z_likelihoods"] = net.entropy_bottleneck(z)
    params = net.h_s(z_hat)
    if name == "bmshj2018-hyperprior":
        scales, means = params, None
    else:
        if name == "mbt2018":
            params = net.entropy_parameters(torch.cat((params, net.context_prediction(y_round)), dim=1))
        scales, means = params.chunk(2, 1)
        out["means"] = means
    out["scales"] = scales
    _, out["y_likelihoods"] = net.gaussian_conditional(y, scales, means=means)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(1, 3, 64, 64, generator=g) * 255).round() / 255
    for name in ("bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean", "mbt2018"):
        net = build(name)
        state = net.state_dict()
        if name == "mbt2018-mean":  # CompressAI < 1.1's names of the entropy bottleneck's parameters
            state = {k.replace("entropy_bottleneck.matrices.", "entropy_bottleneck._matrices.")
                      .replace("entropy_bottleneck.biases.", "entropy_bottleneck._biases.")
                      .replace("entropy_bottleneck.factors.", "entropy_bottleneck._factors."): v for k, v in state.items()}
        if name == "mbt2018":  # a training checkpoint of a DataParallel model
            state = {"epoch": 3, "state_dict": {"module." + k: v for k, v in state.items()}, "loss": 1.5}
        torch.save(state, out / f"{name}-N4-M6.pth.tar")
        save_file({k: v.contiguous() for k, v in reference(net, name, x).items()}, str(out / f"{name}-N4-M6.ref.safetensors"))
        print(out / f"{name}-N4-M6.pth.tar")


if __name__ == "__main__":
    main()
