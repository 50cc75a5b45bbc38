"""The settings of a training run (flags of ``licodec train``, keys of its config file)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from ..models.loss import METRICS

__all__ = ["TrainConfig", "COMPRESSAI_MSE_LAMBDAS", "COMPILE_MODES", "same_architecture", "describe", "differences"]

COMPRESSAI_MSE_LAMBDAS = [0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800]
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune-no-cudagraphs")


@dataclass
class TrainConfig:
    """Every setting of a run (flags of ``licodec train`` or keys of its config file)."""

    data: str = ""
    out: str = "runs/default"
    model: str = "mbt2018"
    N: int = 192
    M: int = 192
    lambdas: list[float] = field(default_factory=lambda: list(COMPRESSAI_MSE_LAMBDAS))
    lmbda: float | None = None  # fixed-λ training (the paper's setup) when set
    metric: str = "mse"
    crop: int = 256
    batch: int = 8
    steps: int = 1_000_000
    lr: float = 1e-4
    aux_lr: float = 1e-3
    warmup: int = 500  # linear warm-up steps, counted from the step at which the optimizer starts (0, or --init's step count)
    milestones: list[int] = field(default_factory=list)  # lr × 0.1 at each of these steps
    time_limit: float = 0.0  # seconds this process trains (from the trainer's start, setup included), then checkpoints and stops; 0: none
    anneal_seconds: float = 0.0  # the last this many seconds of time_limit at a tenth of the learning rate (a milestone set when it starts)
    ema: float = 0.0  # decay of an exponential moving average of the weights (0: none), validated beside them and exported instead
    clip: float = 1.0
    decoder_rounding: str = "noise"  # or "ste": straight-through rounding on g_s's input
    seed: int = 0
    val: str = ""  # a folder; default: `holdout` training images set aside
    holdout: int = 24
    val_every: int = 2000
    val_images: int = 24
    ckpt_minutes: float = 5.0
    log_every: int = 50
    device: str = "auto"
    amp: bool = True  # bf16 autocast of the networks (CUDA, or CPUs with native bf16); likelihoods stay fp32
    cache_dir: str = ""
    init: str = ""  # a model file (licodec train --export) whose weights and history start the run
    threads: int = 0
    progress: bool = True
    # Speed of a step on a GPU (docs/training.md, "A fast step"); results are the same run
    compile: str = "none"  # torch.compile of forward + loss: none, default, reduce-overhead, max-autotune-no-cudagraphs
    channels_last: bool = False  # NHWC tensors for the convolutions (what cuDNN's bf16 kernels want)
    device_data: bool = False  # keep the decoded images in device memory and cut crops there

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown training settings: {', '.join(sorted(unknown))}")
        return cls(**d)

    def validate(self) -> None:
        if self.metric not in METRICS:
            raise ValueError("metric must be 'mse' or 'ms-ssim'")
        if self.crop % 16 or self.crop < 64:
            raise ValueError("crop must be a multiple of 16 and at least 64")
        if self.metric == "ms-ssim" and self.crop <= 160:
            raise ValueError("the MS-SSIM loss needs crops larger than 160 px")
        if self.compile not in COMPILE_MODES:
            raise ValueError(f"compile must be one of {', '.join(COMPILE_MODES)}")
        if self.decoder_rounding not in ("noise", "ste"):
            raise ValueError("decoder_rounding must be 'noise' or 'ste'")
        if not 0 <= self.ema < 1:
            raise ValueError("ema must be in [0, 1): the decay of the weights' moving average (0: none)")
        if self.time_limit < 0 or self.anneal_seconds < 0:
            raise ValueError("time_limit and anneal_seconds must not be negative")
        if self.anneal_seconds and not self.time_limit:
            raise ValueError("anneal_seconds needs time_limit: the anneal is the end of the time limit")
        if self.batch < 1 or self.steps < 1:
            raise ValueError("batch and steps must be positive")
        if self.lmbda is not None and not self.lmbda > 0:
            raise ValueError("lmbda must be positive")
        if self.lmbda is None and not all(v > 0 for v in self.lambdas):
            raise ValueError("lambdas must be positive")
        if self.metric == "ms-ssim" and self.lmbda is None and [float(v) for v in self.lambdas] == COMPRESSAI_MSE_LAMBDAS:
            raise ValueError("the default λ grid is for --metric mse; MS-SSIM needs its own, much larger λ: pass --lambdas or --lmbda")



def same_architecture(a: dict, b: dict) -> bool:
    """Two model configs describe the same model: equal, but λ within 0.1% (a float16 model
    file stores its λ grid rounded to float16, e.g. 0.18 as 0.180054)."""
    la, lb = a.get("lambdas"), b.get("lambdas")
    if {k: v for k, v in a.items() if k != "lambdas"} != {k: v for k, v in b.items() if k != "lambdas"}:
        return False
    if la is None or lb is None:
        return la is None and lb is None
    return len(la) == len(lb) and all(math.isclose(x, y, rel_tol=1e-3) for x, y in zip(la, lb))



def describe(cfg) -> str:
    if not isinstance(cfg, dict):
        return "different"
    rate = f"{len(cfg['lambdas'])}-level variable-rate" if cfg.get("lambdas") else "fixed-rate"
    return f"{cfg.get('name')} N={cfg.get('N')} M={cfg.get('M')} {rate}"


def differences(a, b) -> str:
    """' (N 192 != 128, ...)': the settings two model configs disagree on, for error messages."""
    if not isinstance(a, dict):
        return ""
    keys = [k for k in sorted(set(a) | set(b), key=str) if a.get(k) != b.get(k)]
    return f" ({', '.join(f'{k} {a.get(k)} != {b.get(k)}' for k in keys)})" if keys else ""
