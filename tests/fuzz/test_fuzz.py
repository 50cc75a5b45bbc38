"""A short coverage-guided fuzzing run of the decoder (tools/fuzz.py; slow, needs atheris):
every input ends in an image or a licodec error, within the time and memory limits."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_few_thousand_fuzzed_inputs(tmp_path):
    pytest.importorskip("atheris")
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "fuzz.py"), "--runs", "3000", "--corpus", str(tmp_path / "corpus")],
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Done 3000 runs" in r.stderr
