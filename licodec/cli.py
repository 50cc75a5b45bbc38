"""The ``licodec`` command line, in the spirit of cwebp / bpgenc.

    licodec compress IN... [-o OUT] [-q Q] [--model NAME|PATH]
    licodec decompress IN.lic... [-o OUT.png]
    licodec info FILE.lic...
    licodec models
    licodec import CKPT.pth.tar [-o OUT.safetensors]   (a CompressAI checkpoint)
    licodec train ...         (see ``licodec train --help``)
    licodec eval | bench-classical | plot ...

Errors print one line (``licodec: error: ...``) and exit with status 1 (2 for usage
errors); ``LICODEC_DEBUG=1`` shows tracebacks.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import warnings
from pathlib import Path

from .codec.container import MAX_PIXELS
from .codec.effort import EFFORT_HELP, MAX_EFFORT, SEARCH_DEVICES
from .errors import CodecError, FormatError, LicodecError
from .files import STDIO, atomic_write, read_bytes, read_metadata
from .native import keep_freed_memory

__all__ = ["main"]


EPILOG_COMPRESS = """examples:
  licodec compress photo.png                 writes photo.lic
  licodec compress photo.png -q 6 -o out.lic quality 1 (smallest) .. 8 (best) for the default model
                                                (-2 .. 1: lower rates, extrapolated)
  licodec compress shots/ -o lic/            every image in a folder, into lic/
"""


def _expand(inputs: list[str], suffixes: tuple[str, ...]) -> list[tuple[Path, Path]]:
    """(file, its name below the input it came from): a folder's files keep their sub-folders."""
    files: list[tuple[Path, Path]] = []
    for s in inputs:
        p = Path(s)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in suffixes)
            if not found:
                raise _Fail(f"{p}: no {'/'.join(suffixes)} files in this folder")
            files.extend((f, f.relative_to(p)) for f in found)
        else:
            files.append((p, Path(p.name)))
    return files


class _Fail(Exception):
    pass


def _outputs(files: list[tuple[Path, Path]], out: str | None, suffix: str) -> list[Path]:
    """Where each input's output goes: beside it, the file -o names (one input), or below
    the folder -o names with the input's sub-folders."""
    if out is None:
        return [f.with_suffix(suffix) for f, _ in files]
    o = Path(out)
    if len(files) == 1 and not o.is_dir() and not out.endswith(os.sep):
        return [o]
    if not o.is_dir() and o.suffix.lower() == suffix:
        raise _Fail(f"-o {out}: {len(files)} inputs need an output folder, not a {suffix} file name")
    names = [rel.with_suffix(suffix) for _, rel in files]
    if len(set(names)) != len(names):
        raise _Fail("several inputs would write the same output name; give them separate folders")
    return [o / n for n in names]


def _batch(pairs: list[tuple[Path, Path]], args, desc: str, code_one) -> tuple[int, list]:
    """Code each (input, output) pair with ``code_one(args, src, dst)`` (a module-level function:
    with -j N, N worker processes of one thread each run it); skip existing outputs with
    --skip-existing; with --keep-going, report a file that fails and go on (exit status 1 at the
    end). -> (exit status, the results of the files coded, in input order)."""
    if getattr(args, "jobs", 1) < 1:
        raise _Fail("-j N needs N >= 1")
    todo = [(src, dst) for src, dst in pairs if not (args.skip_existing and dst.exists())]
    jobs = min(getattr(args, "jobs", 1) or 1, len(todo))
    results: dict[int, object] = {}
    failed = []

    def failure(src: Path, exc: BaseException) -> None:
        if not args.keep_going:
            raise exc
        print(f"licodec: error: {exc}", file=sys.stderr)
        failed.append(src)

    if jobs <= 1:
        if len(todo) > 1:
            keep_freed_memory()  # the next image reuses this one's pages (native.keep_freed_memory)
        for k, (src, dst) in enumerate(_progress(todo, args.quiet, desc)):
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                results[k] = code_one(args, src, dst)
            except (LicodecError, OSError) as exc:
                failure(src, exc)
    else:
        _in_workers(todo, args, desc, code_one, jobs, results, failure)
    if failed:
        print(f"licodec: {len(failed)} of {len(pairs)} files failed: {', '.join(map(str, failed))}", file=sys.stderr)
    return (1 if failed else 0), [results[k] for k in sorted(results)]


def _in_workers(todo, args, desc: str, code_one, jobs: int, results: dict, failure) -> None:
    """-j N: the files in N processes (started fresh, one thread each; their model loaded
    once per process), results collected as they end."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init,
                               initargs=(getattr(args, "precision", None),))
    quiet_bars = argparse.Namespace(**{**vars(args), "bars": False})  # one bar, of files, for the whole run
    try:
        for _, dst in todo:
            dst.parent.mkdir(parents=True, exist_ok=True)
        futures = {pool.submit(code_one, quiet_bars, src, dst): (k, src) for k, (src, dst) in enumerate(todo)}
        done = as_completed(futures)
        if not args.quiet:
            from tqdm import tqdm

            done = tqdm(done, total=len(futures), desc=f"{desc} (-j {jobs})", unit="file", file=sys.stderr)
        for future in done:
            k, src = futures[future]
            try:
                results[k] = future.result()
            except (LicodecError, OSError, _Fail) as exc:
                failure(src, exc)
    except BaseException:
        # Ctrl-C, SIGTERM or a failure without --keep-going: stop the workers (each removes
        # the temporary file it was writing, as a single process does)
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in list((getattr(pool, "_processes", None) or {}).values()):  # the executor has no public terminate
            proc.terminate()
        raise
    pool.shutdown()


def _worker_init(precision: str | None = None) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"  # before torch starts in this process
    if precision is not None:  # --precision, in this worker process
        from .codec.precision import ENV

        os.environ[ENV] = precision
    import torch

    torch.set_num_threads(1)
    keep_freed_memory()  # a worker codes file after file
    signal.signal(signal.SIGTERM, _interrupt)  # a stopped worker cleans up like the CLI does
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent decides


def _progress(items, quiet: bool, desc: str):
    if quiet or len(items) < 2:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="file", file=sys.stderr)


class _ProgressBar:
    """``progress(i, n)`` of one encode or decode (the steps of a large image's transforms, an
    encoder's search): a bar on standard error once it has run a second, gone when it ends."""

    def __init__(self, args, name: str, what: str) -> None:
        import time

        quiet = args.quiet or not getattr(args, "bars", True)  # -j N: no bar per file
        self.quiet, self.name, self.what, self.bar, self.t0 = quiet, name, what, None, time.monotonic()

    def __call__(self, i: int, n: int) -> None:
        import time

        if self.quiet:
            return
        now = time.monotonic()
        if self.bar is None and now - self.t0 > 1.0 and i < n:
            from tqdm import tqdm

            self.bar = tqdm(total=n, initial=i, desc=f"{self.name}: {self.what}", unit="step", file=sys.stderr, leave=False)
        elif self.bar is not None:
            self.bar.update(i - self.bar.n)
        if i == n and self.bar is not None:
            self.bar.close()
            self.bar = None


def _piped(args) -> bool:
    """``-`` among the inputs or as the output: one input, standard input/output (cwebp's convention)."""
    if STDIO not in args.inputs and args.output != STDIO:
        return False
    if len(args.inputs) != 1:
        raise _Fail("- (standard input or output) takes exactly one input")
    return True


def _write_piped(args, src: str, data: bytes, suffix: str) -> str:
    """Write a piped command's output: standard output for -o - (or no -o with standard input),
    else the file named by -o or next to the input (with ``suffix``); returns where it went."""
    if args.output == STDIO or (args.output is None and src == STDIO):
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return "standard output"
    dst = Path(args.output) if args.output is not None else Path(src).with_suffix(suffix)
    _check_new(dst, args.force)
    atomic_write(dst, data)
    return str(dst)


def _check_new(dst: Path, force: bool) -> None:
    """An output the CLI writes itself (pipes, rate control) may not replace a folder, nor a file without -f."""
    if dst.is_dir():
        raise _Fail(f"{dst}: is a folder; name the output file")
    if dst.exists() and not force:
        raise _Fail(f"{dst}: exists; use -f to overwrite")


def _target(args):
    """The rate-control target of --size/--bpp/--psnr, or None (a quality, -q)."""
    given = [k for k in ("size", "bpp", "psnr") if getattr(args, k) is not None]
    if not given:
        return None
    if len(given) > 1 or args.quality is not None:
        raise _Fail("give one of -q, --size, --bpp, --psnr")
    from .codec.rate_control import Target

    return Target(size=args.size, bpp=args.bpp, psnr=args.psnr)


def _to_target(api, data: bytes, target, codec, args, name: str) -> bytes:
    r = api.compress_to_target(data, target, codec, drop_alpha=args.drop_alpha, metadata=args.metadata, effort=args.effort,
                               max_pixels=args.max_pixels, device=args.device)
    wanted = f"{target.size} bytes" if target.size is not None else f"{target.bpp:g} bpp" if target.bpp is not None else f"{target.psnr:g} dB"
    reached = f"{r.bytes} bytes, {r.bpp:.4f} bpp, {r.psnr:.2f} dB at quality {r.quality:g} ({r.probes} encodes)"
    if not r.met:
        if args.strict:
            raise _Fail(f"{name}: target {wanted} is outside what the model reaches; nearest: {reached}")
        print(f"licodec: notice: {name}: target {wanted} is outside what the model reaches; wrote the nearest: {reached}", file=sys.stderr)
    elif not args.quiet:
        print(f"{name}: target {wanted}: {reached}", file=sys.stderr)
    return r.data


def cmd_compress(args) -> int:
    from .codec import api
    from .codec.image import IMAGE_SUFFIXES

    _set_threads(args)
    target = _target(args)
    if _piped(args):
        src = args.inputs[0]
        if target is not None:
            data = _to_target(api, read_bytes(src), target, api.resolve_model(args.model), args, src)
        else:
            data = api.compress_image_file_bytes(read_bytes(src), args.quality, api.resolve_model(args.model), drop_alpha=args.drop_alpha,
                                                 metadata=args.metadata, effort=args.effort, progress=_ProgressBar(args, "stdin" if src == STDIO else src, "encode"),
                                                 max_pixels=args.max_pixels, device=args.device)
        where = _write_piped(args, src, data, ".lic")
        if not args.quiet:
            inf = api.info(data)
            print(f"{where}: {inf['width']}x{inf['height']}, {len(data)} bytes, {inf['bpp']:.4f} bpp", file=sys.stderr)
        return 0
    files = _expand(args.inputs, IMAGE_SUFFIXES)
    outs = _outputs(files, args.output, ".lic")
    api.resolve_model(args.model)  # a model that cannot load fails once, before any file
    rc, done = _batch(list(zip([f for f, _ in files], outs)), args, "compress", _compress_one)
    if not args.quiet and len(files) == 1 and done:
        print(done[0][2])
    pixels, size = sum(d[0] for d in done), sum(d[1] for d in done)
    if len(files) > 1 and not args.quiet and pixels:
        print(f"{len(done)} files, {size} bytes, {8 * size / pixels:.4f} bpp overall")
    return rc


def _compress_one(args, src: Path, dst: Path) -> tuple[int, int, str]:
    """One file of ``licodec compress`` -> (pixels, bytes, the line that describes the output)."""
    from .codec import api

    codec = api.resolve_model(args.model)
    target = _target(args)
    if target is None:
        api.compress_file(src, dst, quality=args.quality, model=codec, force=args.force, drop_alpha=args.drop_alpha, metadata=args.metadata,
                          effort=args.effort, progress=_ProgressBar(args, src.name, "encode"), max_pixels=args.max_pixels, device=args.device)
    else:
        _check_new(dst, args.force)
        atomic_write(dst, _to_target(api, read_bytes(src), target, codec, args, str(src)))
    n = dst.stat().st_size
    inf = api.info(dst.read_bytes())
    return inf["width"] * inf["height"], n, f"{dst}: {inf['width']}x{inf['height']}, {n} bytes, {inf['bpp']:.4f} bpp"


def _lossy_notice(suffix: str, args) -> None:
    from .codec.api import LOSSY_OUTPUTS

    if suffix.lower() in LOSSY_OUTPUTS and not args.quiet:
        print(f"licodec: notice: {suffix} output re-encodes the decoded image lossily (quality {args.out_quality}; --out-quality Q, or write .png)",
              file=sys.stderr)


def cmd_decompress(args) -> int:
    from .codec import api

    _set_threads(args)
    codec = api.resolve_model(args.model) if args.model else None
    if _piped(args):
        src = args.inputs[0]
        try:
            image = api.decompress(read_bytes(src), codec, max_pixels=args.max_pixels,
                                   progress=_ProgressBar(args, "stdin" if src == STDIO else src, "decode"))
        except (FormatError, CodecError) as exc:
            raise _Fail(f"{src if src != STDIO else 'stdin'}: {exc}") from None
        suffix = (Path(args.output).suffix if args.output not in (None, STDIO) else "") or ".png"
        _lossy_notice(suffix, args)
        _write_piped(args, src, api.image_file_bytes(image, suffix, args.out_quality), suffix)
        return 0
    files = _expand(args.inputs, (".lic",))
    outs = _outputs(files, args.output, ".png")

    for dst in {o.suffix.lower() for o in outs}:
        _lossy_notice(dst, args)
    rc, done = _batch(list(zip([f for f, _ in files], outs)), args, "decompress", _decompress_one)
    if not args.quiet and len(files) == 1 and done:
        print(done[0])
    return rc


def _decompress_one(args, src: Path, dst: Path) -> str:
    from .codec import api

    codec = api.resolve_model(args.model) if args.model else None
    api.decompress_file(src, dst, model=codec, force=args.force, out_quality=args.out_quality, max_pixels=args.max_pixels,
                        progress=_ProgressBar(args, src.name, "decode"))
    return str(dst)


def cmd_info(args) -> int:
    from .codec import container  # the header alone: no model, no torch

    for f in [STDIO] if args.inputs == [STDIO] else [f for f, _ in _expand(args.inputs, (".lic",))]:
        data = read_bytes(f)
        try:
            i = container.info(data)
        except ValueError as exc:
            raise _Fail(f"{f}: {exc}") from None
        q = "" if i["quality"] is None else f", quality {i['quality']:g}"
        print(f"{f}: model {i['model']} (weights {i['weights_id']}){q}, {i['width']}x{i['height']} {i['colour']}, {i['bytes']} bytes, {i['bpp']:.4f} bpp")
    return 0


def _describe_model_file(path: Path) -> str:
    """One line from a model file's config and card: architecture, λ, steps, Kodak rates."""
    import json

    try:
        meta = read_metadata(path, "licodec model file")
        cfg, card = json.loads(meta.get("licodec_config", "{}")), json.loads(meta.get("licodec_card", "{}"))
    except (OSError, ValueError) as exc:  # an unreadable file is listed, not fatal (FormatError is a ValueError)
        return f"unreadable ({exc.__class__.__name__})"
    parts = [f"{cfg.get('name', '?')} N={cfg.get('N', '?')} M={cfg.get('M', '?')}"]
    lambdas = cfg.get("lambdas")
    training = card.get("training") or {}
    if lambdas:
        parts.append(f"qualities 1..{len(lambdas)} (λ {min(lambdas):.4g}..{max(lambdas):.4g})")
    else:
        lam = training.get("lmbda")
        parts.append("fixed rate" + (f" (λ {lam:.4g}, {training.get('metric', 'mse')})" if isinstance(lam, (int, float)) else ""))
    if "compressai_checkpoint" in (card.get("source") or {}):
        parts.append(f"trained with CompressAI ({card['source']['compressai_checkpoint']})")
    steps = training.get("steps")
    if steps is not None:
        parts.append(f"{steps:,} training steps")
    bpp = card.get("kodak", {}).get("results", {}).get("bpp")
    if bpp:
        parts.append(f"Kodak {min(bpp):.2f}..{max(bpp):.2f} bpp")
    return ", ".join(parts)


def cmd_models(args) -> int:
    from .codec import zoo
    from .models import names

    inst = zoo.installed()
    default = zoo.default_name()
    print("installed models:" if inst else "installed models: none")
    for name, path in inst.items():
        print(f"  {name}{' (default)' if name == default else ''}: {path}")
        print(f"      {_describe_model_file(path)}")
    print("architectures: " + ", ".join(names()))
    return 0


EPILOG_IMPORT = """examples:
  licodec import mbt2018-6-7052e5ea.pth.tar              CompressAI's zoo file: mbt2018, MSE, quality 6
  licodec compress photo.png --model mbt2018-6-7052e5ea.safetensors
  licodec import checkpoint_best_loss.pth.tar --quality 3 -o mine.safetensors
"""


def cmd_import(args) -> int:
    import hashlib

    from .models.compressai import COMPRESSAI_LAMBDAS, from_compressai, read_checkpoint, zoo_file_facts
    from .models.registry import citation
    from .train.export import write_model_file

    src = Path(args.checkpoint)
    if args.quality is not None and args.lmbda is not None:
        raise _Fail("give --quality or --lmbda, not both")
    facts = zoo_file_facts(src) or {}
    stem = src.name.split(".pth")[0] if ".pth" in src.name else src.stem
    out = Path(args.output) if args.output else src.with_name(stem + ".safetensors")
    if out.suffix != ".safetensors":
        raise _Fail(f"{out}: a model file's name ends in .safetensors")
    if out.exists() and not args.force:
        raise _Fail(f"{out}: exists (use --force to overwrite)")
    metric = args.metric or facts.get("metric", "mse")
    if args.lmbda is not None:
        lmbda = args.lmbda
    elif args.quality is not None:
        lmbda = COMPRESSAI_LAMBDAS[metric][args.quality - 1]
    else:
        lmbda = facts.get("lmbda") if facts.get("metric", metric) == metric else None
    model = from_compressai(read_checkpoint(src), args.arch)
    if facts and facts["architecture"] != model.name:
        warnings.warn(f"{src.name} names {facts['architecture']}, its weights are {model.name}'s")
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    card = {
        "architecture": model.config,
        "parameters": sum(p.numel() for p in model.parameters()),
        "paper": citation(model.name),
        "source": {"compressai_checkpoint": src.name, "sha256": digest,
                   "note": "weights trained with CompressAI (InterDigital), imported by licodec import; their terms are CompressAI's"},
        "training": {"by": "CompressAI", "metric": metric, "lmbda": lmbda, "quality": args.quality or facts.get("quality")},
    }
    write_model_file(model, out, card)
    lam = f"λ {lmbda:g} ({metric})" if lmbda is not None else "λ unknown (--quality or --lmbda for --effort)"
    print(f"{out}: {model.name} (N={model.N}, M={model.M}), fixed rate, {lam}, from {src.name}")
    return 0


def _free_cores() -> int:
    """Cores not busy with other runnable processes now (/proc/loadavg's running count,
    which includes this one); all of them where that is not known."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        with open("/proc/loadavg") as fh:
            running = int(fh.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return cores
    return max(1, min(cores, cores - (running - 1)))


def _start_threads(args) -> None:
    """--threads N, else as many threads as there are free cores now (on a machine whose other
    core is busy, two threads made g_a and g_s slower than one, docs/speed.md), decided before
    torch starts: its OpenMP pool starts with that many threads (OMP_NUM_THREADS, unless the
    caller set it), so a loaded machine pays for no idle thread."""
    if args.threads is not None and args.threads < 1:
        raise _Fail("--threads N needs N >= 1")
    if args.threads is None:
        args.threads = _free_cores()
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))


def _set_threads(args) -> None:
    import torch

    torch.set_num_threads(args.threads)  # decided by _start_threads


def _batch_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, metavar="N", help="threads for the transforms (default: the cores not busy now); the entropy coding uses one")
    p.add_argument("--keep-going", action="store_true", help="with several inputs: report a file that fails and go on (exit status 1 at the end)")
    p.add_argument("--skip-existing", action="store_true", help="leave outputs that exist (resume an interrupted batch)")
    p.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                   help="code N files at once, in N processes of one thread each (default 1: one process, --threads threads)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default=None,
                   help="arithmetic of the transforms g_a/g_s (default auto, or $LICODEC_PRECISION): g_a in bf16 on CPUs with native bf16 "
                        "(AVX512-BF16/AMX), g_s in bf16 with AMX, else fp32; the latents are exact either way, only pixels may differ slightly")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    ap = argparse.ArgumentParser(prog="licodec", description="licodec: learned image compression (Minnen, Ballé & Toderici 2018).")
    ap.add_argument("--version", action="version", version=f"licodec {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    c = sub.add_parser("compress", help="images -> .lic files", description="Compress images (PNG, JPEG, WebP, ...) to .lic files.", epilog=EPILOG_COMPRESS, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("inputs", nargs="+", metavar="IN", help="image files or folders (searched recursively)")
    c.add_argument("-o", "--output", metavar="OUT", help="output file (one input) or folder (several); default: IN with suffix .lic")
    c.add_argument("-q", "--quality", type=float, help="1 (smallest trained) .. L (best) for variable-rate models, below 1 down to the model's lowest (e.g. -2): extrapolated, untrained rates; default: the middle")
    c.add_argument("--model", metavar="NAME|PATH", help="installed model name or .safetensors file (default: the installed default)")
    c.add_argument("-f", "--force", action="store_true", help="overwrite existing outputs")
    c.add_argument("--drop-alpha", action="store_true", help="code images with transparency without their alpha channel")
    c.add_argument("--metadata", choices=["all", "icc", "exif", "none"], default="all",
                   help="which of the ICC profile, EXIF (orientation, camera) and XMP blocks the file keeps; decompress writes them back (default all)")
    c.add_argument("--strip", dest="metadata", action="store_const", const="none", help="keep no metadata (--metadata none)")
    c.add_argument("--quiet", action="store_true", help="print nothing but errors")
    c.add_argument("--max-pixels", type=int, default=MAX_PIXELS, metavar="N",
                   help=f"refuse images of more than N pixels, from their header (default {MAX_PIXELS:,})")
    c.add_argument("--effort", type=int, default=0, choices=range(MAX_EFFORT + 1), metavar="E",
                   help=f"encoder effort 0..{MAX_EFFORT} (default 0): search the latents of each image for a smaller file at the same quality; "
                        f"{EFFORT_HELP}; the decoder and the format do not change")
    c.add_argument("--device", choices=list(SEARCH_DEVICES), default="cpu",
                   help="where an --effort search runs (default cpu; cuda: on the GPU, if torch sees one); the coding itself runs on the CPU")
    c.add_argument("--size", type=int, metavar="BYTES", help="rate control: the best file no larger than BYTES (instead of -q)")
    c.add_argument("--bpp", type=float, metavar="X", help="rate control: the best file of at most X bits per pixel")
    c.add_argument("--psnr", type=float, metavar="DB", help="rate control: the smallest file whose RGB PSNR reaches DB")
    c.add_argument("--strict", action="store_true", help="with --size/--bpp/--psnr: fail when the target is out of the model's reach (default: write the nearest file)")
    _batch_flags(c)
    c.set_defaults(func=cmd_compress)

    d = sub.add_parser("decompress", help=".lic files -> images", description="Decompress .lic files to PNG (or the format of -o's suffix).")
    d.add_argument("inputs", nargs="+", metavar="IN.lic", help=".lic files or folders")
    d.add_argument("-o", "--output", metavar="OUT", help="output image (one input) or folder (several); default: IN with suffix .png")
    d.add_argument("--model", metavar="NAME|PATH", help="model to decode with (default: the one the file names, if installed)")
    d.add_argument("-f", "--force", action="store_true", help="overwrite existing outputs")
    d.add_argument("--quiet", action="store_true", help="print nothing but errors")
    d.add_argument("--out-quality", type=int, default=95, metavar="Q", help="quality of a JPEG or WebP output (1..100, default 95); PNG is lossless")
    d.add_argument("--max-pixels", type=int, default=MAX_PIXELS, metavar="N",
                   help=f"refuse files of more than N pixels before decoding (default {MAX_PIXELS:,}; decoding needs ~200 bytes a pixel)")
    _batch_flags(d)
    d.set_defaults(func=cmd_decompress)

    i = sub.add_parser("info", help="describe .lic files", description="Print model, size and bits per pixel of .lic files (checksum verified, nothing decoded).")
    i.add_argument("inputs", nargs="+", metavar="FILE.lic")
    i.set_defaults(func=cmd_info)

    m = sub.add_parser("models", help="list installed models and architectures", description="List installed models and the registered architectures.")
    m.set_defaults(func=cmd_models)

    im = sub.add_parser("import", help="a CompressAI checkpoint -> a licodec model file",
                        description="Convert a checkpoint of CompressAI's bmshj2018-factorized, bmshj2018-hyperprior, mbt2018-mean or "
                                    "mbt2018 (a zoo file or a training checkpoint) to a licodec model file with exact coding tables, "
                                    "for --model. The architecture comes from the weights; the λ from the zoo file's name, --quality or --lmbda.",
                        epilog=EPILOG_IMPORT, formatter_class=argparse.RawDescriptionHelpFormatter)
    im.add_argument("checkpoint", metavar="CKPT", help="CompressAI .pth.tar (read with torch.load(weights_only=True): no code runs)")
    im.add_argument("-o", "--output", metavar="OUT.safetensors", help="model file to write (default: CKPT's name with .safetensors, beside it)")
    im.add_argument("--arch", choices=["bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean", "mbt2018"],
                    help="the architecture (default: found from the weights)")
    im.add_argument("--quality", type=int, choices=range(1, 9), metavar="Q", help="CompressAI's quality 1..8 the model was trained at (sets λ)")
    im.add_argument("--metric", choices=["mse", "ms-ssim"], help="the distortion it was trained for (default: from the file name, else mse)")
    im.add_argument("--lmbda", type=float, metavar="λ", help="the λ it was trained at (for --effort), instead of --quality")
    im.add_argument("-f", "--force", action="store_true", help="overwrite an existing output")
    im.set_defaults(func=cmd_import)

    # Subcommands with their own parsers: the rest of the arguments goes to them.
    for name, helptext in (("train", "train a model (see licodec train --help)"), ("eval", "rate-distortion evaluation of a model on a dataset"),
                           ("bench-classical", "rate-distortion sweep of classical codecs"), ("plot", "R-D plots and BD-rate tables")):
        p = sub.add_parser(name, help=helptext, add_help=False)
        p.set_defaults(delegate=name)
    return ap


def _delegate(name: str, argv: list[str]) -> int:
    if name == "train":
        from .train.__main__ import main as train_main

        return train_main(argv, prog="licodec train")
    try:
        from .eval import cli as eval_cli
    except ImportError:
        raise _Fail(f"'{name}' is not available in this build") from None
    fn = {"eval": "eval_main", "bench-classical": "bench_classical_main", "plot": "plot_main"}[name]
    return getattr(eval_cli, fn)(argv)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv and argv[0] in ("train", "eval", "bench-classical", "plot"):
        try:
            return _delegate(argv[0], argv[1:])
        except _Fail as exc:
            print(f"licodec: error: {exc}", file=sys.stderr)
            return 1
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    debug = bool(os.environ.get("LICODEC_DEBUG"))
    # SIGTERM stops like Ctrl-C: the atomic writer removes its temporary file, exit status 130
    previous = signal.signal(signal.SIGTERM, _interrupt) if threading.current_thread() is threading.main_thread() else None
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = lambda message, category, *a, **k: print(f"licodec: notice: {message}", file=sys.stderr)
        try:
            if hasattr(args, "threads"):
                _start_threads(args)
            from .codec.precision import use_precision

            with use_precision(getattr(args, "precision", None)):
                return args.func(args)
        except KeyboardInterrupt:
            print("licodec: interrupted", file=sys.stderr)
            return 130
        except (_Fail, LicodecError, OSError) as exc:  # the input's problem, in one line; anything else is a bug and shows as one
            if debug:
                raise
            print(f"licodec: error: {exc}", file=sys.stderr)
            return 1
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
