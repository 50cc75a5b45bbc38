"""The default model's Kodak R-D trajectory against training: BD-rate / BD-PSNR per export.

    python benchmarks/trajectory.py --plot docs/results/trajectory.png

Reads ``kodak_history`` from a model card (every shipped export's measured Kodak curve, with
its step count and pixels seen) and the reference curves, and prints, per export, the
BD-rate (RGB PSNR) against the classical codecs and BD-PSNR against measured BPG 4:4:4.
A straight line of BD-PSNR against log10(pixels seen), fitted to the exports, gives a
rough extrapolation of the training that BPG parity would take at this recipe; the CPU
time it would cost follows from the run's own throughput (pixels per second of wall time
in the card). It is an extrapolation of a few noisy points and an optimistic one: learned
codecs improve ever more slowly with training, so the straight line is a lower bound on the
compute, not an estimate; and the later exports include learning-rate drops and annealing,
which move a model more than steps do. The history stores bpp to 3 decimals and PSNR to 2,
so BD-rates here can differ from the full evaluation's by a few tenths of a percent.

    python benchmarks/trajectory.py --run "H100, 256^2 x 16=docs/results/gpu-h100-2026-11-24" \
        --val-plot docs/results/validation.png

adds the validation trajectory: the held-out training photos (never Kodak) that every run
validates on, as BD-PSNR against the card's last validation (the shipped model) per
validation step and pixels seen, for the card's own history and for each run folder given
(its ``train.csv`` maps steps to pixels seen, its ``val.csv`` holds the validations), e.g.
a continuation of the shipped model on other hardware or with another recipe. It measures
what further training buys, on the same photos, where no Kodak export exists.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ANCHORS = {"jpeg420": "measured_jpeg420", "webp": "measured_webp", "jpeg2000": "measured_jpeg2000", "BPG 4:4:4": "measured_bpg444"}


def trajectory(card: dict, reference: dict) -> list[dict]:
    """One row per ``kodak_history`` entry: steps, pixels, BD-rates (%), BD-PSNR vs BPG (dB), lowest bpp."""
    from licodec.eval.bdrate import bd_quality, bd_rate

    rows = []
    for h in card["kodak_history"]:
        row = {"steps": h["steps"], "pixels": h["pixels_seen"], "min_bpp": min(h["bpp"]), "refined": bool(h.get("entropy_refinement"))}
        for label, key in ANCHORS.items():
            ref = reference[key]
            row[label] = bd_rate(ref["bpp"], ref["psnr"], h["bpp"], h["psnr"])
        bpg = reference["measured_bpg444"]
        row["bd_psnr_bpg"] = bd_quality(bpg["bpp"], bpg["psnr"], h["bpp"], h["psnr"])
        rows.append(row)
    return rows


def fit_parity(rows: list[dict]) -> tuple[float, float, float | None]:
    """Least-squares BD-PSNR = a + b log10(pixels) over the trained exports (entropy-refined
    ones left out: refinement is not training pixels); returns (a, b, pixels at 0 dB or None)."""
    rows = [r for r in rows if not r.get("refined")]
    x = np.log10([r["pixels"] for r in rows])
    y = np.array([r["bd_psnr_bpg"] for r in rows])
    b, a = np.polyfit(x, y, 1)
    return float(a), float(b), (10 ** (-a / b) if b > 0 else None)


def _step_pixels(training: dict, session: dict) -> int:
    """Pixels one step of a session sees: its crop and batch (recorded since 2026-11-24, else the card's) x processes."""
    crop = session.get("crop", training["crop"])
    return crop * crop * session.get("batch", training["batch_per_process"]) * session.get("world", 1)


def sessions_table(training: dict) -> str:
    """Markdown table of a card's training sessions: device, crops, steps, pixels, wall time, throughput, lr."""
    lines = ["| segment | device | crops | steps | Gpixel | wall time | steps/s | Mpixel/s | lr |", "|---|---|---|---|---|---|---|---|---|"]
    for i, s in enumerate(training["sessions"], 1):
        steps = s["end_step"] - s["start_step"]
        px = steps * _step_pixels(training, s)
        wall = max(s["wall_s"], 1e-9)
        crop = s.get("crop", training["crop"])
        lines.append(f"| {i} | {s['device']} | {s.get('batch', training['batch_per_process'])} x {crop}^2 | "
                     f"{s['start_step']:,}-{s['end_step']:,} | {px / 1e9:.2f} | {wall / 3600:.2f} h | "
                     f"{steps / wall:.2f} | {px / wall / 1e6:.3f} | {s.get('lr', '')} |")
    return "\n".join(lines)


def pixels_at(training: dict, step: int) -> int:
    """Training pixels seen at ``step``, walking the card's sessions (each with its own crop and batch)."""
    seen, at = 0, 0
    for s in training["sessions"]:
        if s["start_step"] >= step:
            break
        end = min(s["end_step"], step)
        seen += (end - s["start_step"]) * _step_pixels(training, s)
        at = end
    last = training["sessions"][-1] if training["sessions"] else {}
    return seen + max(0, step - at) * _step_pixels(training, last)


def card_validation(card: dict) -> dict[int, tuple[int, list[float], list[float]]]:
    """The card's validation history: {step: (pixels seen, bpp per level, PSNR per level)}."""
    from licodec.train.logs import by_step

    t = card["training"]
    return {step: (pixels_at(t, step), bpp, psnr) for step, (bpp, psnr) in by_step(card["validation"]).items()}


def run_validation(run: Path) -> dict[int, tuple[int, list[float], list[float]]]:
    """A run folder's validation (``val.csv``, or the CSV file given, e.g. the folder's
    ``val-ema.csv``: the moving average's) with pixels seen from the folder's ``train.csv``
    (interpolated)."""
    import csv

    from licodec.train.logs import by_step, validation_rows

    folder = run.parent if run.suffix == ".csv" else run
    with open(folder / "train.csv") as f:
        steps, pixels = np.array([(int(r["step"]), int(r["pixels"])) for r in csv.DictReader(f)]).T
    rows = validation_rows(run)
    return {step: (int(np.interp(step, steps, pixels)), bpp, psnr) for step, (bpp, psnr) in by_step(rows).items()}


def validation_gain(curves: dict[int, tuple[int, list[float], list[float]]], ref: tuple[list[float], list[float]]) -> list[tuple[int, int, float, float]]:
    """(step, pixels, BD-rate %, BD-PSNR dB) of each validation against ``ref`` = (bpp, psnr).

    Validations whose R-D curve does not overlap the reference enough (early training) are skipped.
    """
    from licodec.eval.bdrate import NoOverlap, bd_quality, bd_rate

    rows = []
    for step, (px, bpp, psnr) in sorted(curves.items()):
        try:
            rows.append((step, px, bd_rate(ref[0], ref[1], bpp, psnr), bd_quality(ref[0], ref[1], bpp, psnr)))
        except NoOverlap:
            continue
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--card", default=str(ROOT / "licodec" / "weights" / "mbt2018-vr192.json"))
    ap.add_argument("--reference", default=str(ROOT.parent / "shared" / "reference" / "kodak_rd.json"))
    ap.add_argument("--plot", help="write BD-PSNR against pixels seen to this PNG")
    ap.add_argument("--run", action="append", default=[], metavar="LABEL=DIR",
                    help="a run folder (train.csv, val.csv), or one of its validation CSVs (e.g. DIR/val-ema.csv), whose validation to compare with the card's (repeatable)")
    ap.add_argument("--val-plot", help="write the validation trajectories (BD-PSNR vs the shipped model) to this PNG")
    args = ap.parse_args(argv)
    card = json.loads(Path(args.card).read_text())
    reference = json.loads(Path(args.reference).read_text())
    rows = trajectory(card, reference)
    print(f"{Path(args.card).name}: Kodak, real files, BD-rate in RGB PSNR (negative = smaller files than the codec)\n")
    print("| steps | pixels seen | lowest bpp | " + " | ".join(f"vs {k}" for k in ANCHORS) + " | BD-PSNR vs BPG 4:4:4 |")
    print("|---|---|---|" + "---|" * len(ANCHORS) + "---|")
    for r in rows:
        print(f"| {r['steps']:,}{' + entropy refinement' if r['refined'] else ''} | {r['pixels'] / 1e9:.2f} G | {r['min_bpp']:.3f} | "
              + " | ".join(f"{r[k]:+.1f}%" for k in ANCHORS) + f" | {r['bd_psnr_bpg']:+.2f} dB |")
    t = card["training"]
    print("\ntraining segments (one process each, from the card; wall time of the training steps, validation and checkpoints left out):\n")
    print(sessions_table(t))
    rate = t["pixels_seen"] / t["wall_time_s"]
    print(f"\nthroughput of the run so far: {t['pixels_seen'] / 1e9:.2f} Gpixel in {t['wall_time_s'] / 3600:.1f} h "
          f"= {rate / 1e3:.0f} kpixel/s ({', '.join(sorted({s['device'] for s in t['sessions']}))})")
    trained = [r for r in rows if not r["refined"]]
    if len(trained) >= 3:
        a, b, parity = fit_parity(rows)
        print(f"fit: BD-PSNR vs BPG = {a:+.2f} {b:+.2f} * log10(pixels) dB ({len(trained)} exports)")
        if parity is not None:
            print(f"extrapolated BPG parity: {parity / 1e9:,.0f} Gpixel = {parity / (t['crop'] ** 2 * t['batch_per_process']):,.0f} "
                  f"steps of {t['batch_per_process']} x {t['crop']}^2 crops, {parity / rate / 3600:,.0f} h at this run's throughput")
    if args.run or args.val_plot:
        validation_report(card, args.run, args.val_plot)
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        px = np.array([r["pixels"] for r in trained])
        ax.semilogx(px, [r["bd_psnr_bpg"] for r in trained], "o-", label="mbt2018-vr192 exports")
        for r in trained:
            ax.annotate(f"{r['steps']:,}", (r["pixels"], r["bd_psnr_bpg"]), textcoords="offset points", xytext=(4, -10), fontsize=8)
        refined = [r for r in rows if r["refined"]]
        if refined:
            ax.semilogx([r["pixels"] for r in refined], [r["bd_psnr_bpg"] for r in refined], "s", label="+ entropy refinement")
        if len(trained) >= 3:
            a, b, parity = fit_parity(rows)
            xs = np.logspace(math.log10(px.min()), math.log10(max(px.max(), parity or px.max())), 50)
            ax.semilogx(xs, a + b * np.log10(xs), "--", color="gray", label="log-linear fit")
        ax.axhline(0, color="k", lw=0.8, label="BPG 4:4:4")
        ax.set_xlabel("training pixels seen")
        ax.set_ylabel("BD-PSNR vs BPG 4:4:4 on Kodak (dB)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}")
    return 0


def validation_report(card: dict, runs: list[str], plot: str | None) -> None:
    """Print (and plot) the validation trajectories of the card and of each ``LABEL=DIR`` run."""
    own = card_validation(card)
    last = max(own)
    ref = (own[last][1], own[last][2])
    series = [("the card's runs", validation_gain(own, ref))]
    for spec in runs:
        label, sep, folder = spec.partition("=")
        if not sep:
            raise SystemExit(f"--run wants LABEL=DIR, got {spec!r}")
        series.append((label, validation_gain(run_validation(Path(folder)), ref)))
    print(f"\nvalidation (held-out training photos, never Kodak): BD vs the card's step {last:,}\n")
    print("| run | step | pixels seen | BD-rate | BD-PSNR |")
    print("|---|---|---|---|---|")
    for label, rows in series:
        for step, px, rate, dq in rows:
            print(f"| {label} | {step:,} | {px / 1e9:.2f} G | {rate:+.1f}% | {dq:+.2f} dB |")
    if plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        for label, rows in series:
            if rows:
                ax.semilogx([r[1] for r in rows], [r[3] for r in rows], "o-", ms=3, label=label)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xlabel("training pixels seen")
        ax.set_ylabel(f"validation BD-PSNR vs step {last:,} (dB)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(plot, dpi=120)
        print(f"wrote {plot}")


if __name__ == "__main__":
    sys.exit(main())
