"""benchmarks/recipe.py: runs from the same start compared at the steps they all validated."""
import csv

import pytest

from tests.scripts import load_script

BPP = [0.2, 0.4, 0.8, 1.6]


@pytest.fixture(scope="module")
def recipe():
    return load_script("benchmarks/recipe.py")


def _run(folder, gains: dict[int, float], raw: bool = False):
    """A run folder whose validation at each step is a curve 6 dB per doubling, shifted by the gain."""
    folder.mkdir()
    (folder / "train.csv").write_text("step,wall_s,pixels\n" + "".join(f"{s},{s},{s * 1_000_000}\n" for s in sorted(gains)))
    for name in ("val-ema.csv",) + (("val.csv",) if raw else ()):
        with open(folder / name, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["step", "level", "lambda", "bpp", "psnr"])
            w.writeheader()
            for step, db in gains.items():
                for i, b in enumerate(BPP):
                    w.writerow({"step": step, "level": i, "lambda": 0.01 * 2**i, "bpp": b, "psnr": 25.0 + 6 * i + db})
    return folder


def test_runs_compare_at_common_steps_against_the_first_and_the_start(recipe, tmp_path, capsys):
    a = _run(tmp_path / "a", {500: 0.0, 1000: 0.1}, raw=True)
    b = _run(tmp_path / "b", {500: 0.05, 1000: 0.3, 1500: 0.4})
    start = _run(tmp_path / "start", {1: -0.2})
    rows = recipe.compare([("a", a), ("b", b)], "val-ema.csv", recipe.start_curve(str(start / "val-ema.csv")))
    assert len(rows) == 4  # steps 500 and 1000 (b's 1500 has no partner), two runs each
    cells = [r.split(" | ") for r in rows]
    assert cells[3][:3] == ["| 1,000", "b", "1.000"]
    assert cells[3][3].endswith("+0.200 dB") and cells[3][4].endswith("+0.500 dB")
    assert cells[0][3] == "+0.00% / +0.000 dB"
    # the raw weights' table needs every run's val.csv: b has none
    assert recipe.compare([("a", a), ("b", b)], "val.csv", None) == []
    assert recipe.main([f"a={a}", f"b={b}", "--start", str(start / "val-ema.csv")]) == 0
    out = capsys.readouterr().out
    assert "moving average" in out and "raw weights" not in out and "| 500 | b | 0.500 |" in out


def test_a_folder_without_its_training_log_is_refused(recipe, tmp_path):
    with pytest.raises(SystemExit, match="LABEL=DIR"):
        recipe.main([f"a={tmp_path}"])


def test_successive_validations_of_one_run(recipe, tmp_path, capsys):
    a = _run(tmp_path / "a", {500: 0.0, 1000: 0.1, 1500: 0.05})
    rows = recipe.successive("a", a, "val-ema.csv")
    cells = [r.split(" | ") for r in rows]
    assert [c[0] for c in cells] == ["| 500 → 1,000", "| 1,000 → 1,500", "| 500 → 1,500"]
    assert cells[0][3].endswith("+0.1000 dB") and cells[0][3].startswith("-")  # better: fewer bits
    assert cells[1][3].endswith("-0.0500 dB") and cells[1][3].startswith("+")
    assert cells[2][2] == "1.500" and cells[2][3].endswith("+0.0500 dB")
    assert recipe.successive("a", a, "val.csv") == []
    assert recipe.main([f"a={a}", "--successive"]) == 0
    out = capsys.readouterr().out
    assert "each validation against the one before" in out and "raw weights" not in out
