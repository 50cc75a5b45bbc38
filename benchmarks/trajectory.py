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
        row = {"steps": h["steps"], "pixels": h["pixels_seen"], "min_bpp": min(h["bpp"])}
        for label, key in ANCHORS.items():
            ref = reference[key]
            row[label] = bd_rate(ref["bpp"], ref["psnr"], h["bpp"], h["psnr"])
        bpg = reference["measured_bpg444"]
        row["bd_psnr_bpg"] = bd_quality(bpg["bpp"], bpg["psnr"], h["bpp"], h["psnr"])
        rows.append(row)
    return rows


def fit_parity(rows: list[dict]) -> tuple[float, float, float | None]:
    """Least-squares BD-PSNR = a + b log10(pixels); returns (a, b, pixels at 0 dB or None)."""
    x = np.log10([r["pixels"] for r in rows])
    y = np.array([r["bd_psnr_bpg"] for r in rows])
    b, a = np.polyfit(x, y, 1)
    return float(a), float(b), (10 ** (-a / b) if b > 0 else None)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--card", default=str(ROOT / "licodec" / "weights" / "mbt2018-vr192.json"))
    ap.add_argument("--reference", default=str(ROOT.parent / "shared" / "reference" / "kodak_rd.json"))
    ap.add_argument("--plot", help="write BD-PSNR against pixels seen to this PNG")
    args = ap.parse_args(argv)
    card = json.loads(Path(args.card).read_text())
    reference = json.loads(Path(args.reference).read_text())
    rows = trajectory(card, reference)
    print(f"{Path(args.card).name}: Kodak, real files, BD-rate in RGB PSNR (negative = smaller files than the codec)\n")
    print("| steps | pixels seen | lowest bpp | " + " | ".join(f"vs {k}" for k in ANCHORS) + " | BD-PSNR vs BPG 4:4:4 |")
    print("|---|---|---|" + "---|" * len(ANCHORS) + "---|")
    for r in rows:
        print(f"| {r['steps']:,} | {r['pixels'] / 1e9:.2f} G | {r['min_bpp']:.3f} | "
              + " | ".join(f"{r[k]:+.1f}%" for k in ANCHORS) + f" | {r['bd_psnr_bpg']:+.2f} dB |")
    t = card["training"]
    rate = t["pixels_seen"] / t["wall_time_s"]
    print(f"\nthroughput of the run so far: {t['pixels_seen'] / 1e9:.2f} Gpixel in {t['wall_time_s'] / 3600:.1f} h "
          f"= {rate / 1e3:.0f} kpixel/s ({', '.join(sorted({s['device'] for s in t['sessions']}))})")
    if len(rows) >= 3:
        a, b, parity = fit_parity(rows)
        print(f"fit: BD-PSNR vs BPG = {a:+.2f} {b:+.2f} * log10(pixels) dB ({len(rows)} exports)")
        if parity is not None:
            print(f"extrapolated BPG parity: {parity / 1e9:,.0f} Gpixel = {parity / (t['crop'] ** 2 * t['batch_per_process']):,.0f} "
                  f"steps of {t['batch_per_process']} x {t['crop']}^2 crops, {parity / rate / 3600:,.0f} h at this run's throughput")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        px = np.array([r["pixels"] for r in rows])
        ax.semilogx(px, [r["bd_psnr_bpg"] for r in rows], "o-", label="mbt2018-vr192 exports")
        for r in rows:
            ax.annotate(f"{r['steps']:,}", (r["pixels"], r["bd_psnr_bpg"]), textcoords="offset points", xytext=(4, -10), fontsize=8)
        if len(rows) >= 3:
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


if __name__ == "__main__":
    sys.exit(main())
