"""benchmarks/trajectory.py: the validation trajectories of a card and of run folders."""
import json

import pytest

from tests.scripts import load_script

@pytest.fixture(scope="module")
def traj():
    return load_script("benchmarks/trajectory.py")


BPP = [0.2, 0.4, 0.8, 1.6]


def _val(step, gain_db):
    """One validation: a curve 6 dB per doubling of the rate, shifted by gain_db."""
    return [{"step": step, "level": i, "lambda": 0.01 * 2**i, "bpp": b, "psnr": 25.0 + 6 * i + gain_db} for i, b in enumerate(BPP)]


def _card():
    return {
        "training": {"crop": 128, "batch_per_process": 8, "sessions": [{"world": 1, "start_step": 0, "end_step": 2000}]},
        "validation": _val(1000, -2.0) + _val(2000, 0.0),
    }


def test_card_validation_pixels_and_gain(traj):
    curves = traj.card_validation(_card())
    assert curves[1000][0] == 1000 * 8 * 128**2
    assert curves[2000][1] == BPP
    rows = traj.validation_gain(curves, (curves[2000][1], curves[2000][2]))
    (s1, _, rate1, dq1), (s2, _, rate2, dq2) = rows
    assert (s1, s2) == (1000, 2000)
    assert dq1 == pytest.approx(-2.0, abs=1e-6) and rate1 > 0
    assert dq2 == pytest.approx(0.0, abs=1e-9) and rate2 == pytest.approx(0.0, abs=1e-9)


def test_run_folder_interpolates_pixels(traj, tmp_path):
    (tmp_path / "train.csv").write_text("step,wall_s,pixels\n2000,1,100\n4000,2,300\n")
    rows = _val(3000, 0.5)
    (tmp_path / "val.csv").write_text("step,level,lambda,bpp,psnr\n" + "".join(
        f"{r['step']},{r['level']},{r['lambda']},{r['bpp']},{r['psnr']}\n" for r in rows))
    curves = traj.run_validation(tmp_path)
    assert curves[3000][0] == 200
    ref = traj.card_validation(_card())[2000]
    (step, px, rate, dq), = traj.validation_gain(curves, (ref[1], ref[2]))
    assert (step, px) == (3000, 200) and dq == pytest.approx(0.5, abs=1e-6) and rate < 0

    # a validation CSV of the folder instead (the moving average's), pixels from the folder's train.csv
    rows = _val(3000, 1.0)
    (tmp_path / "val-ema.csv").write_text("step,level,lambda,bpp,psnr\n" + "".join(
        f"{r['step']},{r['level']},{r['lambda']},{r['bpp']},{r['psnr']}\n" for r in rows))
    (step, px, rate, dq), = traj.validation_gain(traj.run_validation(tmp_path / "val-ema.csv"), (ref[1], ref[2]))
    assert (step, px) == (3000, 200) and dq == pytest.approx(1.0, abs=1e-6)


def test_non_overlapping_validation_is_skipped(traj):
    curves = {10: (1, [5.0, 6.0], [10.0, 11.0])}
    assert traj.validation_gain(curves, (BPP, [25.0, 31.0, 37.0, 43.0])) == []


def test_cli_prints_table_and_plot(traj, tmp_path, capsys):
    card = tmp_path / "card.json"
    c = _card()
    c["kodak_history"] = []
    c["training"].update({"pixels_seen": 1, "wall_time_s": 1.0})
    c["training"]["sessions"][0].update({"device": "cpu x2", "wall_s": 1000.0, "lr": 2e-4})
    card.write_text(json.dumps(c))
    ref = tmp_path / "ref.json"
    ref.write_text(json.dumps({k: {"bpp": BPP, "psnr": [25, 31, 37, 43]} for k in traj.ANCHORS.values()}))
    png = tmp_path / "val.png"
    assert traj.main(["--card", str(card), "--reference", str(ref), "--val-plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "| the card's runs | 1,000 |" in out and png.stat().st_size > 0
    assert "| 1 | cpu x2 | 8 x 128^2 | 0-2,000 | 0.26 | 0.28 h | 2.00 | 0.262 | 0.0002 |" in out


def test_refined_rows_are_shown_but_not_fitted(traj):
    rows = [{"pixels": p, "bd_psnr_bpg": d, "refined": False} for p, d in ((1e9, -3.0), (1e10, -2.0), (1e11, -1.0))]
    a, b, parity = traj.fit_parity(rows + [{"pixels": 1e11, "bd_psnr_bpg": 5.0, "refined": True}])
    assert b == pytest.approx(1.0) and parity == pytest.approx(1e12)


def test_pixels_at_walks_sessions_of_different_crops(traj):
    training = {"crop": 256, "batch_per_process": 16, "sessions": [
        {"start_step": 0, "end_step": 100, "crop": 128, "batch": 8, "world": 1},  # 131,072 px a step
        {"start_step": 100, "end_step": 200},  # the card's 256^2 x 16: 1,048,576 px a step
    ]}
    assert traj.pixels_at(training, 50) == 50 * 131072
    assert traj.pixels_at(training, 100) == 100 * 131072
    assert traj.pixels_at(training, 150) == 100 * 131072 + 50 * 1048576
    assert traj.pixels_at(training, 250) == 100 * 131072 + 150 * 1048576  # past the last session: its rate
    assert "| 1 | " not in traj.sessions_table({**training, "sessions": []})
