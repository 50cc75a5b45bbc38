"""Corrupt payloads under a valid checksum: the decoder either decodes (a range decoder reads
any bits as some symbols) or raises FormatError where it finds the damage; nothing else
(constriction's AssertionError, a bare ValueError, an IndexError...) escapes."""
from __future__ import annotations

import random
import struct
import zlib

import numpy as np

import licodec
from licodec.codec import api, container
from tests.conftest import smooth_image


def test_corrupt_payloads_with_a_valid_crc_decode_or_raise_format_error():
    img = (smooth_image(64, 96, seed=3)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    data = licodec.compress(img, quality=6)
    codec = api.resolve_model(None)
    streams = container.unpack(data, lambda name: codec.stream_count).streams
    start = len(data) - 4 - sum(len(s) for s in streams)  # the payload follows the header
    rng = random.Random(0)
    outcomes = {"decoded": 0, "FormatError": 0}
    for _ in range(60):
        body = bytearray(data[:-4])
        for _ in range(rng.choice([1, 2, 8])):
            body[rng.randrange(start, len(body))] = rng.randrange(256)
        corrupt = bytes(body) + struct.pack(">I", zlib.crc32(body))
        try:
            licodec.decompress(corrupt)
            outcomes["decoded"] += 1
        except licodec.FormatError as exc:
            assert "corrupt" in str(exc) or "truncated" in str(exc)
            outcomes["FormatError"] += 1
    assert outcomes["FormatError"] > 0, outcomes  # the damage is found, as a FormatError
