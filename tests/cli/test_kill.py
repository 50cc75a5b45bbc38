"""Interrupted folder runs: killing `licodec compress` / `decompress` (one process, or -j 2) at
random moments (SIGINT, SIGTERM, SIGKILL) never leaves a partial file under a final name and
never touches an input.

Slow (each kill point starts a process that imports torch): `pytest -m slow tests/cli/test_kill.py`.
"""
from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import licodec
from tests.conftest import smooth_image

KILL_POINTS = 50
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _check_outputs(out: Path) -> int:
    """Every file under a final name is whole; returns how many there are."""
    whole = 0
    for p in out.rglob("*"):
        if not p.is_file() or p.name.startswith("."):  # .NAME.tmpPID: the atomic writer's own, never a final name
            continue
        if p.suffix == ".lic":
            licodec.info(p.read_bytes())  # raises on a truncated or corrupt file
        else:
            with Image.open(p) as im:
                im.load()
        whole += 1
    return whole


def _run_and_kill(args: list[str], delay: float, sig: int) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.Popen([sys.executable, "-m", "licodec", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        p.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        p.send_signal(sig)
        p.wait(timeout=60)


@pytest.mark.slow
def test_random_kills_leave_no_partial_output(tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    for i in range(4):
        img = (smooth_image(64, 96, seed=i)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(img).save(src / ("sub" if i % 2 else "") / f"im{i}.png")
    lic = tmp_path / "lic"
    assert subprocess.run([sys.executable, "-m", "licodec", "compress", str(src), "-o", str(lic), "--quiet"], capture_output=True).returncode == 0
    inputs = {"in": _digest(src), "lic": _digest(lic)}
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "licodec", "decompress", str(lic), "-o", str(tmp_path / "full"), "--quiet"], check=True)
    full_run = time.monotonic() - t0

    rng = random.Random(0)
    whole = 0
    for k in range(KILL_POINTS):
        out = tmp_path / f"out{k}"
        if k % 2 == 0:
            args = ["compress", str(src), "-o", str(out), "--quiet"]
        else:
            args = ["decompress", str(lic), "-o", str(out), "--quiet"]
        if k % 4 >= 2:  # every other run of each command in two worker processes (-j 2)
            args += ["-j", "2"]
        _run_and_kill(args, rng.uniform(0.3, 1.2) * full_run, rng.choice(SIGNALS))
        if out.exists():
            whole += _check_outputs(out)
        assert _digest(src) == inputs["in"] and _digest(lic) == inputs["lic"], f"kill point {k} changed an input"
    assert whole > 0  # some kills came after a file was written: the check looked at real outputs
