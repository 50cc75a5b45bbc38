"""Range coding of integer values with :class:`~licodec.entropy.CodingTables` (constriction).

Values are coded in the order given, grouped by distribution: for each distinct table
index d (ascending), the values that use d, in their original order, in one vectorised
call. Values outside their table's range are coded as the escape symbol, and after all
table symbols of the call, each escaped value's payload follows, in the original order:
its sign (1 bit), the bit length n of its distance beyond the table edge (6 bits), then
the n-1 bits below the leading one. The decoder, which knows the same indices, reads
in the same order. Nothing is clipped; distances up to 2**31 are representable.
"""
from __future__ import annotations

import numpy as np

from ..entropy.tables import PRECISION, CodingTables, escape_amount
from ..errors import FormatError

__all__ = ["TableCoder", "Encoder", "Decoder"]


def _constriction():
    import constriction

    return constriction


class Encoder:
    """A constriction range encoder."""

    def __init__(self) -> None:
        self._enc = _constriction().stream.queue.RangeEncoder()

    def encode(self, symbols: np.ndarray, model, *params: np.ndarray) -> None:
        """Append int32 ``symbols`` under a constriction ``model`` (a family with ``params`` per symbol)."""
        self._enc.encode(symbols, model, *params)

    def bytes(self) -> bytes:
        words = self._enc.get_compressed()
        return np.asarray(words, dtype="<u4").tobytes()


class Decoder:
    """A constriction range decoder over ``data`` (a multiple of 4 bytes)."""

    def __init__(self, data: bytes) -> None:
        if len(data) % 4:
            raise FormatError("corrupt stream: length is not a multiple of 4 bytes")
        words = np.frombuffer(data, dtype="<u4").astype(np.uint32)
        self._dec = _constriction().stream.queue.RangeDecoder(words)

    def decode(self, model, *args) -> np.ndarray:
        """The next symbols under ``model``: a count for a fixed model, or one row of
        parameters per symbol for a family. Data no encoder could have written (constriction
        reports it as an AssertionError) is a FormatError."""
        try:
            return self._dec.decode(model, *args)
        except AssertionError as exc:
            raise FormatError(f"corrupt stream ({exc})") from None

    def decode_runs(self, models: list, counts: list[int]) -> list[np.ndarray]:
        """``decode(models[k], counts[k])`` for each k in turn (one call per run of a fixed model)."""
        dec = self._dec.decode
        try:
            return [dec(m, c) for m, c in zip(models, counts)]
        except AssertionError as exc:
            raise FormatError(f"corrupt stream ({exc})") from None


def split_escapes(values: np.ndarray, lo: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values coded with ranges ``lo .. lo + length - 1`` -> (int32 symbols, with the escape
    symbol ``length`` for a value outside its range; the escaped values' signed distances)."""
    sym = values - lo
    esc = (sym < 0) | (sym >= length)
    return np.where(esc, length, sym).astype(np.int32), escape_amount(values[esc], lo[esc], length[esc])


def join_escapes(sym: np.ndarray, lo: np.ndarray, length: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """Inverse of :func:`split_escapes`: decoded symbols and the escaped values' distances -> values."""
    sym = np.asarray(sym, dtype=np.int64)
    values = sym + lo
    esc = sym == length
    if esc.any():
        values[esc] = np.where(amount < 0, lo[esc] + amount, lo[esc] + length[esc] - 1 + amount)
    return values


class EscapeCoder:
    """Payloads of values beyond a distribution's range (format in the module docstring)."""

    MAX_ESCAPE_BITS = 32

    def __init__(self) -> None:
        c = _constriction()
        self._bit = c.stream.model.Uniform(2)
        self._len = c.stream.model.Uniform(64)
        self._uniform = {n: c.stream.model.Uniform(1 << n) for n in range(1, 17)}  # constriction: size <= 2**24

    def encode_escapes(self, enc: Encoder, amount: np.ndarray) -> None:
        """Payloads of escaped values: signed nonzero distances beyond their table's range."""
        mag = np.abs(amount)
        if mag.max() >= 2**self.MAX_ESCAPE_BITS:
            raise ValueError("latent value too large to code")
        nbits = np.floor(np.log2(mag)).astype(np.int64) + 1
        enc.encode((amount < 0).astype(np.int32), self._bit)
        enc.encode(nbits.astype(np.int32), self._len)
        rest = mag - (1 << (nbits - 1))
        for n in np.unique(nbits[nbits >= 2]).tolist():  # ascending bit lengths present
            self._encode_bits(enc, rest[nbits == n], n - 1)

    def decode_escapes(self, dec: Decoder, k: int) -> np.ndarray:
        """Inverse of :meth:`encode_escapes`: k signed distances."""
        if k == 0:
            return np.zeros(0, dtype=np.int64)
        neg = np.asarray(dec.decode(self._bit, k), dtype=np.int64).astype(bool)
        nbits = np.asarray(dec.decode(self._len, k), dtype=np.int64)
        if (nbits < 1).any() or (nbits > self.MAX_ESCAPE_BITS).any():
            raise FormatError("corrupt stream: bad escape length")
        mag = np.left_shift(np.ones(k, dtype=np.int64), nbits - 1)
        for n in np.unique(nbits[nbits >= 2]).tolist():  # ascending bit lengths present
            sel = nbits == n
            mag[sel] += self._decode_bits(dec, int(sel.sum()), n - 1)
        return np.where(neg, -mag, mag)

    def _encode_bits(self, enc: Encoder, v: np.ndarray, n: int) -> None:
        if n <= 16:
            enc.encode(v.astype(np.int32), self._uniform[n])
        else:  # split into a high and a low part
            enc.encode((v >> 16).astype(np.int32), self._uniform[n - 16])
            enc.encode((v & 0xFFFF).astype(np.int32), self._uniform[16])

    def _decode_bits(self, dec: Decoder, count: int, n: int) -> np.ndarray:
        if n <= 16:
            return np.asarray(dec.decode(self._uniform[n], count), dtype=np.int64)
        hi = np.asarray(dec.decode(self._uniform[n - 16], count), dtype=np.int64)
        lo = np.asarray(dec.decode(self._uniform[16], count), dtype=np.int64)
        return (hi << 16) | lo


class TableCoder(EscapeCoder):
    """Codes integers with one of the D distributions of a :class:`CodingTables` each."""

    def __init__(self, tables: CodingTables) -> None:
        super().__init__()
        c = _constriction()
        self.tables = tables
        if tables.precision != PRECISION:
            raise ValueError(f"constriction's categorical models have {PRECISION}-bit precision; tables must too")
        # Exactly the tables' integer frequencies (see CodingTables.free_weights).
        self._models = [c.stream.model.Categorical(tables.free_weights(d), perfect=False) for d in range(len(tables))]

    def _groups(self, index: np.ndarray) -> tuple[np.ndarray, list[int], list[int]]:
        """The positions grouped by distribution: (order, the distinct d ascending, the size of
        each group); order lists the positions of the first d in their original order, then the
        second's, and so on."""
        key = index.astype(np.uint16) if len(self._models) <= 1 << 16 else index  # 16-bit keys: radix sort
        order = np.argsort(key, kind="stable")
        sorted_idx = index[order]
        starts = np.flatnonzero(np.r_[True, sorted_idx[1:] != sorted_idx[:-1]])
        sizes = np.diff(np.r_[starts, len(order)])
        return order, sorted_idx[starts].tolist(), sizes.tolist()

    def encode(self, enc: Encoder, index: np.ndarray, values: np.ndarray) -> None:
        index = np.asarray(index, dtype=np.int64).ravel()
        values = np.asarray(values, dtype=np.int64).ravel()
        if index.size == 0:
            return
        t = self.tables
        sym, amount = split_escapes(values, t.offsets[index].astype(np.int64), t.lengths[index].astype(np.int64))
        order, ds, sizes = self._groups(index)
        grouped = sym[order]
        start = 0
        for d, size in zip(ds, sizes):
            enc.encode(grouped[start : start + size], self._models[d])
            start += size
        if amount.size:
            self.encode_escapes(enc, amount)

    def decode(self, dec: Decoder, index: np.ndarray) -> np.ndarray:
        index = np.asarray(index, dtype=np.int64).ravel()
        sym = np.empty(index.size, dtype=np.int64)
        if index.size == 0:
            return sym
        t = self.tables
        order, ds, sizes = self._groups(index)  # table symbols, one call per distribution
        sym[order] = np.concatenate(dec.decode_runs([self._models[d] for d in ds], sizes))
        length = t.lengths[index].astype(np.int64)
        return join_escapes(sym, t.offsets[index].astype(np.int64), length, self.decode_escapes(dec, int((sym == length).sum())))
