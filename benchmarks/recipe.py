"""Recipe measurements: training runs from the same starting weights, compared at equal steps.

    python benchmarks/recipe.py --start runs/crop-start/val-ema.csv \\
        "128² × 8=runs/crop-w128x8" "256² × 2=runs/crop-w256x2"

Each run folder's validations (the 12 held-out training photos every run validates on,
never Kodak; rates from the likelihoods) are compared with the first run's at every step
that all runs validated: BD-rate and BD-PSNR of each run against the first, for the moving
average (``val-ema.csv``) and, where logged, the raw weights (``val.csv``). ``--start``
adds the starting weights' own validation on the same photos, so the table also says what
each run gained: a one-step run from them with ``--val-every 1`` logs it (its moving average
is still the starting weights), or a model file's card holds its last one. Pixels seen at
each step come from the folders' ``train.csv``. Equal steps, not equal wall time: runs that
share the machine still compare fairly.

    python benchmarks/recipe.py --successive "default=runs/cpu-s17"

``--successive`` compares each run with itself instead: every validation against the run's
one before it, and the last against the first (is a long run still moving?).
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

Curve = tuple[list[float], list[float]]


def validations(folder: Path, name: str) -> dict[int, Curve]:
    """{step: (bpp per level, PSNR per level)} of ``folder/name``, empty if it is absent."""
    from licodec.train.logs import by_step, validation_rows

    return by_step(validation_rows(folder / name)) if (folder / name).is_file() else {}


def gpixels(folder: Path, step: int) -> float:
    """Gpixel seen at ``step`` (the first logged row at or after it), from ``train.csv``."""
    with open(folder / "train.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if int(r["step"]) >= step]
    return int(rows[0]["pixels"]) / 1e9 if rows else float("nan")


def compare(runs: list[tuple[str, Path]], name: str, start: Curve | None) -> list[str]:
    """Markdown rows: each run against the first at every common validation step."""
    from licodec.eval.bdrate import NoOverlap, bd_quality, bd_rate

    curves = [validations(folder, name) for _, folder in runs]
    common = sorted(set.intersection(*(set(c) for c in curves))) if all(curves) else []
    lines = []
    for step in common:
        base = curves[0][step]
        for (label, folder), c in zip(runs, curves):
            bpp, psnr = c[step]
            cells = []
            for ref in (base, start):
                if ref is None:
                    continue
                try:
                    cells.append(f"{bd_rate(ref[0], ref[1], bpp, psnr):+.2f}% / {bd_quality(ref[0], ref[1], bpp, psnr):+.3f} dB")
                except NoOverlap:
                    cells.append("no overlap")
            lines.append(f"| {step:,} | {label} | {gpixels(folder, step):.3f} | " + " | ".join(cells) + f" | {bpp[0]:.4f} / {psnr[0]:.2f} | {bpp[-1]:.4f} / {psnr[-1]:.2f} |")
    return lines


def successive(label: str, folder: Path, name: str) -> list[str]:
    """Markdown rows: each validation of one run against its previous one, then the last
    against the first."""
    from licodec.eval.bdrate import bd_quality, bd_rate

    curves = validations(folder, name)
    steps = sorted(curves)
    pairs = list(zip(steps, steps[1:])) + ([(steps[0], steps[-1])] if len(steps) > 2 else [])
    lines = []
    for a, b in pairs:
        (ra, qa), (rb, qb) = curves[a], curves[b]
        lines.append(f"| {a:,} → {b:,} | {label} | {gpixels(folder, b):.3f} | {bd_rate(ra, qa, rb, qb):+.3f}% / "
                     f"{bd_quality(ra, qa, rb, qb):+.4f} dB | {rb[0]:.4f} / {qb[0]:.3f} | {rb[-1]:.4f} / {qb[-1]:.3f} |")
    return lines


def start_curve(source: str) -> Curve | None:
    """The starting weights' validation: a CSV log's first step (e.g. the ``val-ema.csv`` of a
    one-step run from them: the average is still the starting weights), or a model file's last
    recorded validation (its card); None if there is none."""
    from licodec.train.logs import by_step, validation_rows

    rows = by_step(validation_rows(source))
    if not rows:
        return None
    return rows[min(rows) if source.endswith(".csv") else max(rows)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", metavar="LABEL=DIR", help="run folders; the first is the reference")
    ap.add_argument("--start", help="the starting weights' validation: a CSV log (its first step) or a model file (its card's last)")
    ap.add_argument("--successive", action="store_true", help="each run's validations against its own previous one")
    args = ap.parse_args(argv)
    runs = []
    for spec in args.runs:
        label, sep, folder = spec.partition("=")
        if not sep or not Path(folder, "train.csv").is_file():
            raise SystemExit(f"recipe.py: want LABEL=DIR with DIR/train.csv, got {spec!r}")
        runs.append((label, Path(folder)))
    if args.successive:
        for name, title in (("val-ema.csv", "moving average"), ("val.csv", "raw weights")):
            lines = [line for label, folder in runs for line in successive(label, folder, name)]
            if lines:
                print(f"\n{title} ({name}): BD-rate / BD-PSNR on the held-out photos, each validation against the one before\n")
                print("| steps | run | Gpixel | BD-rate / BD-PSNR | q1 bpp / dB | q8 bpp / dB |")
                print("|---|---|---|---|---|---|")
                print("\n".join(lines))
        return 0
    start = start_curve(args.start) if args.start else None
    against = f"vs {runs[0][0]}" + (" | vs the start" if start else "")
    for name, title in (("val-ema.csv", "moving average"), ("val.csv", "raw weights")):
        lines = compare(runs, name, start)
        if not lines:
            continue
        print(f"\n{title} ({name}): BD-rate / BD-PSNR on the held-out photos\n")
        print(f"| step | run | Gpixel | {against} | q1 bpp / dB | q8 bpp / dB |")
        print("|---|---|---|---|" + ("---|" if start else "") + "---|---|")
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
