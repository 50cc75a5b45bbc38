"""licodec.train.logs: validation logs read back from a run folder or a model card."""
import pytest

from licodec.train.logs import by_step, validation_rows


def test_run_folder_rows_grouped_by_step_in_level_order(tmp_path):
    (tmp_path / "val.csv").write_text("step,level,lambda,bpp,psnr\n"
                                      "500,1,0.02,0.8,30.0\n500,0,0.01,0.4,27.0\n1000,0,0.01,0.35,27.5\n1000,1,0.02,0.7,30.5\n")
    rows = validation_rows(tmp_path)
    assert len(rows) == 4
    assert by_step(rows) == {500: ([0.4, 0.8], [27.0, 30.0]), 1000: ([0.35, 0.7], [27.5, 30.5])}


def test_a_log_file_of_its_own(tmp_path):
    """A run's other log (the moving average's val-ema.csv) read by its path."""
    (tmp_path / "val.csv").write_text("step,level,lambda,bpp,psnr\n500,0,0.01,0.4,27.0\n")
    (tmp_path / "val-ema.csv").write_text("step,level,lambda,bpp,psnr\n500,0,0.01,0.39,27.1\n")
    assert by_step(validation_rows(tmp_path / "val-ema.csv")) == {500: ([0.39], [27.1])}
    with pytest.raises(FileNotFoundError):
        validation_rows(tmp_path / "missing.csv")


def test_fixed_lambda_rows_have_an_empty_level():
    rows = [{"step": 10, "level": "", "bpp": "0.5", "psnr": "29"}, {"step": 20, "level": None, "bpp": 0.4, "psnr": 30}]
    assert by_step(rows) == {10: ([0.5], [29.0]), 20: ([0.4], [30.0])}


def test_model_card_and_unknown_source(tmp_path):
    from licodec.codec.coding_state import build_coding_state
    from licodec.models import registry
    from licodec.models.io import save_model

    model = registry.create("mbt2018", N=16, M=16, lambdas=[0.01, 0.05]).eval()
    val = [{"step": 7, "level": 0, "lambda": 0.01, "bpp": 0.3, "psnr": 26.0}]
    path = tmp_path / "m.safetensors"
    save_model(model, path, {"validation": val}, build_coding_state(model))
    assert validation_rows(path) == val
    with pytest.raises(FileNotFoundError, match="neither a run folder"):
        validation_rows(tmp_path / "nothing-here")
