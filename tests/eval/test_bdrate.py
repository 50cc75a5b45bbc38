import math

import numpy as np
import pytest

from licodec.eval.bdrate import (NoOverlap, bd_quality, bd_rate, bd_table, bd_versus, format_bd_table,
                                 format_bd_versus, monotone, pchip_integral)

# Kodak points copied from ../shared/reference/kodak_rd.json (see that file's 'source' fields):
# paper_mbt2018: Minnen et al. 2018's published MSE-optimized joint model, from
#   InterDigitalInc/CompressAI@869a9f5d:results/image/kodak/paper-mbt2018.json
PAPER_MBT2018 = {
    "bpp": [0.071997, 0.153354, 0.264381, 0.428511, 0.635404, 0.904279, 1.258828, 1.98205, 2.992778],
    "psnr": [26.804116, 28.880747, 30.927089, 33.028649, 34.998064, 37.053312, 39.120817, 42.16522, 45.074915],
}
# measured_bpg444: BPG 0.9.8 (x265, -m 9), 4:4:4, QP 47..19 step 2, measured on the 24 Kodak PNGs
BPG444 = {
    "bpp": [0.06766933865017362, 0.09673478868272571, 0.1359100341796875, 0.1895133124457465, 0.2615297105577257, 0.3513327704535591, 0.4647471110026042, 0.6070666842990451, 0.7723609076605902, 0.967008802625868, 1.2000011867947047, 1.454678005642361, 1.7522667778862846, 2.1177139282226562, 2.5454669528537326],
    "psnr": [26.186709337366523, 27.140417373467468, 28.147017408257312, 29.218144732053048, 30.38937318919936, 31.596715884203974, 32.87399464056637, 34.20717942565611, 35.55295124946252, 36.89933400667068, 38.270733510943245, 39.57687832528537, 40.844633121186426, 42.13364298485963, 43.405909032977604],
}


def test_paper_claim_against_bpg444():
    """The paper's own points give its claim against BPG 4:4:4 (about -8..-10% in PSNR)."""
    r = bd_rate(BPG444["bpp"], BPG444["psnr"], PAPER_MBT2018["bpp"], PAPER_MBT2018["psnr"])
    assert -11.0 < r < -7.0, r


def test_reference_numbers_match_shared_file():
    import json
    from pathlib import Path

    p = Path(__file__).resolve().parents[3] / "shared/reference/kodak_rd.json"
    if not p.is_file():
        pytest.skip("shared/reference/kodak_rd.json not beside the checkout")
    d = json.loads(p.read_text())
    for ours, key in ((PAPER_MBT2018, "paper_mbt2018"), (BPG444, "measured_bpg444")):
        np.testing.assert_allclose(ours["bpp"], d[key]["bpp"], rtol=1e-5)
        np.testing.assert_allclose(ours["psnr"], d[key]["psnr"], rtol=1e-5)


def test_identical_curves_give_zero():
    assert bd_rate(BPG444["bpp"], BPG444["psnr"], BPG444["bpp"], BPG444["psnr"]) == pytest.approx(0, abs=1e-9)
    assert bd_quality(BPG444["bpp"], BPG444["psnr"], BPG444["bpp"], BPG444["psnr"]) == pytest.approx(0, abs=1e-9)


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_constant_rate_ratio_and_quality_shift(method):
    b = np.array(BPG444["bpp"])
    q = np.array(BPG444["psnr"])
    # 10% fewer bits at every quality -> exactly -10%
    assert bd_rate(b, q, 0.9 * b, q, method) == pytest.approx(-10.0, abs=1e-9)
    assert bd_rate(b, q, 1.25 * b, q, method) == pytest.approx(25.0, abs=1e-9)
    # +0.5 dB at every rate -> BD-PSNR +0.5
    assert bd_quality(b, q, b, q + 0.5, method) == pytest.approx(0.5, abs=1e-9)


def test_only_overlap_counts():
    b = np.array(BPG444["bpp"])
    q = np.array(BPG444["psnr"])
    # the test curve covers only the upper half; still -20% (up to the interpolant's end slopes)
    assert bd_rate(b, q, 0.8 * b[7:], q[7:]) == pytest.approx(-20.0, abs=0.05)
    with pytest.raises(NoOverlap):
        bd_rate(b[:5], q[:5], b[8:], q[8:])


def test_pchip_integral_matches_scipy():
    scipy_interp = pytest.importorskip("scipy.interpolate")
    rng = np.random.default_rng(1)
    for _ in range(20):
        n = rng.integers(2, 9)
        x = np.sort(rng.random(n) * 10) + np.arange(n) * 1e-3
        y = rng.standard_normal(n).cumsum()
        lo, hi = np.sort(rng.uniform(x[0], x[-1], 2))
        ref = scipy_interp.PchipInterpolator(x, y).integrate(lo, hi)
        assert pchip_integral(x, y, lo, hi) == pytest.approx(ref, rel=1e-9, abs=1e-9)


def test_pchip_integral_exact_on_lines_and_monotone():
    x = [0.0, 1.0, 2.5, 4.0]
    assert pchip_integral(x, [2 * v + 1 for v in x], 0.5, 3.0) == pytest.approx((3.0**2 + 3.0) - (0.25 + 0.5))
    r, q = monotone([0.3, 0.1, 0.2, 0.4, 0.4], [30, 25, 24, 31, 32])
    assert list(r) == [0.1, 0.3, 0.4] and list(q) == [25, 30, 32]


def test_tables():
    curves = {
        "anchor": {"bpp": BPG444["bpp"], "psnr": BPG444["psnr"], "ms_ssim_db": []},
        "better": {"bpp": [0.9 * v for v in BPG444["bpp"]], "psnr": BPG444["psnr"], "ms_ssim_db": []},
        "apart": {"bpp": [10, 20], "psnr": [60, 70], "ms_ssim_db": []},
    }
    rows = {r["name"]: r for r in bd_table(curves, "anchor")}
    assert rows["better"]["psnr"] == pytest.approx(-10.0)
    assert rows["apart"]["psnr"] is None and rows["better"]["ms_ssim_db"] is None
    md = format_bd_table(bd_table(curves, "anchor"), "anchor")
    assert "-10.0%" in md and "| apart | n/a" in md and "| anchor |" not in md
    v = bd_versus(curves["better"], {"a": curves["anchor"]})
    assert v[0]["psnr"] == pytest.approx(-10.0)
    assert "-10.0%" in format_bd_versus(v, "better")
    with pytest.raises(KeyError):
        bd_table(curves, "nope")
    assert math.isfinite(bd_rate([0.1, 0.2], [30, 32], [0.1, 0.2], [31, 33]))
