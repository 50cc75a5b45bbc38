"""The range coder's escapes: every integer codes and decodes exactly, however far outside
its table's range; the ideal code length counts the escape payloads."""
from __future__ import annotations

import numpy as np

from licodec.codec.rangecoder import Decoder, Encoder, TableCoder, join_escapes, split_escapes
from licodec.entropy.tables import CodingTables


def _tables() -> CodingTables:
    pmfs = [np.array([0.1, 0.2, 0.4, 0.2, 0.1]), np.array([0.5, 0.5]), np.array([1.0])]
    return CodingTables.from_pmfs([-2, 0, 7], pmfs, [1e-3, 1e-2, 1e-4])


def test_split_and_join_escapes_are_inverse():
    rng = np.random.default_rng(0)
    lo = rng.integers(-50, 50, 1000)
    length = rng.integers(1, 20, 1000)
    values = lo + rng.integers(-40, 60, 1000)
    sym, amount = split_escapes(values, lo, length)
    esc = sym == length
    assert esc.any() and (~esc).any() and amount.size == esc.sum() and (amount != 0).all()
    np.testing.assert_array_equal(join_escapes(sym, lo, length, amount), values)


def test_values_far_outside_their_tables_round_trip():
    t = _tables()
    coder = TableCoder(t)
    rng = np.random.default_rng(1)
    index = rng.integers(0, len(t), 400)
    values = t.offsets[index] + rng.integers(-3, 6, 400)  # mostly in range, some escapes
    values[::37] = rng.integers(-(2**31) + 1, 2**31 - 1, len(values[::37]))  # the largest distances
    values[5] = t.offsets[index[5]] + t.lengths[index[5]]  # one past the top edge
    values[6] = t.offsets[index[6]] - 1  # one below the bottom edge
    enc = Encoder()
    coder.encode(enc, index, values)
    data = enc.bytes()
    np.testing.assert_array_equal(coder.decode(Decoder(data), index), values)
    # the payload is within a few words of the ideal code length, escapes included
    assert abs(8 * len(data) - t.cost_bits(index, values)) < 96
