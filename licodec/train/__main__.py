"""``python -m licodec.train`` / ``licodec train``: train a model (see licodec.train.loop).

Single process:      licodec train --data DIR --out runs/x
Several processes:   torchrun --nproc_per_node=K -m licodec.train --data DIR --out runs/x
Several machines:    torchrun --nnodes=2 --node_rank=R --master_addr=HOST --nproc_per_node=K -m licodec.train ...
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from dataclasses import fields
from pathlib import Path

__all__ = ["main", "build_parser"]


def _floats(s: str) -> list[float]:
    return [float(v) for v in s.replace(",", " ").split()]


def _ints(s: str) -> list[int]:
    return [int(float(v)) for v in s.replace(",", " ").split()]


def build_parser(prog: str = "licodec train") -> argparse.ArgumentParser:
    from .config import COMPILE_MODES, TrainConfig

    d = TrainConfig()
    ap = argparse.ArgumentParser(prog=prog, description="Train a licodec model on a folder of images (rate + λ·distortion).")
    ap.add_argument("--config", help="JSON or TOML file of settings (flags given here override it)")
    ap.add_argument("--data", help="folder of training images (recursive: JPEG, PNG, WebP)")
    ap.add_argument("--out", help=f"run folder: checkpoint, logs, exported model (default {d.out})")
    ap.add_argument("--model", help=f"architecture (default {d.model}); see `python -m licodec.models`")
    ap.add_argument("-N", type=int, help=f"channels of the transforms (default {d.N})")
    ap.add_argument("-M", type=int, help=f"channels of y (default {d.M})")
    ap.add_argument("--lambdas", type=_floats, help="λ grid of a variable-rate model (default: CompressAI's 8 MSE λ)")
    ap.add_argument("--lmbda", type=float, help="train one fixed λ (the paper's setup) instead of a grid")
    ap.add_argument("--metric", choices=["mse", "ms-ssim"], help="distortion (default mse)")
    ap.add_argument("--crop", type=int, help=f"random crop side (default {d.crop})")
    ap.add_argument("--batch", type=int, help=f"images per step and process (default {d.batch})")
    ap.add_argument("--steps", type=int, help=f"total steps to reach (default {d.steps})")
    ap.add_argument("--lr", type=float, help=f"Adam learning rate (default {d.lr})")
    ap.add_argument("--aux-lr", dest="aux_lr", type=float, help=f"learning rate of the quantile (aux) loss (default {d.aux_lr})")
    ap.add_argument("--warmup", type=int, help=f"linear warm-up steps from the optimizer's first step (a new run's, or --init's; default {d.warmup})")
    ap.add_argument("--milestones", type=_ints, help="steps at which the learning rate drops 10x")
    ap.add_argument("--time-limit", dest="time_limit", type=float, metavar="SECONDS",
                    help="train this many seconds (from the start of the process's trainer, data caching and compilation included), then checkpoint and stop")
    ap.add_argument("--anneal-seconds", dest="anneal_seconds", type=float, metavar="SECONDS",
                    help="with --time-limit: the last SECONDS at a tenth of the learning rate (the anneal, in the same process; "
                         "recorded as a milestone at the step it starts; none if a milestone already lowered the rate)")
    ap.add_argument("--ema", type=float, help="keep a moving average of the weights with this decay (e.g. 0.999), validate it beside them (val-ema.csv) and export it instead (default 0: none)")
    ap.add_argument("--clip", type=float, help=f"gradient-norm clip, 0 for none (default {d.clip})")
    ap.add_argument("--decoder-rounding", dest="decoder_rounding", choices=["noise", "ste"], help="g_s input in training: noisy y or straight-through rounded y")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--val", help="held-out folder (default: --holdout training images set aside; never Kodak)")
    ap.add_argument("--holdout", type=int, help=f"training images set aside for validation (default {d.holdout})")
    ap.add_argument("--val-every", dest="val_every", type=int, help=f"validate every K steps (default {d.val_every})")
    ap.add_argument("--val-images", dest="val_images", type=int, help=f"held-out images used per validation (default {d.val_images})")
    ap.add_argument("--ckpt-minutes", dest="ckpt_minutes", type=float, help=f"checkpoint interval (default {d.ckpt_minutes})")
    ap.add_argument("--log-every", dest="log_every", type=int)
    ap.add_argument("--device", help="auto, cpu, cuda (default auto)")
    ap.add_argument("--no-amp", dest="amp", action="store_false", default=None, help="no bf16 autocast (used on CUDA and on CPUs with native bf16)")
    ap.add_argument("--cache-dir", dest="cache_dir", help="where decoded images are cached (default OUT/cache)")
    ap.add_argument("--threads", type=int, help="torch CPU threads")
    ap.add_argument("--no-progress", dest="progress", action="store_false", default=None)
    ap.add_argument("--compile", choices=COMPILE_MODES,
                    help="torch.compile the forward and the loss with this mode (default none; see docs/training.md)")
    ap.add_argument("--channels-last", dest="channels_last", action="store_true", default=None, help="NHWC convolutions (faster with cuDNN's bf16 kernels)")
    ap.add_argument("--device-data", dest="device_data", action="store_true", default=None,
                    help="keep the decoded training images in device memory and cut the crops there (GPU)")
    ap.add_argument("--init", metavar="MODEL", help="start from an exported model file (weights and history; fresh optimizer), unless --resume finds a checkpoint")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.safetensors if there is one, with the run's saved settings (flags and --config override them)")
    ap.add_argument("--export", metavar="PATH", help="after training, write the model file (safetensors + card) here")
    ap.add_argument("--export-fp16", action="store_true", help="store the exported weights as float16 (half the file; the coding tables are built from the rounded weights)")
    return ap


def _load_config_file(path: str) -> dict:
    """Settings from a JSON or (by suffix) TOML file; keys are TrainConfig's field names."""
    p = Path(path)
    text = p.read_text()
    try:
        if p.suffix == ".toml":
            import tomllib

            settings = tomllib.loads(text)
        else:
            settings = json.loads(text)
    except ValueError as exc:  # JSONDecodeError and TOMLDecodeError both are
        raise ValueError(f"{path}: {exc}") from None
    if not isinstance(settings, dict):
        raise ValueError(f"{path}: expected a table of settings")
    return settings


# Settings of the machine (and of this process's time) rather than of the run: a resumed run
# does not inherit them.
_MACHINE_SETTINGS = ("device", "threads", "progress", "compile", "channels_last", "device_data", "time_limit", "anneal_seconds")


def _checkpoint_settings(path: Path) -> dict:
    """The settings saved in a run's checkpoint (its metadata only; no tensor is read)."""
    from .checkpoint import load_entry

    return {k: v for k, v in load_entry(path, "config").items() if k not in _MACHINE_SETTINGS}


def config_from_args(args: argparse.Namespace):
    """Settings by precedence: flags, then the config file, then (with --resume) the run's
    checkpoint, then TrainConfig's defaults."""
    from .config import TrainConfig

    file_settings = _load_config_file(args.config) if args.config else {}
    names = {f.name for f in fields(TrainConfig)}
    flags = {k: v for k, v in vars(args).items() if k in names and v is not None}
    settings = {}
    if getattr(args, "resume", False):
        ckpt = Path(flags.get("out") or file_settings.get("out") or TrainConfig.out) / "checkpoint.safetensors"
        if ckpt.exists():
            settings.update(_checkpoint_settings(ckpt))
    settings.update(file_settings)
    settings.update(flags)
    return TrainConfig.from_dict(settings)


def main(argv: list[str] | None = None, prog: str = "licodec train") -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        cfg = config_from_args(args)
        if not cfg.data:
            raise ValueError("--data is required (a folder of training images)")
    except (ValueError, OSError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2

    import torch.distributed as dist

    from .export import export_run
    from .loop import Trainer

    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed:
        import torch

        backend = "nccl" if (cfg.device in ("auto", "cuda") and torch.cuda.is_available()) else "gloo"
        dist.init_process_group(backend)
    trainer = None
    try:
        trainer = Trainer(cfg, resume=args.resume)
        if trainer.rank == 0 and args.resume:
            print(f"{prog}: resuming {cfg.out} at step {trainer.step}" if trainer.step else f"{prog}: no checkpoint in {cfg.out}; starting at step 0", file=sys.stderr)
        trainer.run()
        if trainer.interrupted:
            if trainer.rank == 0:
                print(f"{prog}: stopped by {signal.Signals(trainer.interrupted).name} at step {trainer.step}; checkpoint saved, continue with --resume", file=sys.stderr)
            return 128 + int(trainer.interrupted)
        if args.export and trainer.rank == 0:
            export_run(trainer, args.export, half=args.export_fp16)
    except (ValueError, FileNotFoundError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except FloatingPointError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # Mid-step: the state is not a step boundary, so keep the last checkpoint as it is.
        step = f" at step {trainer.step}" if trainer is not None else ""
        print(f"{prog}: interrupted{step}; the last checkpoint stays (continue with --resume)", file=sys.stderr)
        return 130
    finally:
        if distributed and dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main(prog="python -m licodec.train"))
