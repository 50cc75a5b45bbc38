"""The paper's comparison on our code: each model against the joint model and BPG 4:4:4.

    python benchmarks/ablation.py --joint mbt2018=results/kodak/mbt2018-vr192.json \
        --model bmshj2018-hyperprior=results/kodak/hyper.json=licodec/weights/hyper.safetensors \
        --model mbt2018-mean=... --out docs/ablation

Each --model / --joint is LABEL=RESULTS_JSON[=MODEL_FILE]: the results come from
``licodec eval DATASET --model MODEL_FILE`` (real files on disk); the model file, when
given, adds the parameter count and the encode/decode time of a 768x512 image (median of
--runs runs, --threads threads). Prints a Markdown table - BD-rate (PSNR and MS-SSIM dB)
against the joint model and against measured BPG 4:4:4 of ../shared/reference/kodak_rd.json -
and writes it with an R-D plot (all models and the paper's published curves) to --out.

With --trajectory LABEL=RUN_DIR or LABEL=MODEL (repeatable, the joint model's first; a
model file's card holds its run's validation log), it also
tabulates the training trajectory at equal steps: at every validation step that all runs
reached, the BD-rate (PSNR) of each model against the first, from the runs' val.csv
(held-out training photos, rates from the models' likelihoods: an estimate between
Kodak measurements, not real files).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path



def _spec(text: str) -> tuple[str, Path, Path | None]:
    parts = text.split("=")
    if len(parts) not in (2, 3):
        raise argparse.ArgumentTypeError("expected LABEL=RESULTS_JSON[=MODEL_FILE]")
    return parts[0], Path(parts[1]), Path(parts[2]) if len(parts) == 3 else None


def trajectory(runs: list[tuple[str, str]]) -> str:
    """Markdown table: per common validation step, BD-rate (PSNR) of each run vs the first."""
    from licodec.eval.bdrate import NoOverlap, bd_rate
    from licodec.train.logs import by_step, validation_rows

    curves = []
    for label, source in runs:
        try:
            rows = validation_rows(source)
        except FileNotFoundError as e:
            raise SystemExit(f"--trajectory {e}") from None
        curves.append((label, {step: list(zip(*bp)) for step, bp in by_step(rows).items()}))
    steps = sorted(set.intersection(*(set(c) for _, c in curves)))
    head = ["step"] + [f"{label} vs {curves[0][0]}" for label, _ in curves[1:]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for step in steps:
        anchor = sorted(curves[0][1][step])
        cells = [f"{step:,}"]
        for _, c in curves[1:]:
            test = sorted(c[step])
            try:
                cells.append(f"{bd_rate([r for r, _ in anchor], [q for _, q in anchor], [r for r, _ in test], [q for _, q in test]):+.1f}%")
            except NoOverlap:
                cells.append("no overlap")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _only(curve: dict, qualities: set[float] | None) -> dict:
    """A curve restricted to the points at ``qualities`` (None: all)."""
    if qualities is None:
        return curve
    keep = [i for i, q in enumerate(curve["quality"]) if float(q) in qualities]
    return {k: ([v[i] for i in keep] if isinstance(v, list) and len(v) == len(curve["quality"]) else v) for k, v in curve.items()}


def _per_image(results: Path) -> dict[str, dict[float, tuple[float, float, float]]]:
    """{image: {quality: (bpp, psnr, ms_ssim)}} of a ``licodec eval`` result file."""
    import json

    doc = json.loads(results.read_text())
    return {img: {float(r["quality"]): (r["bpp"], r["psnr"], r["ms_ssim"]) for r in recs} for img, recs in doc["per_image"].items()}


def _bd_of(images: list[str], anchor: dict, test: dict) -> float:
    """BD-rate (PSNR) of the mean curves of ``test`` against ``anchor`` over ``images`` (repeats allowed)."""
    from licodec.eval.bdrate import bd_rate

    def curve(per):
        qs = sorted(set.intersection(*(set(per[i]) for i in images)))
        pts = [[per[i][q] for i in images] for q in qs]
        return [sum(b for b, _, _ in p) / len(p) for p in pts], [sum(v for _, v, _ in p) / len(p) for p in pts]

    ra, qa = curve(anchor)
    rt, qt = curve(test)
    return bd_rate(ra, qa, rt, qt)


def image_noise(anchor_results: Path, test_results: Path, resamples: int = 1000, seed: int = 0, qualities: set[float] | None = None) -> dict:
    """How much the BD-rate (PSNR) of test against anchor depends on which photos are measured:
    its value on each half of the images (odd and even positions in name order) and the standard
    deviation over ``resamples`` bootstrap resamples of the images (paired: the same photos for
    both models). Not the training noise (seeds), which needs a second run."""
    import random

    from licodec.eval.bdrate import NoOverlap

    a, t = _per_image(anchor_results), _per_image(test_results)
    if qualities is not None:
        a, t = ({i: {q: v for q, v in per.items() if q in qualities} for i, per in d.items()} for d in (a, t))
    images = sorted(set(a) & set(t))
    rng = random.Random(seed)
    values = []
    for _ in range(resamples):
        try:
            values.append(_bd_of([rng.choice(images) for _ in images], a, t))
        except NoOverlap:
            continue
    return {"all": _bd_of(images, a, t), "halves": (_bd_of(images[0::2], a, t), _bd_of(images[1::2], a, t)),
            "bootstrap_sd": statistics.pstdev(values) if len(values) > 1 else float("nan")}


def time_model(path: Path, runs: int, threads: int) -> tuple[int, float, float]:
    """(parameters, median encode s, median decode s) on a 768x512 image."""
    import torch

    from licodec.codec import api

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_codec import synthetic_photo

    torch.set_num_threads(threads)
    codec = api.resolve_model(path)
    img = synthetic_photo(512, 768)
    q = None if codec.quality_range is None else sum(codec.quality_range) / 2
    enc, dec = [], []
    for _ in range(runs + 1):
        t0 = time.perf_counter()
        data = api.compress(img, quality=q, model=codec)
        t1 = time.perf_counter()
        api.decompress(data, model=codec, as_array=True)
        t2 = time.perf_counter()
        enc.append(t1 - t0)
        dec.append(t2 - t1)
    params = sum(p.numel() for p in codec.model.parameters())
    return params, statistics.median(enc[1:]), statistics.median(dec[1:])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--joint", type=_spec, required=True, help="the joint model: LABEL=RESULTS_JSON[=MODEL_FILE]")
    ap.add_argument("--model", type=_spec, action="append", default=[], help="another model, same form (repeatable)")
    ap.add_argument("--reference", default="../shared/reference/kodak_rd.json")
    ap.add_argument("--out", default="docs/ablation")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--trajectory", type=lambda t: tuple(t.split("=", 1)), action="append", default=[],
                    help="LABEL=RUN_DIR or LABEL=MODEL (file or installed name: its card's validation log); repeatable, the joint model's first")
    ap.add_argument("--noise", action="store_true", help="also each model's BD-rate against the joint model on the two halves of the photos and its bootstrap SD")
    ap.add_argument("--qualities", help="comma list: compare the curves at these qualities only (results measured at more keep these)")
    ap.add_argument("--no-timing", action="store_true", help="leave out parameters and times (no model files loaded)")
    args = ap.parse_args()

    from licodec.eval.bdrate import bd_versus
    from licodec.eval.results import load_curves

    specs = [args.joint] + args.model
    qualities = {float(q) for q in args.qualities.split(",")} if args.qualities else None
    curves = {}
    for label, results, _ in specs:
        found = load_curves(results)
        if len(found) != 1:
            raise SystemExit(f"{results}: expected one curve, found {len(found)}")
        curves[label] = _only(dict(next(iter(found.values())), label=label), qualities)
    ref = load_curves(args.reference) if Path(args.reference).is_file() else {}
    anchors = {args.joint[0]: curves[args.joint[0]]}
    if "measured_bpg444" in ref:
        anchors["BPG 4:4:4"] = ref["measured_bpg444"]

    head = ["model", "parameters", "encode s", "decode s"]
    for a in anchors:
        head += [f"BD-rate vs {a} (PSNR)", f"BD-rate vs {a} (MS-SSIM dB)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, _, model_file in specs:
        cells = [label]
        if model_file is not None and not args.no_timing:
            params, te, td = time_model(model_file, args.runs, args.threads)
            cells += [f"{params:,}", f"{te:.2f}", f"{td:.2f}"]
        else:
            cells += ["", "", ""]
        for row in bd_versus(curves[label], anchors):
            for m in ("psnr", "ms_ssim_db"):
                cells.append("n/a" if row[m] is None else f"{row[m]:+.1f}%")
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    if args.noise:
        joint_results = args.joint[1]
        rows = ["| model vs " + args.joint[0] + " | BD-rate (PSNR), 24 images | first half | second half | bootstrap SD (1000 resamples) |", "|---|---|---|---|---|"]
        for label, results, _ in args.model:
            n = image_noise(joint_results, results, qualities=qualities)
            rows.append(f"| {label} | {n['all']:+.1f}% | {n['halves'][0]:+.1f}% | {n['halves'][1]:+.1f}% | {n['bootstrap_sd']:.1f} pts |")
        table += "\n\nDependence on the photos (paired: the same photos for both models):\n\n" + "\n".join(rows)
    if len(args.trajectory) >= 2:
        table += "\n\nTraining trajectory at equal steps, BD-rate (PSNR) on the runs' validation photos:\n\n" + trajectory(args.trajectory)
    print(table)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ablation.md").write_text(table + "\n")
    from licodec.eval.plot import plot_rd

    published = {k: v for k, v in ref.items() if k.startswith("paper_") or k == "measured_bpg444"}
    plot_rd({**curves, **published}, out / "ablation-psnr.png", "psnr", title="Kodak: licodec models and the paper's curves")
    print(f"wrote {out / 'ablation.md'} and {out / 'ablation-psnr.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
