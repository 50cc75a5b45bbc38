"""Coding with a model object: the caller's model is left as it was, and coding follows its
weights as they change (the cache is keyed by the weights' hash, not hung on the object)."""
from __future__ import annotations

import numpy as np
import torch

import licodec
from licodec.codec import api
from tests.codec.helpers import make_model


def test_a_model_trained_further_gets_new_coding_and_stays_as_it_was():
    model = make_model().train()
    img = (np.random.default_rng(0).random((32, 48, 3)) * 255).astype(np.uint8)
    layout = {n: p.stride() for n, p in model.named_parameters()}

    first = licodec.compress(img, quality=2, model=model)
    assert model.training and {n: p.stride() for n, p in model.named_parameters()} == layout  # not switched to eval / NHWC
    assert api.resolve_model(model) is api.resolve_model(model)  # same weights: the cached codec
    assert licodec.info(first)["weights_id"] == api.resolve_model(model).weights_id.hex()

    with torch.no_grad():  # "trained further"
        model.g_a[0].weight.mul_(1.5)
    second = licodec.compress(img, quality=2, model=model)
    assert licodec.info(second)["weights_id"] != licodec.info(first)["weights_id"]
    # each file decodes with the weights that wrote it
    assert licodec.decompress(second, model=model, as_array=True).shape == img.shape
    try:
        licodec.decompress(first, model=model)
    except licodec.CodecError as exc:
        assert "other weights" in str(exc)
    else:
        raise AssertionError("a file of the old weights decoded with the new ones")
