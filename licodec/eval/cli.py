"""Command lines of the evaluation tools: ``eval_main``, ``bench_classical_main``, ``plot_main``.

Each takes ``argv`` (without the program/sub-command name) and returns an exit code: 0 on
success, 2 on bad input (one ``error: ...`` line on stderr), 1 when a codec fails at run time.
They are meant to be wired into ``licodec`` as sub-commands ``eval``, ``bench-classical`` and
``plot``; ``python -m licodec.eval.cli {eval,bench-classical,plot} ...`` runs them directly.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from ..errors import LicodecError
from ..files import atomic_write

__all__ = ["eval_main", "bench_classical_main", "plot_main", "main"]

DEFAULT_REF_CURVES = "paper_mbt2018,paper_mbt2018_mean,paper_bmshj2018_hyperprior,compressai_mbt2018,measured_bpg444,measured_vvc420_vvenc"


class UsageError(Exception):
    """Bad input: reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse exits 2 itself; keep its one-line message
        raise UsageError(message)


class _Failed(Exception):
    """A command that cannot go on (exit status 1); the message says why."""


def _run(fn, argv, prog: str) -> int:
    """Run a command; its errors in one line as ``licodec CMD: error: ...``, as the other
    command lines print them (exit status 2 for usage and missing inputs, 1 for failures)."""

    def err(msg: str) -> None:
        print(f"{prog}: error: {msg}", file=sys.stderr)

    try:
        return fn(argv)
    except UsageError as e:
        err(str(e))
        return 2
    except (FileNotFoundError, NotADirectoryError) as e:
        err(str(e))
        return 2
    except (RuntimeError, _Failed, LicodecError) as e:  # a codec failed on real data
        err(str(e))
        return 1
    except SystemExit as e:  # --help / --version
        return int(e.code or 0) if not isinstance(e.code, str) else 2
    except KeyboardInterrupt:
        err("interrupted")
        return 130


def _parse_list(values: Sequence[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out += [s.strip() for s in v.split(",") if s.strip()]
    return out


def _parse_qualities(values: Sequence[str] | None) -> list:
    out: list = []
    for s in _parse_list(values):
        try:
            f = float(s)
        except ValueError:
            raise UsageError(f"quality {s!r} is not a number") from None
        out.append(int(f) if f.is_integer() and "." not in s else f)
    return out


def _dataset_images(path: str, limit: int | None) -> list[Path]:
    from licodec.datasets import image_folder

    p = Path(path)
    if not p.exists():
        raise UsageError(f"dataset folder not found: {path}")
    if not p.is_dir():
        raise UsageError(f"dataset is not a folder: {path}")
    try:
        images = image_folder(p)
    except FileNotFoundError as e:
        raise UsageError(str(e)) from None
    if limit is not None:
        if limit < 1:
            raise UsageError("--limit must be >= 1")
        images = images[:limit]
    return images


def _load_reference(args) -> dict:
    from .results import default_reference, load_curves

    if getattr(args, "no_reference", False):
        return {}
    refs = args.reference or []
    if not refs:
        d = default_reference()
        refs = [str(d)] if d else []
    curves: dict = {}
    for r in refs:
        try:
            curves.update(load_curves(r))
        except FileNotFoundError:
            raise UsageError(f"reference file not found: {r}") from None
        except ValueError as e:
            raise UsageError(str(e)) from None
    return curves


def _workers(n: int | None) -> int:
    if n is not None and n < 1:
        raise UsageError("--workers must be >= 1")
    return n or os.cpu_count() or 1


def _check_codecs(names: list[str]) -> list[str]:
    from .classical_codecs import CODECS, DEFAULT_CODECS

    if not names:
        return list(DEFAULT_CODECS)
    bad = [n for n in names if n not in CODECS]
    if bad:
        raise UsageError(f"unknown classical codec(s) {', '.join(bad)}; known: {', '.join(CODECS)}")
    return names


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text)
    return path


# --------------------------------------------------------------------------- bench-classical


def _classical_parser(prog: str = "licodec bench-classical") -> argparse.ArgumentParser:
    from .classical_codecs import CODECS

    p = _Parser(prog=prog, description="Sweep classical codecs over a folder of images (cached).")
    p.add_argument("dataset", help="folder of images, e.g. ../shared/datasets/kodak")
    p.add_argument("--codecs", action="append", help=f"comma-separated subset of: {', '.join(CODECS)} (default: all available)")
    p.add_argument("--out", default="results/classical", help="output folder (default: results/classical)")
    p.add_argument("--cache", default=None, help="per-image cache folder (default: OUT/cache)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: os.cpu_count())")
    p.add_argument("--limit", type=int, default=None, help="only the first N images")
    p.add_argument("--reference", action="append", help="reference curves JSON (default: ../shared/reference/kodak_rd.json if present)")
    p.add_argument("--no-reference", action="store_true", help="no BD-rates against reference curves")
    p.add_argument("--anchor", default=None, help="anchor of the all-curves BD table (default: measured_bpg444, else jpeg420)")
    p.add_argument("--no-progress", action="store_true")
    return p


def _run_classical(images, codecs, out, cache, workers, progress) -> tuple[dict, float]:
    from .classical import sweep, write_results

    t0 = time.perf_counter()
    res = sweep(images, codecs, cache_dir=cache, workers=workers, progress=progress, log=lambda s: print(s, file=sys.stderr))
    wall = time.perf_counter() - t0
    write_results(res, out, dataset=str(Path(images[0]).parent))
    return res, wall


def bench_classical_main(argv: Sequence[str] | None = None) -> int:
    def run(argv):
        from .report import classical_report

        args = _classical_parser().parse_args(argv)
        images = _dataset_images(args.dataset, args.limit)
        codecs = _check_codecs(_parse_list(args.codecs))
        workers = _workers(args.workers)
        refs = _load_reference(args)
        out = Path(args.out)
        cache = Path(args.cache) if args.cache else out / "cache"
        print(f"{len(images)} images x {len(codecs)} codecs, {workers} worker(s); cache {cache}", file=sys.stderr)
        res, wall = _run_classical(images, codecs, out, cache, workers, not args.no_progress)
        if not res:
            raise _Failed("no classical codec is available")
        from .results import load_curves

        computed = sum(r["computed"] for per in res.values() for r in per)
        try:
            report = classical_report(load_curves(out / "classical.json"), computed, refs, args.anchor, len(images), wall, workers)
        except ValueError as e:  # the one error classical_report raises: an --anchor that is no curve
            raise UsageError(str(e)) from None
        _write(out / "report.md", report)
        print(report)
        print(f"wrote {out}/classical.json, {out}/<codec>.json and {out}/report.md ({wall:.0f} s)", file=sys.stderr)
        return 0

    return _run(run, argv, "licodec bench-classical")


# --------------------------------------------------------------------------- plot


def _plot_parser(prog: str = "licodec plot") -> argparse.ArgumentParser:
    p = _Parser(prog=prog, description="Rate-distortion plots, BD-rate table and a visual comparison sheet.")
    p.add_argument("results", nargs="*", help="result JSON files (licodec eval, bench-classical's classical.json or <codec>.json, CompressAI)")
    p.add_argument("--out", default="results/plots", help="output folder (default: results/plots)")
    p.add_argument("--reference", action="append", help="reference curves JSON (default: ../shared/reference/kodak_rd.json if present)")
    p.add_argument("--no-reference", action="store_true", help="plot no reference curves")
    p.add_argument("--ref-curves", default=DEFAULT_REF_CURVES, help=f"comma-separated name patterns of the reference curves to draw ('*' for all; default: {DEFAULT_REF_CURVES})")
    p.add_argument("--curves", action="append", help="comma-separated name patterns of the result-file curves to draw (default: all)")
    p.add_argument("--bpp-max", type=float, default=2.0, help="x-axis limit (default 2.0; 0 = no limit)")
    p.add_argument("--title", default=None)
    p.add_argument("--anchor", default=None, help="also write bd-ANCHOR.md: every drawn curve against this one")
    p.add_argument("--sheet", default=None, metavar="IMAGE", help="also write sheet.png: a crop of IMAGE from each codec at matched bpp")
    p.add_argument("--sheet-bpp", type=float, default=0.25, help="target bpp of the sheet (default 0.25)")
    p.add_argument("--sheet-codecs", action="append", help="classical codecs on the sheet (default: all available)")
    p.add_argument("--crop", default=None, help="sheet crop X,Y,W,H (default: the most detailed 192x192 square)")
    p.add_argument("--model", default=None, help="licodec model (name or path) to put on the sheet")
    p.add_argument("--quality", action="append", help="qualities to choose the sheet's licodec point from")
    return p


def _parse_crop(s: str | None):
    if not s:
        return None
    try:
        x, y, w, h = (int(v) for v in s.split(","))
    except ValueError:
        raise UsageError(f"--crop must be X,Y,W,H integers, got {s!r}") from None
    if w < 1 or h < 1 or x < 0 or y < 0:
        raise UsageError("--crop needs x, y >= 0 and w, h >= 1")
    return x, y, w, h


def _make_plots(curves: dict, out: Path, title: str | None, bpp_max: float | None) -> list[Path]:
    from .plot import plot_rd

    paths = [plot_rd(curves, out / "rd-psnr.png", "psnr", title=title and f"{title}: PSNR", bpp_max=bpp_max)]
    if any(c.get("ms_ssim_db") for c in curves.values()):
        paths.append(plot_rd(curves, out / "rd-msssim.png", "ms_ssim_db", title=title and f"{title}: MS-SSIM", bpp_max=bpp_max))
    return paths


def _make_sheet(image: str, target_bpp: float, codecs: list[str], out_path: Path, crop, model=None, qualities=None,
                model_label: str = "licodec", per_image_points=None, compress=None, decompress=None) -> Path:
    from .plot import visual_sheet, sheet_entries

    if not Path(image).is_file():
        raise UsageError(f"sheet image not found: {image}")
    if target_bpp <= 0:
        raise UsageError("--sheet-bpp must be > 0")
    original, entries = sheet_entries(image, target_bpp, codecs, model=model, qualities=qualities,
                                      compress=compress, decompress=decompress,
                                      model_label=model_label, per_image_points=per_image_points)
    if crop and (crop[0] + crop[2] > original.shape[1] or crop[1] + crop[3] > original.shape[0]):
        raise UsageError(f"--crop {crop} falls outside the {original.shape[1]}x{original.shape[0]} image")
    matched = entries[0][2] if entries and (model is not None or compress is not None) else target_bpp
    return visual_sheet(original, entries, out_path, crop=crop,
                        title=f"{Path(image).name}: each codec at its setting nearest {matched:.3f} bpp (crop zoomed 2x)")


def plot_main(argv: Sequence[str] | None = None) -> int:
    def run(argv):
        from .bdrate import bd_table, format_bd_table
        from .results import load_curves, select

        args = _plot_parser().parse_args(argv)
        curves: dict = {}
        for f in args.results:
            try:
                curves.update(select(load_curves(f), _parse_list(args.curves)))
            except FileNotFoundError:
                raise UsageError(f"result file not found: {f}") from None
            except ValueError as e:
                raise UsageError(str(e)) from None
        refs = select(_load_reference(args), _parse_list([args.ref_curves]) if args.ref_curves != "*" else None)
        for k, v in refs.items():
            curves.setdefault(k, v)
        if not curves:
            raise UsageError("nothing to plot: give result files or a reference")
        out = Path(args.out)
        written = _make_plots(curves, out, args.title, args.bpp_max or None)
        if args.anchor:
            if args.anchor not in curves:
                raise UsageError(f"anchor {args.anchor!r} is not a drawn curve; choose from: {', '.join(curves)}")
            labels = {k: v.get("label", k) for k, v in curves.items()}
            table = format_bd_table(bd_table(curves, args.anchor), args.anchor, labels=labels)
            written.append(_write(out / f"bd-{args.anchor}.md", table + "\n"))
            print(table)
        if args.sheet:
            codecs = _check_codecs(_parse_list(args.sheet_codecs))
            quals = (_parse_qualities(args.quality) or _default_qualities(args.model)) if args.model else None
            written.append(_make_sheet(args.sheet, args.sheet_bpp, codecs, out / "sheet.png", _parse_crop(args.crop),
                                       model=args.model, qualities=quals))
        for w in written:
            print(f"wrote {w}", file=sys.stderr)
        return 0

    return _run(run, argv, "licodec plot")


# --------------------------------------------------------------------------- eval


def _eval_parser(prog: str = "licodec eval") -> argparse.ArgumentParser:
    p = _Parser(prog=prog, description="Evaluate a licodec model by real coding of every image of a folder.")
    p.add_argument("dataset", help="folder of images, e.g. ../shared/datasets/kodak")
    p.add_argument("--model", default=None, help="model name or path (default: the codec's default model); several fixed-rate models, "
                   "comma-separated (e.g. CompressAI's eight files after licodec import), make one curve, a point each")
    p.add_argument("--quality", action="append", help="qualities, comma-separated or repeated (default: the model's own list)")
    p.add_argument("--name", default=None, help="curve name in the JSON and plots (default: from --model)")
    p.add_argument("--out", default="results", help="output folder (default: results)")
    p.add_argument("--limit", type=int, default=None, help="only the first N images")
    p.add_argument("--no-progress", action="store_true", help="no progress bar: a line per image on stderr instead")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default=None,
                   help="arithmetic of licodec's transforms (default auto, or $LICODEC_PRECISION; recorded in the JSON)")
    p.add_argument("--effort", type=int, default=0, metavar="E",
                   help="encoder effort 0..8 (default 0), as licodec compress --effort: each file is coded after a search "
                        "of its latents (much slower); recorded in the JSON, and the default name gains -effortE")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where an --effort search runs (default cpu)")
    r = p.add_argument_group("report (--report): classical sweep, plots, visual sheet, BD-rate tables")
    r.add_argument("--report", action="store_true", help="also run/reuse the classical sweep and write plots, sheet and BD tables")
    r.add_argument("--codecs", action="append", help="classical codecs (default: all available)")
    r.add_argument("--workers", type=int, default=None, help="processes for the classical sweep (default: os.cpu_count())")
    r.add_argument("--classical-dir", default=None, help="folder of the classical sweep and its cache (default: OUT/classical)")
    r.add_argument("--reference", action="append", help="reference curves JSON (default: ../shared/reference/kodak_rd.json if present)")
    r.add_argument("--no-reference", action="store_true")
    r.add_argument("--sheet-image", default="kodim23.png", help="dataset image of the sheet (default kodim23.png, else the first)")
    r.add_argument("--sheet-bpp", type=float, default=0.25, help="target bpp of the sheet (default 0.25)")
    r.add_argument("--crop", default=None, help="sheet crop X,Y,W,H (default: the most detailed 192x192 square)")
    return p


def _default_qualities(model) -> list:
    from .rd import default_qualities

    try:
        return default_qualities(model)
    except ImportError as e:
        raise UsageError(f"licodec's codec API is not available ({e})") from None
    except (LookupError, ValueError, OSError) as e:  # no such model, unreadable file
        raise UsageError(str(e)) from None


def eval_main(argv: Sequence[str] | None = None) -> int:
    def run(argv):
        from .rd import evaluate, evaluate_family, write_json

        args = _eval_parser().parse_args(argv)
        images = _dataset_images(args.dataset, args.limit)
        family = [m for m in args.model.split(",") if m] if args.model and "," in args.model else None
        if family:
            if args.quality:
                raise UsageError("--quality is for one variable-rate model; several models are fixed-rate, a point each")
            for m in family:
                if _default_qualities(m) != [None]:
                    raise UsageError(f"{m}: a variable-rate model; several --model files must each have a fixed rate")
            quals = list(range(1, len(family) + 1))
        else:
            quals = _parse_qualities(args.quality) or _default_qualities(args.model)
        out = Path(args.out)
        from ..codec.zoo import default_name

        if family and not args.name:
            raise UsageError("several models make one curve: name it with --name")
        name = args.name or (Path(str(args.model)).stem if args.model else (default_name() or "licodec"))
        if not args.name and args.effort:
            name += f"-effort{args.effort}"
        opts = {"effort": args.effort, "device": args.device}  # checked by evaluate before any image is coded
        if args.no_progress:  # a long run in the background still says how far it is
            opts["log"] = lambda line: print(line, file=sys.stderr, flush=True)
        crop = _parse_crop(args.crop)
        if args.report:  # validate before the long run
            codecs = _check_codecs(_parse_list(args.codecs))
            workers = _workers(args.workers)
            refs = _load_reference(args)
        from ..codec.precision import use_precision

        try:
            with use_precision(args.precision):
                if family:
                    doc = evaluate_family(images, family, name=name, progress=not args.no_progress, dataset=str(Path(args.dataset)),
                                          **opts)
                else:
                    doc = evaluate(images, quals, args.model, name=name, progress=not args.no_progress, dataset=str(Path(args.dataset)),
                                   **opts)
        except (ValueError, LookupError, OSError) as e:
            # e.g. an unknown model, a quality the model does not have, an unreadable image
            raise UsageError(str(e)) from None
        path = write_json(doc, out / f"{name}.json")
        res = doc["results"]
        print(f"{name} on {len(images)} images:")
        print("| quality | bpp | PSNR (dB) | MS-SSIM | MS-SSIM (dB) | encode (s) | decode (s) |")
        print("|---|---|---|---|---|---|---|")
        for i, q in enumerate(res["quality"]):
            print(f"| {q} | {res['bpp'][i]:.4f} | {res['psnr-rgb'][i]:.3f} | {res['ms-ssim-rgb'][i]:.4f} | "
                  f"{res['ms-ssim-rgb-db'][i]:.2f} | {res['encoding_time'][i]:.3f} | {res['decoding_time'][i]:.3f} |")
        print(f"wrote {path}", file=sys.stderr)
        if not args.report:
            return 0
        return _eval_report(args, doc, path, images, codecs, workers, refs, crop, quals)

    return _run(run, argv, "licodec eval")


def _eval_report(args, doc, path, images, codecs, workers, refs, crop, quals) -> int:
    from .rd import default_codec_fns
    from .report import model_bd_report
    from .results import load_curves, select

    out = Path(args.out)
    name = doc["name"]
    cdir = Path(args.classical_dir) if args.classical_dir else out / "classical"
    res, wall = _run_classical(images, codecs, cdir, cdir / "cache", workers, not args.no_progress)
    ours = load_curves(path)
    classical = load_curves(cdir / "classical.json") if res else {}
    shown_refs = select(refs, _parse_list([DEFAULT_REF_CURVES]))
    curves = {**ours, **classical, **{k: v for k, v in shown_refs.items() if k not in classical}}
    written = _make_plots(curves, out, f"{name} on {Path(args.dataset).name}", 2.0)

    md, json_rows = model_bd_report(name, ours, classical, refs, shown_refs)
    written.append(_write(out / f"bd-{name}.md", md))
    written.append(_write(out / f"bd-{name}.json", json.dumps(json_rows, indent=1)))
    print(md)

    if "models" in doc:  # a family of fixed-rate models: the sheet codes at one model's chosen quality, not theirs
        print("licodec: notice: no visual sheet for several models", file=sys.stderr)
        for w in written:
            print(f"wrote {w}", file=sys.stderr)
        return 0
    names = {p.name: p for p in images}
    sheet_img = names.get(args.sheet_image) or names.get(f"{args.sheet_image}.png") or images[0]
    pts = {name: doc["per_image"].get(sheet_img.name, [])}
    for cname, per in res.items():
        for r in per:
            if r["image"] == sheet_img.name:
                pts[cname] = r["points"]
    compress, decompress = default_codec_fns(args.model)
    if args.effort:  # the sheet's file coded as the curve's were
        compress = functools.partial(compress, effort=args.effort, device=args.device)
    written.append(_make_sheet(str(sheet_img), args.sheet_bpp, list(res), out / f"sheet-{sheet_img.stem}.png", crop,
                               model=args.model, qualities=quals, model_label=name, per_image_points=pts,
                               compress=compress, decompress=decompress))
    for w in written:
        print(f"wrote {w}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cmds = {"eval": eval_main, "bench-classical": bench_classical_main, "plot": plot_main}
    if not argv or argv[0] not in cmds:
        print("usage: python -m licodec.eval.cli {eval,bench-classical,plot} ...", file=sys.stderr)
        return 2
    return cmds[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
