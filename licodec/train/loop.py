"""The training loop: rate + λ·distortion, resumable, variable-rate, DDP-ready.

Loss per image (licodec.models.loss.RateDistortionLoss; Ballé et al. 2018; Minnen et al.
2018; CompressAI's scaling):

    L = bpp + λ · 255² · MSE           (metric "mse", x in [0, 1])
    L = bpp + λ · (1 − MS-SSIM)        (metric "ms-ssim")

where bpp = −Σ log2 p(y_tilde) − Σ log2 p(z_tilde) over the image's pixels, with additive
uniform noise as the quantization proxy. The factorized densities' tail quantiles
learn from their own auxiliary loss (see FactorizedDensity.aux_loss).

Variable rate: with a λ grid, every image of a batch draws a level q; the model
applies its gain vector for q (see RateGains) and the loss uses λ_q.

Everything the run needs to continue exactly lives in one checkpoint: model,
optimizers, step, the data sampler's RNG, the torch RNG of every rank, wall time and
the validation history. A run killed and resumed ends bitwise equal to an
uninterrupted one on the same device (tests/train/test_resume.py).
"""
from __future__ import annotations

import copy
import json
import math
import os
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from ..codec.image import IMAGE_SUFFIXES, load_rgb
from ..metrics import psnr_from_mse
from ..ops import bf16_ok
from ..models import CompressionModel, create
from ..models.compression_model import bits
from ..models.loss import RateDistortionLoss
from .checkpoint import load_state, load_state_bytes, save_state
from .clock import PauseClock, StopSignals
from .config import TrainConfig, describe, differences, same_architecture
from .data import CropSampler, DeviceCrops, ImageCache, list_images, split_holdout
from .logs import append_csv, truncate_csv

__all__ = ["Trainer"]


def _torch_at_least(major: int, minor: int) -> bool:
    v = torch.__version__.split("+")[0].split(".")
    return (int(v[0]), int(v[1])) >= (major, minor)


def _moments_like_parameters(opt: torch.optim.Optimizer | None) -> None:
    """Give loaded optimizer moments their parameter's memory layout.

    A checkpoint stores tensors contiguous; with --channels-last the parameters are NHWC, and
    fused Adam refuses moments of another layout ("must have same dtype, device, and layout":
    the failure that sent the 2026-11-27 lease's anneal to plan B)."""
    if opt is None:
        return
    for group in opt.param_groups:
        for p in group["params"]:
            state = opt.state.get(p, {})
            for k, v in state.items():
                if torch.is_tensor(v) and v.shape == p.shape and v.stride() != p.stride():
                    state[k] = torch.empty_like(p, dtype=v.dtype).copy_(v)


def _dist_info() -> tuple[int, int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0))
    return 0, 1, 0


class Trainer:
    """Owns model, optimizers, data and the run folder; ``run()`` trains until ``steps``."""

    def __init__(self, cfg: TrainConfig, resume: bool = False, clock=time.monotonic) -> None:
        cfg.validate()
        self.cfg = cfg
        self.clock = clock  # seconds; what --time-limit counts (a test passes its own)
        self.started = clock()
        self.rank, self.world, local_rank = _dist_info()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        dev = cfg.device
        if dev == "auto":
            dev = "cuda" if torch.cuda.is_available() else "cpu"
        if dev == "cuda":
            dev = f"cuda:{local_rank}"
            torch.cuda.set_device(local_rank)
            torch.backends.cudnn.benchmark = True  # static shapes: pick each convolution's fastest kernel once
        self.device = torch.device(dev)
        self.amp = cfg.amp and bf16_ok(self.device)  # bf16 autocast of the networks
        self.out = Path(cfg.out)
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)

        lambdas = None if cfg.lmbda is not None else sorted(cfg.lambdas)
        torch.manual_seed(cfg.seed)
        self.model: CompressionModel = create(cfg.model, N=cfg.N, M=cfg.M, lambdas=lambdas).to(self.device)
        self.model.decoder_rounding = cfg.decoder_rounding
        self.rd_loss = RateDistortionLoss(cfg.metric)
        if cfg.channels_last:
            self.model.to(memory_format=torch.channels_last)
        # One fused kernel per update instead of several per parameter tensor (CUDA; the CPU
        # from torch 2.4: 7 ms instead of 27 ms a step for mbt2018 on one core here).
        fused = {"fused": True} if self.device.type == "cuda" or _torch_at_least(2, 4) else {}
        self.opt = torch.optim.Adam(self.model.main_parameters(), lr=cfg.lr, **fused)
        # The quantiles of the factorized densities (none in a context-only model).
        aux_params = self.model.aux_parameters()
        self.aux_opt = torch.optim.Adam(aux_params, lr=cfg.aux_lr, **fused) if aux_params else None
        self.net = self.model
        if self.world > 1:
            self.net = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )

        files = list_images(cfg.data)
        if not files:
            raise ValueError(f"no images ({', '.join(s[1:] for s in IMAGE_SUFFIXES)}) in {cfg.data}")
        if cfg.val:
            train_files, val_files = files, list_images(cfg.val)
        elif len(files) <= cfg.holdout:
            raise ValueError(f"{cfg.data} has {len(files)} images and --holdout sets {cfg.holdout} aside for validation: lower --holdout or give --val")
        else:
            train_files, val_files = split_holdout(files, cfg.holdout)
        self.val_files = val_files[: cfg.val_images]
        cache_dir = cfg.cache_dir or str(Path(cfg.out) / "cache")
        if local_rank == 0:  # one process per machine decodes (machines need not share a disk)
            ImageCache(train_files, cache_dir, min_side=cfg.crop, progress=cfg.progress and self.rank == 0)
        if self.world > 1:
            dist.barrier()
        self.cache = ImageCache(train_files, cache_dir, min_side=cfg.crop, progress=False)
        # One data stream for all ranks; each rank takes its slice of every global batch.
        self.sampler = CropSampler(self.cache, cfg.crop, seed=cfg.seed)
        self.sync_steps = self.device.type != "cuda"  # run(): read each step's stats back at once
        self.device_crops = DeviceCrops(self.cache, cfg.crop, self.device) if cfg.device_data else None
        self._loss_terms = self._terms if cfg.compile == "none" else torch.compile(self._terms, mode=None if cfg.compile == "default" else cfg.compile)
        torch.manual_seed(cfg.seed * 1000 + self.rank + 1)

        self.step = 0
        # the step at which the optimizer's moments started (0, a warm start's step count, or a
        # checkpoint's): the warm-up counts from it, since Adam's first steps are sign steps
        # of the full rate in every parameter, whatever the step count says
        self.opt_start = 0
        self.wall = 0.0
        self.pixels = 0
        self.history: list[dict] = []  # per-session records: device, steps, wall time
        self.val_history: list[dict] = []
        # Polyak averaging: the moving average of the weights, a model of its own (validated
        # into val-ema.csv, exported instead of the raw weights); made once the weights are known.
        self.ema_model: CompressionModel | None = None
        self.val_history_ema: list[dict] = []
        self.interrupted: int | None = None  # the signal that ended the last run(), if one did
        self._ckpt = self.out / "checkpoint.safetensors"
        resumed = False
        if resume:
            if self.world > 1:  # rank 0's file, sent to all: other machines need not see it
                st = self._broadcast_checkpoint()
                if st is not None:
                    self._apply(st, self._ckpt)
                    resumed = True
            elif self._ckpt.exists():
                self.load(self._ckpt)
                resumed = True
        if cfg.init and not resumed:
            self.warm_start(cfg.init)
        if cfg.ema and self.ema_model is None:
            self._start_ema()

    def _start_ema(self, state: dict | None = None) -> None:
        """The moving average starts at the current weights (or a checkpoint's average)."""
        self.ema_model = copy.deepcopy(self.model).requires_grad_(False)
        if state is not None:
            self.ema_model.load_state_dict(state)
        if not self.val_history_ema:
            # the history before averaging began: the weights the run started from
            self.val_history_ema = [r for r in self.val_history]

    def warm_start(self, path: str) -> None:
        """Start from an exported model: its weights, step count, pixels, wall time and history.

        Unlike --resume, optimizer moments and RNG states start afresh (a model file holds
        none), and the data order is reseeded with the step so that crops are not repeated.
        """
        from ..models.io import load_model

        model, _, card = load_model(path)
        if not same_architecture(model.config, self.model.config):
            raise ValueError(f"--init {path}: model {model.config} differs from the run's {self.model.config}")
        self.model.load_state_dict(model.state_dict())
        training = card.get("training", {})
        self.step = self.opt_start = int(training.get("steps", 0))
        self.pixels = int(training.get("pixels_seen", 0))
        self.wall = float(training.get("wall_time_s", 0.0))
        self.history = list(training.get("sessions", []))
        self.val_history = list(card.get("validation", []))
        self.val_history_ema = []
        self.sampler = CropSampler(self.cache, self.cfg.crop, seed=self.cfg.seed + self.step)

    # -- schedule -----------------------------------------------------------------
    def lr_at(self, step: int) -> float:
        cfg = self.cfg
        warm = min(1.0, (step - self.opt_start + 1) / cfg.warmup) if cfg.warmup > 0 else 1.0
        return cfg.lr * warm * 0.1 ** sum(step >= m for m in cfg.milestones)

    # -- one step -----------------------------------------------------------------
    def _batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        cfg = self.cfg
        n = cfg.batch * self.world
        sl = slice(self.rank * cfg.batch, (self.rank + 1) * cfg.batch)
        if self.device_crops is not None:
            x = self.device_crops.crops(self.sampler.draw(n)[sl])
        else:
            x = torch.from_numpy(self.sampler.batch(n)[sl]).to(self.device, non_blocking=True)
        levels = None
        if self.model.gain is not None:
            levels = self.sampler.rng.integers(0, self.model.gain.levels, size=n)
        x = x.float().div_(255)
        if cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        q = torch.from_numpy(levels[sl]).to(self.device, non_blocking=True).float() if levels is not None else None
        return x, q

    def _terms(self, x: torch.Tensor, q: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, [loss, bpp, mse] detached): the whole forward, compiled with --compile."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            out = self.net(x, q)
        lam = self.model.lmbda(q) if q is not None else torch.full((x.shape[0],), float(self.cfg.lmbda), device=x.device)
        terms = self.rd_loss(out, x, lam)
        loss = terms.loss.mean()
        return loss, torch.stack([loss.detach(), terms.bpp.detach().mean(), terms.mse.detach().mean()])

    def train_step(self, sync: bool = True) -> dict:
        """One update. Returns {"loss", "bpp", "mse", "aux", "lr"}.

        ``sync=True``: floats, and a non-finite loss raises before the optimizer steps.
        ``sync=False`` (what ``run`` does on a GPU): device tensors and no host
        synchronisation, so the host queues the next step while the device computes;
        ``run`` reads them back every ``log_every`` steps and before every checkpoint, and
        stops there on a non-finite loss (``check_finite``), before anything is saved.
        """
        self.net.train()
        for g in self.opt.param_groups:
            g["lr"] = self.lr_at(self.step)
        x, q = self._batch()
        if self.cfg.compile == "reduce-overhead":
            torch.compiler.cudagraph_mark_step_begin()  # the last step's graph outputs are spent
        self.opt.zero_grad(set_to_none=True)
        if self.aux_opt is not None:
            self.aux_opt.zero_grad(set_to_none=True)
        loss, terms = self._loss_terms(x, q)
        if sync:
            stats = dict(zip(("loss", "bpp", "mse"), terms.tolist()))
            # Stop before the optimizer spreads NaN into the weights (and the next checkpoint).
            check_finite(stats, self.step + 1, self.step + 1)
        else:
            stats = dict(zip(("loss", "bpp", "mse"), terms.unbind()))
        aux = self.model.aux_loss()
        (loss + aux).backward()
        if self.cfg.clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.main_parameters(), self.cfg.clip)
        self.opt.step()
        if self.aux_opt is not None:
            self.aux_opt.step()
        if self.ema_model is not None:  # one fused update, no synchronisation
            with torch.no_grad():
                torch._foreach_lerp_(list(self.ema_model.parameters()), list(self.model.parameters()), 1 - self.cfg.ema)
        self.step += 1
        self.pixels += x.shape[0] * x.shape[-1] * x.shape[-2] * self.world
        stats["aux"] = aux.item() if sync else aux.detach().to(self.device)
        stats["lr"] = self.opt.param_groups[0]["lr"]
        return stats

    # -- validation -----------------------------------------------------------------
    @torch.no_grad()
    def validate(self, model: CompressionModel | None = None) -> list[dict]:
        """bpp (from the model's likelihoods, eval mode) and PSNR on the held-out images, per
        level, of the trained weights or of ``model`` (e.g. their moving average)."""
        model = model or self.model
        was_training = model.training
        model.eval()
        levels = list(range(self.model.gain.levels)) if self.model.gain is not None else [None]
        rows = []
        images = []
        for f in self.val_files:
            arr = load_rgb(f)
            h, w = (arr.shape[0] // 16) * 16, (arr.shape[1] // 16) * 16
            images.append(torch.from_numpy(np.array(arr[:h, :w])).permute(2, 0, 1)[None].float().div(255))
        for q in levels:
            tot_bits = tot_pix = 0.0
            psnrs = []
            for x in images:
                x = x.to(self.device)
                out = model(x, q)
                tot_bits += bits(out["likelihoods"]).item()
                tot_pix += x.shape[-1] * x.shape[-2]
                mse = torch.mean((out["x_hat"].clamp(0, 1) - x) ** 2).item()
                psnrs.append(psnr_from_mse(mse))
            lam = float(model.gain.lambdas[q]) if q is not None else self.cfg.lmbda
            rows.append({"step": self.step, "level": q, "lambda": lam, "bpp": tot_bits / max(tot_pix, 1), "psnr": float(np.mean(psnrs)) if psnrs else float("nan")})
        model.train(was_training)
        return rows

    # -- checkpoints -----------------------------------------------------------------
    def _gather(self, t: torch.Tensor) -> list[torch.Tensor]:
        """Every rank's copy of ``t`` (a CPU tensor of the same shape on all ranks), on the CPU."""
        if self.world == 1:
            return [t]
        t = t.to(self.device)  # NCCL gathers CUDA tensors only
        gathered = [torch.empty_like(t) for _ in range(self.world)]
        dist.all_gather(gathered, t)
        return [g.cpu() for g in gathered]

    def state(self) -> dict:
        """Everything a resumed run needs; on several ranks, every rank must call it."""
        extra = {}
        if self.device.type == "cuda":  # the noise of CUDA tensors comes from the device's generator
            extra["cuda_rng"] = self._gather(torch.cuda.get_rng_state(self.device))
        return {
            **extra,
            "config": asdict(self.cfg),
            "model_config": self.model.config,
            "model": self.model.state_dict(),
            "opt": self.opt.state_dict(),
            "aux_opt": self.aux_opt.state_dict() if self.aux_opt is not None else None,
            "step": self.step,
            "opt_start": self.opt_start,
            "wall": self.wall,
            "pixels": self.pixels,
            "world": self.world,
            "sampler": json.dumps(self.sampler.state()),
            "torch_rng": self._gather(torch.get_rng_state()),
            "history": self.history,
            "val_history": self.val_history,
            "ema": self.ema_model.state_dict() if self.ema_model is not None else None,
            "val_history_ema": self.val_history_ema,
        }

    def save(self, path: Path | None = None) -> None:
        state = self.state()  # every rank joins the gather
        if self.rank == 0:
            save_state(path or self._ckpt, state)

    def load(self, path: Path) -> None:
        """Continue from the checkpoint file at ``path`` (every rank reads it)."""
        self._apply(load_state(path), path)

    def _broadcast_checkpoint(self) -> dict | None:
        """Rank 0 reads its checkpoint (if any) and sends the bytes to every rank."""
        data = self._ckpt.read_bytes() if self.rank == 0 and self._ckpt.exists() else b""
        size = torch.tensor([len(data)], dtype=torch.int64, device=self.device)
        dist.broadcast(size, 0)
        n = int(size.item())
        if n == 0:
            return None
        if self.rank == 0:
            buf = torch.frombuffer(bytearray(data), dtype=torch.uint8).to(self.device)
        else:
            buf = torch.empty(n, dtype=torch.uint8, device=self.device)
        dist.broadcast(buf, 0)
        return load_state_bytes(data if self.rank == 0 else buf.cpu().numpy().tobytes())

    def _apply(self, st: dict, path: Path) -> None:
        saved = st.get("model_config")
        if not isinstance(saved, dict) or not same_architecture(saved, self.model.config):
            raise ValueError(
                f"{path} holds a {describe(saved)} model, but the settings ask for a "
                f"{describe(self.model.config)} one{differences(saved, self.model.config)}: "
                "resume with the run's settings or use a new --out"
            )
        self.model.load_state_dict(st["model"])
        self.opt.load_state_dict(st["opt"])
        if self.aux_opt is not None:
            self.aux_opt.load_state_dict(st["aux_opt"])
        for opt in (self.opt, self.aux_opt):
            _moments_like_parameters(opt)
        self.step = int(st["step"])
        self.opt_start = int(st.get("opt_start", 0))  # checkpoints before it: warm-ups long over
        self.wall = float(st["wall"])
        self.pixels = int(st["pixels"])
        self.sampler.set_state(json.loads(st["sampler"]))
        rngs = st["torch_rng"]
        if len(rngs) == self.world:  # else: another number of processes, other random draws
            torch.set_rng_state(rngs[self.rank])
            cuda_rngs = st.get("cuda_rng", [])
            if self.device.type == "cuda" and len(cuda_rngs) == self.world:
                torch.cuda.set_rng_state(cuda_rngs[self.rank], self.device)
        self.history = list(st["history"])
        self.val_history = list(st["val_history"])
        self.val_history_ema = list(st.get("val_history_ema", []))
        self.ema_model = None
        if self.cfg.ema:  # a checkpoint without an average (ema turned on at resume) starts one here
            self._start_ema(st.get("ema"))
        if self.rank == 0:  # rows a killed run logged after this checkpoint would repeat: drop them
            for log in ("train.csv", "val.csv", "val-ema.csv"):
                truncate_csv(self.out / log, self.step)

    # -- the run -----------------------------------------------------------------
    def run(self, stop_after: int | None = None) -> None:
        """Train until ``cfg.steps`` (or ``stop_after`` more steps), checkpointing on the way.

        SIGINT/SIGTERM (Ctrl-C, a scheduler, torchrun stopping its workers) end the run at
        the next step boundary, agreed across ranks, after writing a checkpoint; the signal
        number is then left in ``self.interrupted``. A second signal interrupts at once.
        """
        from tqdm import tqdm

        cfg = self.cfg
        self.interrupted = None
        target = cfg.steps if stop_after is None else min(cfg.steps, self.step + stop_after)
        if self.step >= target:
            return
        session = {"device": torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else f"cpu x{torch.get_num_threads()}",
                   "world": self.world, "start_step": self.step, "end_step": self.step, "wall_s": 0.0, "lr": cfg.lr,
                   "crop": cfg.crop, "batch": cfg.batch}
        self.history.append(session)
        log = self.out / "train.csv"
        bar = tqdm(total=target, initial=self.step, disable=not (cfg.progress and self.rank == 0), unit="it", dynamic_ncols=True)
        last_ckpt = time.monotonic()
        t_prev = time.monotonic()
        # Stats of the steps since the last log row: on a GPU kept on the device and read back
        # at log rows, validations and checkpoints only (train_step's sync=False).
        sync = self.sync_steps
        pending: list[torch.Tensor] = []  # not yet read back
        done: list[list[float]] = []  # read back
        first_pending = self.step + 1
        clock = PauseClock()
        annealed = False
        with StopSignals() as signals:
            while self.step < target:
                stats = self.train_step(sync=sync)
                now = time.monotonic()
                spent = clock.elapsed(t_prev, now)
                self.wall += spent
                session["wall_s"] += spent
                session["end_step"] = self.step
                t_prev = now
                lr = stats.pop("lr")
                if sync:
                    done.append(list(stats.values()))
                else:
                    pending.append(torch.stack(list(stats.values())))
                bar.update(1)
                # Every rank must take the same decision (saving gathers RNG states): rank 0's
                # clock decides, and a signal seen by any rank stops them all at this step.
                elapsed = self.clock() - self.started
                stop, due, anneal, over = self._agree(
                    signals.received, time.monotonic() - last_ckpt > cfg.ckpt_minutes * 60,
                    bool(cfg.anneal_seconds) and elapsed >= cfg.time_limit - cfg.anneal_seconds and not annealed,
                    bool(cfg.time_limit) and elapsed >= cfg.time_limit)
                if anneal:
                    annealed = True
                    self._anneal()
                log_now = self.step % cfg.log_every == 0 or self.step == target
                val_now = bool(cfg.val_every) and self.step % cfg.val_every == 0
                if pending and (log_now or val_now or due or stop or self.step == target):
                    for k, v in enumerate(torch.stack(pending).tolist()):  # the one read-back
                        check_finite(dict(zip(stats, v)), first_pending + k, self.step)
                        done.append(v)
                    pending, first_pending = [], self.step + 1
                if log_now:
                    row = {k: sum(v[j] for v in done) / len(done) for j, k in enumerate(stats)}
                    row["lr"] = lr
                    row["psnr"] = psnr_from_mse(row["mse"])
                    bar.set_postfix(loss=f"{row['loss']:.3f}", bpp=f"{row['bpp']:.3f}", psnr=f"{row['psnr']:.2f}")
                    if self.rank == 0:
                        append_csv(log, {"step": self.step, "wall_s": round(self.wall, 1), "pixels": self.pixels, **{k: round(v, 6) for k, v in row.items()}})
                    done = []
                if val_now:
                    self._validate_and_log()
                    t_prev = time.monotonic()
                if due or stop or over or self.step == target:
                    self.save()
                    last_ckpt = time.monotonic()
                    t_prev = last_ckpt
                if stop:
                    self.interrupted = int(signals.received or signal.SIGTERM)
                    break
                if over:
                    if self.rank == 0:
                        print(f"licodec train: time limit ({cfg.time_limit:g} s) reached at step {self.step}; checkpoint saved", file=sys.stderr)
                    break
        clock.close()
        bar.close()

    def _agree(self, signalled: int | None, *decisions: bool) -> tuple[bool, ...]:
        """(whether any rank was signalled, *rank 0's decisions), the same on every rank."""
        if self.world == 1:
            return (signalled is not None, *decisions)
        flags = torch.tensor([float(signalled is not None)] + [float(d) if self.rank == 0 else 0.0 for d in decisions], device=self.device)
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        return tuple(bool(v) for v in flags.tolist())

    def _anneal(self) -> None:
        """--anneal-seconds: the learning rate drops tenfold from this step on (a milestone, so
        the checkpoint, a resume and the card's schedule keep it), unless a milestone already
        lowered it (a resumed or restarted run does not anneal twice)."""
        if any(self.step >= m for m in self.cfg.milestones):
            return
        self.cfg.milestones = sorted([*self.cfg.milestones, self.step])
        if self.rank == 0:
            print(f"licodec train: annealing at step {self.step}: learning rate {self.lr_at(self.step):g} "
                  f"for the last {self.cfg.anneal_seconds:g} s", file=sys.stderr)

    def _validate_and_log(self) -> None:
        if not self.val_files:
            return
        if self.rank == 0:
            for model, history, log in ((self.model, self.val_history, "val.csv"), (self.ema_model, self.val_history_ema, "val-ema.csv")):
                if model is None:
                    continue
                rows = self.validate(model)
                history.extend(rows)
                for r in rows:
                    append_csv(self.out / log, r)
        if self.world > 1:
            dist.barrier()



def check_finite(stats: dict, step: int, read_at: int) -> None:
    """Raise FloatingPointError when the loss of ``step`` (read back at step ``read_at``) is not finite."""
    if not math.isfinite(stats["loss"]):
        where = f"at step {step}" + (f" (read back at step {read_at})" if read_at != step else "")
        raise FloatingPointError(
            f"non-finite loss {where} (bpp {stats['bpp']}, mse {stats['mse']}); "
            "the last checkpoint is intact: lower --lr or raise --warmup and resume"
        )

