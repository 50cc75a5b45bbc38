"""Checkpoints: nested states round-trip exactly, writes are atomic, no pickle anywhere."""
from __future__ import annotations

import json
import os

import pytest
import torch

from licodec.files import atomic_write
from licodec.train.checkpoint import load_state, save_state


def _nested_state() -> dict:
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    return {
        "weights": {"conv.weight": torch.randn(4, 3, 5, 5), "gdn.beta": torch.rand(4, dtype=torch.float64)},
        "views": [base, base[1], base.t()],  # tensors sharing one storage
        "dtypes": (torch.tensor([1, 2], dtype=torch.int64), torch.tensor([True, False]), torch.randn(3).bfloat16(),
                   torch.tensor(7, dtype=torch.uint8), torch.zeros(0, 5)),
        "opt": {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.randn(2)}, 7: {}},
                "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999), "params": [0, 7], "amsgrad": False, "foreach": None}]},
        "scalars": [0, -1, 2**40, 1.5, float("inf"), "text ✓", None, True, []],
        "empty": {},
        "tuple_of_tuples": ((1, 2), (torch.ones(1),)),
    }


def _assert_equal(a, b, path="s"):
    assert type(a) is type(b), f"{path}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b), path
    elif isinstance(a, dict):
        assert list(a) == list(b), path
        for k in a:
            _assert_equal(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (u, v) in enumerate(zip(a, b)):
            _assert_equal(u, v, f"{path}/{i}")
    else:
        assert a == b, path


def test_nested_state_round_trips_exactly(tmp_path):
    state = _nested_state()
    save_state(tmp_path / "c.safetensors", state)
    _assert_equal(state, load_state(tmp_path / "c.safetensors"))


def test_optimizer_state_round_trips_into_a_new_optimizer(tmp_path):
    p = torch.nn.Parameter(torch.randn(5))
    opt = torch.optim.Adam([p], lr=1e-3)
    for _ in range(3):
        opt.zero_grad()
        (p**2).sum().backward()
        opt.step()
    save_state(tmp_path / "o.safetensors", {"opt": opt.state_dict()})
    q = torch.nn.Parameter(p.detach().clone())
    opt2 = torch.optim.Adam([q], lr=1e-3)
    opt2.load_state_dict(load_state(tmp_path / "o.safetensors")["opt"])
    for o, w in ((opt, p), (opt2, q)):
        o.zero_grad()
        (w**2).sum().backward()
        o.step()
    assert torch.equal(p, q)


def test_the_file_is_safetensors_with_a_json_skeleton(tmp_path):
    from safetensors import safe_open

    save_state(tmp_path / "c.safetensors", {"a": torch.ones(2), "n": 3})
    with safe_open(str(tmp_path / "c.safetensors"), framework="pt") as f:
        skeleton = json.loads(f.metadata()["licodec_state"])
        assert list(f.keys()) == ["s/a"]
    assert skeleton == {"__dict__": {"a": {"__tensor__": "s/a"}, "n": 3}}


def test_unsupported_leaf_is_refused_and_the_old_file_stays(tmp_path):
    path = tmp_path / "c.safetensors"
    save_state(path, {"step": 1})
    old = path.read_bytes()
    with pytest.raises(TypeError, match="cannot checkpoint a set at s/bad"):
        save_state(path, {"step": 2, "bad": {1, 2}})
    assert path.read_bytes() == old


@pytest.mark.parametrize("fail_in", ["fsync", "replace"])
def test_a_failing_write_leaves_the_old_checkpoint_intact(tmp_path, monkeypatch, fail_in):
    path = tmp_path / "c.safetensors"
    save_state(path, {"step": 1, "w": torch.zeros(1000)})
    old = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, fail_in, boom)
    with pytest.raises(OSError, match="No space left"):
        save_state(path, {"step": 2, "w": torch.ones(1000)})
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert load_state(path)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.safetensors"]  # no temporary file left


def test_atomic_write_replaces_whole_files(tmp_path):
    path = tmp_path / "f.bin"
    atomic_write(path, b"x" * 100)
    atomic_write(path, b"short")
    assert path.read_bytes() == b"short"


def test_loading_a_foreign_file_says_so(tmp_path):
    from safetensors.torch import save_file

    save_file({"x": torch.ones(1)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(ValueError, match="not a licodec checkpoint"):
        load_state(tmp_path / "foreign.safetensors")


def test_state_loads_from_bytes_as_from_the_file(tmp_path):
    from licodec.train.checkpoint import load_state_bytes

    state = _nested_state()
    save_state(tmp_path / "c.safetensors", state)
    _assert_equal(state, load_state_bytes((tmp_path / "c.safetensors").read_bytes()))
    with pytest.raises(ValueError, match="not a licodec checkpoint"):
        load_state_bytes(b"\x00" * 16)


def test_one_entry_reads_from_the_metadata_alone(tmp_path):
    from licodec.train.checkpoint import load_entry

    path = tmp_path / "c.safetensors"
    save_state(path, {"config": {"lr": 1e-4, "milestones": [3]}, "w": torch.zeros(4)})
    assert load_entry(path, "config") == {"lr": 1e-4, "milestones": [3]}
    with pytest.raises(ValueError, match="not a licodec checkpoint with 'steps'"):
        load_entry(path, "steps")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="not a licodec checkpoint"):
        load_entry(tmp_path / "junk.safetensors", "config")
