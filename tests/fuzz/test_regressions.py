"""Inputs the fuzzer (tools/fuzz.py) found crashing the decoder, kept: each must now end in an
image or a licodec error through the same target the fuzzer runs."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REGRESSIONS = sorted((Path(__file__).parent / "regressions").glob("*"))


def _target():
    spec = importlib.util.spec_from_file_location("licodec_fuzz_tool", ROOT / "tools" / "fuzz.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.make_target()


@pytest.mark.parametrize("path", REGRESSIONS, ids=[p.name for p in REGRESSIONS])
def test_fuzzer_finding_is_fixed(path):
    _target()(path.read_bytes())


def test_the_stream_error_found_by_the_fuzzer_is_a_format_error():
    """The first finding: a y stream decoding to a latent beyond the fixed-point range, caught
    by the compiled kernels as ValueError instead of FormatError."""
    import licodec
    from licodec.codec import api
    from licodec.codec.container import unpack
    from licodec.errors import FormatError

    data = (Path(__file__).parent / "regressions" / "latent-out-of-range-in-c-kernel.lic").read_bytes()
    name = unpack(data, None, 1 << 16).model
    codec = api.resolve_model(ROOT / "tests" / "codec" / "fixtures" / "7a752fd" / f"{name}.safetensors")
    with pytest.raises(FormatError):
        licodec.decompress(data, model=codec, max_pixels=1 << 16)
