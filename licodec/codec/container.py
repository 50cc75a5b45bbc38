"""The ``.lic`` container: header, latent streams, CRC32. Byte layout in docs/format.md.

::

    offset  size  field
    0       4     magic 0x89 'L' 'I' 'C'
    4       1     format version (2)
    5       1     flags: bits 0-1 colour (0 RGB, 1 greyscale), bit 2 quality present,
                  bit 3 metadata present
    6       1     n: length of the model name (1..64)
    7       n     model name (ASCII)
    7+n     8     weights id: first 8 bytes of SHA-256 of the model's weights
    15+n    2     quality x 1000 (i16, big-endian), only if flag bit 2
    ...     2     width  (u16, big-endian, 1..65535)
    ...     2     height (u16, big-endian, 1..65535)
    ...     var   metadata, only if flag bit 3: a count (1 byte, 1..3), then per block its
                  kind (1 byte: 1 ICC profile, 2 EXIF, 3 XMP), length (LEB128) and bytes
    ...     var   byte length of every stream but the last (LEB128)
    ...     var   the streams (z then y), zero bytes ending the last word removed
    end-4   4     CRC-32 (zlib) of all preceding bytes, big-endian
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from ..errors import FormatError

__all__ = ["MAGIC", "VERSION", "Header", "pack", "unpack", "FormatError", "MAX_PIXELS"]

MAGIC = b"\x89LIC"
VERSION = 2  # 2: entropy parameters from int8 weights (coding tables version 2); 1 is refused
MAX_NAME = 64
MAX_PIXELS = 1 << 26  # 67 Mpixel: decoding needs about 200 bytes of memory per pixel
COLOURS = {0: "RGB", 1: "L"}
METADATA_KINDS = {1: "icc", 2: "exif", 3: "xmp"}  # what a photo needs to display right, carried as it came
MAX_METADATA = 1 << 24  # bytes per block


@dataclass
class Header:
    model: str
    weights_id: bytes
    width: int
    height: int
    colour: str = "RGB"
    quality: float | None = None
    streams: list[bytes] = field(default_factory=list)
    metadata: dict[str, bytes] = field(default_factory=dict)  # "icc", "exif", "xmp" -> the block's bytes

    @property
    def pixels(self) -> int:
        return self.width * self.height


def _leb128(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_leb128(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        if pos >= end:
            raise FormatError("truncated file (stream lengths)")
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, pos
        shift += 7
        if shift > 35:
            raise FormatError("corrupt file: bad stream length")


def pack(h: Header) -> bytes:
    name = h.model.encode("ascii")
    if not 1 <= len(name) <= MAX_NAME:
        raise ValueError("model name must be 1..64 ASCII characters")
    if len(h.weights_id) != 8:
        raise ValueError("weights id must be 8 bytes")
    if not (1 <= h.width <= 65535 and 1 <= h.height <= 65535):
        raise ValueError(f"image size {h.width}x{h.height} outside 1..65535")
    colour = {v: k for k, v in COLOURS.items()}[h.colour]
    flags = colour | (4 if h.quality is not None else 0) | (8 if h.metadata else 0)
    out = bytearray(MAGIC + bytes([VERSION, flags, len(name)]) + name + h.weights_id)
    if h.quality is not None:
        if not -32.768 <= h.quality <= 32.767:
            raise ValueError(f"quality {h.quality:g} outside -32.768..32.767")
        out += struct.pack(">h", int(round(h.quality * 1000)))
    out += struct.pack(">HH", h.width, h.height)
    if h.metadata:
        kinds = {v: k for k, v in METADATA_KINDS.items()}
        unknown = set(h.metadata) - set(kinds)
        if unknown:
            raise ValueError(f"unknown metadata {', '.join(sorted(unknown))}; known: {', '.join(kinds)}")
        out.append(len(h.metadata))
        for name in sorted(h.metadata, key=kinds.get):
            block = bytes(h.metadata[name])
            if len(block) > MAX_METADATA:
                raise ValueError(f"{name} metadata of {len(block)} bytes exceeds {MAX_METADATA}")
            out += bytes([kinds[name]]) + _leb128(len(block)) + block
    streams = [_strip(s) for s in h.streams]
    for s in streams[:-1]:
        out += _leb128(len(s))
    for s in streams:
        out += s
    out += struct.pack(">I", zlib.crc32(out))
    return bytes(out)


def unpack(data: bytes, stream_count=None, max_pixels: int = MAX_PIXELS) -> Header:
    """Parse and check a .lic file. ``stream_count(model_name) -> int`` says how many streams to
    expect; an image of more than ``max_pixels`` pixels is refused from the header, before any
    allocation (like Pillow's MAX_IMAGE_PIXELS)."""
    if len(data) < 4 or data[:4] != MAGIC:
        if len(data) == 0:
            raise FormatError("empty file")
        raise FormatError("not a .lic file (wrong magic bytes)")
    if len(data) < 7:
        raise FormatError("truncated file (header)")
    if data[4] != VERSION:
        raise FormatError(f"unsupported .lic format version {data[4]} (this licodec reads version {VERSION})")
    if len(data) < 7 + 8 + 4 + 4:
        raise FormatError("truncated file (header)")
    body, crc = data[:-4], struct.unpack(">I", data[-4:])[0]
    if zlib.crc32(body) != crc:
        raise FormatError("corrupt or truncated file (checksum mismatch)")
    flags, n = body[5], body[6]
    if flags & ~0b1111 or (flags & 3) not in COLOURS:
        raise FormatError("corrupt file: unknown flags")
    if not 1 <= n <= MAX_NAME:
        raise FormatError("corrupt file: bad model-name length")
    pos = 7
    try:
        name = body[pos : pos + n].decode("ascii")
    except UnicodeDecodeError:
        raise FormatError("corrupt file: model name is not ASCII") from None
    pos += n
    wid = body[pos : pos + 8]
    pos += 8
    quality = None
    if flags & 4:
        if pos + 2 > len(body):
            raise FormatError("truncated file (header)")
        quality = struct.unpack(">h", body[pos : pos + 2])[0] / 1000
        pos += 2
    if pos + 4 > len(body):
        raise FormatError("truncated file (header)")
    width, height = struct.unpack(">HH", body[pos : pos + 4])
    pos += 4
    if width == 0 or height == 0:
        raise FormatError("corrupt file: zero image size")
    if width * height > max_pixels:
        raise FormatError(f"image of {width}x{height} pixels exceeds the limit of {max_pixels} pixels (decoding needs about 200 bytes a pixel; "
                          "raise it with max_pixels= or --max-pixels)")
    header = Header(name, wid, width, height, COLOURS[flags & 3], quality)
    if flags & 8:
        if pos >= len(body):
            raise FormatError("truncated file (metadata)")
        count, pos = body[pos], pos + 1
        if not 1 <= count <= len(METADATA_KINDS):
            raise FormatError("corrupt file: bad metadata count")
        for _ in range(count):
            if pos >= len(body):
                raise FormatError("truncated file (metadata)")
            kind, pos = body[pos], pos + 1
            if kind not in METADATA_KINDS or METADATA_KINDS[kind] in header.metadata:
                raise FormatError("corrupt file: bad metadata kind")
            ln, pos = _read_leb128(body, pos, len(body))
            if ln > MAX_METADATA or pos + ln > len(body):
                raise FormatError("truncated file (metadata)")
            header.metadata[METADATA_KINDS[kind]] = bytes(body[pos : pos + ln])
            pos += ln
    count = stream_count(name) if stream_count is not None else 1
    lengths = []
    for _ in range(count - 1):
        ln, pos = _read_leb128(body, pos, len(body))
        lengths.append(ln)
    for ln in lengths:
        if pos + ln > len(body):
            raise FormatError("truncated file (stream)")
        header.streams.append(_pad4(body[pos : pos + ln]))
        pos += ln
    header.streams.append(_pad4(body[pos:]))
    return header


def _strip(b: bytes) -> bytes:
    """Drop the zero bytes at the end of the last 32-bit word (at most 3); _pad4 restores them."""
    if len(b) % 4:
        raise ValueError("streams are made of 32-bit words")
    k = 0
    while k < 3 and k < len(b) and b[len(b) - 1 - k] == 0:
        k += 1
    return b[: len(b) - k]


def _pad4(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def header_bytes(data: bytes, h: Header) -> int:
    """Bytes of ``data`` that are not stream payload (header, lengths, CRC)."""
    return len(data) - sum(len(_strip(s)) for s in h.streams)


def info(data: bytes) -> dict:
    """Header facts of .lic bytes without decoding (the checksum is verified); needs no model
    and no torch, so ``licodec info`` is fast."""
    h = unpack(bytes(data), None)
    return {"model": h.model, "weights_id": h.weights_id.hex(), "width": h.width, "height": h.height, "colour": h.colour,
            "quality": h.quality, "bytes": len(data), "bpp": 8 * len(data) / h.pixels}
