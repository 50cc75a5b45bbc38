"""Coverage-guided fuzzing of the decoder (``licodec.info`` and ``licodec.decompress``) with atheris.

    pip install atheris
    python tools/fuzz.py --seconds 600            # or --runs N; corpus and crashes under tests/fuzz/
    python tools/fuzz.py --leak-check 7 --plain   # memory over repeated passes of the corpus

Every input must end in an image or a ``LicodecError`` within the per-input time limit
(``-timeout``) and memory limit (``-rss_limit_mb``): anything else is a crash, which
libFuzzer writes to tests/fuzz/crashes/ (keep it as a regression input in
tests/fuzz/regressions/). Seeds: the fixture files of every architecture
(tests/codec/fixtures/7a752fd/: mbt2018, mbt2018-gmm, bmshj2018-hyperprior at three
qualities), each also with ICC, EXIF and XMP blocks. Structure-aware mutations: libFuzzer
mutates the bytes before the CRC and the CRC is recomputed (most inputs reach the
parser's later fields and the range decoder, not the checksum), and header fields (size,
quality, flags, metadata blocks, stream lengths) are mutated through the container itself.
Decoding uses a small pixel limit (16,384: latents of at most 64 positions; larger headers
exercise the refusal) and one thread, so that each input stays fast.
"""
from __future__ import annotations

import argparse
import os
import struct
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FIXTURES = ROOT / "tests" / "codec" / "fixtures" / "7a752fd"
FUZZ = ROOT / "tests" / "fuzz"
MAX_PIXELS = 1 << 14


def seeds() -> list[bytes]:
    """The fixture files, each also with metadata blocks."""
    from licodec.codec import container

    out = []
    for f in sorted(FIXTURES.glob("*.lic")):
        data = f.read_bytes()
        out.append(data)
        h = container.unpack(data, lambda name: 2)
        h.metadata = {"icc": b"\0" * 40 + b"acsp" + b"\1" * 20, "exif": b"Exif\0\0MM\0*\0\0\0\x08\0\0", "xmp": b"<x:xmpmeta/>"}
        out.append(container.pack(h))
    return out


def with_crc(body: bytes) -> bytes:
    return body + struct.pack(">I", zlib.crc32(body))


def make_target():
    """The function every input goes through: an image or a LicodecError, nothing else."""
    import torch

    import licodec
    from licodec.codec import api, container
    from licodec.errors import LicodecError

    torch.set_num_threads(1)

    models = {}
    for f in FIXTURES.glob("*-tiny.safetensors"):
        codec = api.resolve_model(f)
        models[codec.name] = codec

    def target(data: bytes) -> None:
        try:
            licodec.info(data)
        except LicodecError:
            pass
        try:
            name = container.unpack(data, None, MAX_PIXELS).model
        except LicodecError:
            return
        try:
            licodec.decompress(data, model=models.get(name, next(iter(models.values()))), as_array=True, max_pixels=MAX_PIXELS)
        except LicodecError:
            pass

    return target


def mutate(data: bytes, max_size: int, seed: int) -> bytes:
    import random

    import atheris

    rng = random.Random(seed)
    r = rng.random()
    if r < 0.15:  # raw bytes, CRC as it falls
        return atheris.Mutate(data, max_size)
    if r < 0.35 and len(data) > 8:  # a header field through the container
        from licodec.codec import container
        from licodec.errors import LicodecError

        try:
            h = container.unpack(data, lambda name: 2, 1 << 40)
        except LicodecError:
            return with_crc(atheris.Mutate(data[:-4], max(max_size - 4, 1)))
        field = rng.choice(["width", "height", "quality", "colour", "metadata", "streams"])
        try:
            if field in ("width", "height"):
                setattr(h, field, rng.choice([1, 2, 15, 16, 17, 255, 4096, 65535, rng.randrange(1, 65536)]))
            elif field == "quality":
                h.quality = rng.choice([None, -32.768, -2.0, 0.0, 1.0, 8.0, 8.001, 32.767, rng.uniform(-5, 12)])
            elif field == "colour":
                h.colour = rng.choice(["RGB", "L"])
            elif field == "metadata":
                h.metadata = {k: os.urandom(rng.randrange(0, 64)) for k in rng.sample(["icc", "exif", "xmp"], rng.randrange(0, 4))}
            else:
                i = rng.randrange(len(h.streams))
                s = bytearray(h.streams[i])
                op = rng.random()
                if op < 0.3 and s:
                    del s[rng.randrange(len(s)):]
                elif op < 0.6:
                    s += os.urandom(rng.randrange(1, 9))
                elif s:
                    s[rng.randrange(len(s))] ^= 1 << rng.randrange(8)
                h.streams = [bytes(s) if j == i else x for j, x in enumerate(h.streams)]
            return container.pack(h)[:max_size]
        except (LicodecError, ValueError, struct.error):
            return data
    if len(data) <= 4:
        return atheris.Mutate(data, max_size)
    return with_crc(atheris.Mutate(data[:-4], max(max_size - 4, 1)))


def leak_check(target, files: list[Path], passes: int) -> int:
    """Resident memory after each pass over the corpus: flat if decoding leaks nothing."""
    import time

    inputs = [f.read_bytes() for f in files]
    t0, n = time.monotonic(), 0
    for p in range(passes):
        for data in inputs:
            target(data)
            n += 1
        with open("/proc/self/statm") as fh:
            rss = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        print(f"pass {p + 1}: {n} inputs, resident {rss:.0f} MiB, {n / (time.monotonic() - t0):.0f} inputs/s", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, help="fuzz this long")
    ap.add_argument("--runs", type=int, help="fuzz this many inputs")
    ap.add_argument("--corpus", default=str(FUZZ / "corpus"), help="working corpus (default tests/fuzz/corpus)")
    ap.add_argument("--timeout", type=int, default=10, help="seconds per input before it counts as a hang")
    ap.add_argument("--rss-mb", type=int, default=3072, help="memory limit")
    ap.add_argument("--replay", nargs="*", help="run these files through the target once (regression inputs) and exit")
    ap.add_argument("--leak-check", type=int, metavar="PASSES",
                    help="run the corpus through the target PASSES times, printing the resident memory after each pass, and exit")
    ap.add_argument("--plain", action="store_true", help="with --leak-check: licodec not instrumented for coverage")
    args, rest = ap.parse_known_args(argv)

    import atheris

    if not (args.leak_check and args.plain):
        with atheris.instrument_imports(include=["licodec"]):
            import licodec  # noqa: F401
            from licodec.codec import api, container, engine, fixed, latent_codecs, mixture, rangecoder  # noqa: F401
    target = make_target()
    if args.leak_check:
        return leak_check(target, sorted(Path(args.corpus).glob("*")), args.leak_check)
    if args.replay is not None:
        for f in args.replay:
            target(Path(f).read_bytes())
        print(f"replayed {len(args.replay)} inputs: no crash")
        return 0
    corpus = Path(args.corpus)
    corpus.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(seeds()):
        p = corpus / f"seed-{i:02d}.lic"
        if not p.exists():
            p.write_bytes(s)
    crashes = FUZZ / "crashes"
    crashes.mkdir(parents=True, exist_ok=True)
    flags = [sys.argv[0], str(corpus), f"-timeout={args.timeout}", f"-rss_limit_mb={args.rss_mb}", f"-artifact_prefix={crashes}/", "-print_final_stats=1"]
    if args.seconds:
        flags.append(f"-max_total_time={args.seconds}")
    if args.runs:
        flags.append(f"-runs={args.runs}")
    atheris.Setup(flags + rest, target, custom_mutator=mutate)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())
