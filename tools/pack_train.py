"""Pack a training set into parts that fit the device tool's upload limit (64 MiB a call).

    python tools/pack_train.py ../shared/datasets/train .gpu --part-mib 29,33

writes OUT/train/p1, p2, ... (the training photos in an order shuffled by name hash, so that
every part is a sample of all sources; split by size: the first part --part-mib's first
value, the next its second, and so on, the last value repeating), OUT/val (the photos that
``licodec train`` holds out of that folder by default: the same validation set as the CPU
runs) and OUT/init (a model file to start from). Carry one part per call; tools/gpu_train.sh
stages every carried part outside the checkout, since a carried path does not survive to the
next call. Add the folder to .git/info/exclude: it must never be committed.
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from licodec.train.data import list_images, split_holdout  # noqa: E402
from licodec.train.config import TrainConfig  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", help="training folder (what --data names on the CPU)")
    ap.add_argument("out", help="output folder, e.g. .gpu (ignored by git)")
    ap.add_argument("--part-mib", default="61.5", help="most MiB per part, or a comma list for successive parts (default 61.5)")
    ap.add_argument("--holdout", type=int, default=TrainConfig.holdout, help="photos held out for validation (default: licodec train's)")
    ap.add_argument("--init", help="model file to copy to OUT/init")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if out.exists():
        print(f"pack_train: {out} exists; remove it first", file=sys.stderr)
        return 2
    train, held = split_holdout(list_images(args.data), args.holdout)
    train.sort(key=lambda p: hashlib.sha256(p.name.encode()).hexdigest())
    sizes = [float(v) for v in args.part_mib.split(",")]
    limit = lambda part: int(sizes[min(part, len(sizes)) - 1] * 2**20)  # noqa: E731
    part, used = 1, 0
    for f in train:
        size = f.stat().st_size
        if used and used + size > limit(part):
            part, used = part + 1, 0
        dest = out / "train" / f"p{part}"
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dest / f.name)
        used += size
    (out / "val").mkdir(parents=True)
    for f in held:
        shutil.copy2(f, out / "val" / f.name)
    if args.init:
        (out / "init").mkdir()
        shutil.copy2(args.init, out / "init" / Path(args.init).name)
    print(f"{len(train)} training photos in {part} parts of at most {args.part_mib} MiB, {len(held)} validation photos: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
