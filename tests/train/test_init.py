"""--init: a new run starts from an exported model file (weights and history)."""
import csv

import pytest
import torch

from licodec.models.io import load_model
from licodec.train.export import export_run
from licodec.train.loop import Trainer
from tests.train.conftest import tiny_config


def test_warm_start_from_export(tmp_path, image_dir):
    first = Trainer(tiny_config(image_dir, tmp_path / "a", steps=6))
    first.run()
    model_file = export_run(first, tmp_path / "a" / "model.safetensors")

    second = Trainer(tiny_config(image_dir, tmp_path / "b", steps=9, init=str(model_file)))
    assert second.step == 6 and second.pixels == first.pixels and len(second.history) == len(first.history)
    exported = load_model(model_file)[0]
    for (name, a), b in zip(exported.state_dict().items(), second.model.state_dict().values()):
        assert torch.equal(a, b), name
    second.run()
    assert second.step == 9 and len(second.history) == len(first.history) + 1


def test_warm_start_warms_up_from_its_own_first_step(tmp_path, image_dir):
    """A warm start's optimizer is fresh: its warm-up counts from the step it starts at (the
    model's step count), not from step 0, and a resumed run keeps counting from there."""
    first = Trainer(tiny_config(image_dir, tmp_path / "a", steps=6, lr=1e-3, warmup=4))
    assert first.lr_at(0) == pytest.approx(2.5e-4) and first.lr_at(6) == pytest.approx(1e-3)
    first.run()
    model_file = export_run(first, tmp_path / "a" / "model.safetensors")

    second = Trainer(tiny_config(image_dir, tmp_path / "b", steps=8, lr=1e-3, warmup=4, init=str(model_file)))
    assert second.step == 6
    assert [second.lr_at(s) for s in (6, 7, 9, 10)] == pytest.approx([2.5e-4, 5e-4, 1e-3, 1e-3])
    second.run()
    resumed = Trainer(tiny_config(image_dir, tmp_path / "b", steps=10, lr=1e-3, warmup=4, init=str(model_file)), resume=True)
    assert resumed.step == 8 and resumed.lr_at(8) == pytest.approx(7.5e-4)
    resumed.run()
    with open(tmp_path / "b" / "train.csv") as f:
        assert [float(r["lr"]) for r in csv.DictReader(f)] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3])


def test_warm_start_refuses_another_architecture(tmp_path, image_dir):
    first = Trainer(tiny_config(image_dir, tmp_path / "a", steps=1))
    first.run()
    model_file = export_run(first, tmp_path / "a" / "model.safetensors")
    with pytest.raises(ValueError, match="differs"):
        Trainer(tiny_config(image_dir, tmp_path / "b", M=24, init=str(model_file)))


def test_warm_start_from_a_float16_file(tmp_path, image_dir):
    """A float16 file stores its λ grid rounded (0.18 -> 0.180054): still the same model."""
    first = Trainer(tiny_config(image_dir, tmp_path / "a", steps=2, lambdas=[0.0018, 0.18]))
    first.run()
    model_file = export_run(first, tmp_path / "a" / "half.safetensors", half=True)
    second = Trainer(tiny_config(image_dir, tmp_path / "b", steps=3, lambdas=[0.0018, 0.18], init=str(model_file)))
    assert second.step == 2
    with pytest.raises(ValueError, match="differs"):
        Trainer(tiny_config(image_dir, tmp_path / "c", lambdas=[0.0018, 0.2], init=str(model_file)))


def test_resume_a_run_started_from_a_float16_file(tmp_path, image_dir):
    """The run's model takes the file's rounded λ grid; its checkpoint still resumes under the
    flags that started it (a CUDA run died on exactly this: the exact grid was refused)."""
    first = Trainer(tiny_config(image_dir, tmp_path / "a", steps=2, lambdas=[0.0018, 0.18]))
    first.run()
    model_file = export_run(first, tmp_path / "a" / "half.safetensors", half=True)
    cfg = dict(steps=4, lambdas=[0.0018, 0.18], init=str(model_file))
    second = Trainer(tiny_config(image_dir, tmp_path / "b", **cfg))
    second.run(stop_after=1)
    second.save()
    third = Trainer(tiny_config(image_dir, tmp_path / "b", **cfg), resume=True)
    assert third.step == 3
    with pytest.raises(ValueError, match=r"\(M 16 != 24"):
        Trainer(tiny_config(image_dir, tmp_path / "b", **{**cfg, "M": 24}), resume=True)


def test_export_leaves_the_trainer_model_alone(tmp_path, image_dir):
    """Export works on a float32 CPU copy (tables come from CPU arithmetic whatever the training
    device): the run's own model keeps its weights, quantiles and mode."""
    first = Trainer(tiny_config(image_dir, tmp_path / "a", steps=2))
    first.run()
    first.model.train()
    before = {k: v.clone() for k, v in first.model.state_dict().items()}
    export_run(first, tmp_path / "a" / "half.safetensors", half=True)
    assert first.model.training
    for k, v in first.model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_same_architecture():
    from licodec.train.config import same_architecture

    a = {"name": "mbt2018", "N": 8, "M": 8, "lambdas": [0.0018, 0.18]}
    assert same_architecture(a, {**a, "lambdas": [0.00179958, 0.180054]})
    assert not same_architecture(a, {**a, "lambdas": [0.0018]})
    assert not same_architecture(a, {**a, "M": 16})
    assert not same_architecture(a, {k: v for k, v in a.items() if k != "lambdas"})
