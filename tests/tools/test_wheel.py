"""The package as a user installs it (tools/wheel_check.sh): slow, and needs the package registry."""
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_installs_in_a_fresh_venv_and_passes_the_smoke_test(tmp_path):
    r = subprocess.run(["bash", str(ROOT / "tools" / "wheel_check.sh"), str(tmp_path)], capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "smoke test passed" in r.stdout
